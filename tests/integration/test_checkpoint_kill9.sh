# Exactly-once state across kill -9: one stream (one partition, every operator on: categories,
# sliding windows, multivariate tests, a learner with a shadow, the concept-drift detector,
# dedup) is consumed once without interruption, and once by a driftd killed -9 at random
# moments many times over, restarting each time from its last checkpoint. At the end both have
# checkpointed the same offset; their stored state must be the same bytes (same windows, same
# detector, same learner, same counters), they must have recorded the same triggers, and the
# webhook receiver must have seen every one of those keys.
. "$ROOT/tests/integration/lib.sh"

N=24000
KILLS=${KILLS:-12}
start_kafka --topic feats:1
PORT=$($PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
$PY "$ROOT/tests/integration/receiver.py" --out "$TESTDIR/received.jsonl" \
    --port-file "$TESTDIR/receiver.port" --port "$PORT" 2>"$TESTDIR/receiver.err" &
PIDS="$PIDS $!"
wait_for 10 "receiver" test -s "$TESTDIR/receiver.port"

# The events: four numeric features and a category; from event 11000 f0 and f1 move and the
# category mix changes, from 15000 the served model is wrong half of the time. Every 101st
# event repeats an id (a duplicate), every 37th is not JSON.
$PY - "$N" >"$TESTDIR/events.tsv" <<'PY'
import json, math, random, sys
n = int(sys.argv[1]); r = random.Random(11)
for i in range(n):
    if i % 37 == 36:
        print(f"{i}\tnot json {i}")
        continue
    f = [r.gauss(0, 1) for _ in range(4)]
    if i >= 11000:
        f[0] += 1.0; f[1] = 0.8 * f[0] + 0.6 * f[1]
    c = r.choice("ab" if i < 11000 else "abcc")
    z = 1.5 * f[0] - f[2]
    y = 1 if r.random() < 1 / (1 + math.exp(-z)) else 0
    p = 1 / (1 + math.exp(-z if i < 15000 or i % 2 else z))
    rid = i - 5 if i % 101 == 100 else i
    print(f"{i}\t" + json.dumps({"id": f"r{rid}", "ts": 1700000000 + i, "f0": round(f[0], 6),
          "f1": round(f[1], 6), "f2": round(f[2], 6), "f3": round(f[3], 6), "c": c,
          "label": y, "p": round(p, 6)}))
PY

conf() { # NAME GROUP
    cat >"$TESTDIR/$1.yaml" <<YAML
kafka:
  brokers: $BOOTSTRAP
  group: $2
  batch_max: 64
  properties: {max.partition.fetch.bytes: "3000", group.instance.id: "$1-1", session.timeout.ms: "4000", heartbeat.interval.ms: "500"}
store: {path: $TESTDIR/$1.db, checkpoint_s: 1}
streams:
  - name: feats
    topic: feats
    features: {f0: numeric, f1: numeric, f2: numeric, f3: numeric, c: categorical}
    label: label
    prediction: p
    id_field: id
    time_field: ts
    dedup: 1000
    window: {type: sliding, size: 500, slide: 250}
    reference: {size: 2000}
    drift: {share: 0.25}
    trigger: {consecutive: 2, cooldown_windows: 6}
    multivariate: {tests: [hotelling, correlation, pca], correlation_threshold: 0.5}
    learner: {categorical: onehot, on_drift: shadow, publish_every: 700}
    performance: {detector: adwin, cooldown_pairs: 2000}
    webhook: {url: "http://127.0.0.1:$PORT/$1", backoff_base_ms: 20, backoff_max_ms: 100}
YAML
}
next_offset() { # DB
    sqlite3 "$1" "select coalesce(max(next_offset), 0) from offsets" 2>/dev/null || echo 0
}

# The interrupted run goes first, while the topic fills: each life sees its share of the events
# produced at a steady pace and is killed at a random moment of it (before, during or after a
# checkpoint; mid-batch or idle). The last life is left to finish and stopped with SIGTERM.
log "interrupted run: kill -9 at random moments while the topic fills"
conf b it-ckpt-b
CHUNK=$(( (N + KILLS) / (KILLS + 1) ))
produce_chunk() { # K: the K-th chunk of events.tsv, over about a second
    $PY - "$TESTDIR/events.tsv" "$1" "$CHUNK" <<'PY' | kcat -P -b "$BOOTSTRAP" -t feats -K "$(printf '\t')"
import sys, time
path, k, chunk = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
lines = open(path).read().splitlines()[k * chunk:(k + 1) * chunk]
for i in range(0, len(lines), 50):
    sys.stdout.write("\n".join(lines[i:i + 50]) + "\n")
    sys.stdout.flush()
    time.sleep(50 / chunk)
PY
}
lives=0
kills=0
assigns() { cat "$TESTDIR/b.log" 2>/dev/null | grep -c 'msg="kafka rebalance" step=assign' || true; }
more_assigns() { [ "$(assigns)" -gt "$1" ]; }
while [ $kills -lt "$KILLS" ]; do
    lives=$((lives + 1))
    seen=$(assigns)
    "$DRIFTD" run "$TESTDIR/b.yaml" 2>>"$TESTDIR/b.log" &
    DB=$!; PIDS="$PIDS $DB"
    wait_for 60 "life $lives consuming" more_assigns "$seen"
    produce_chunk $kills &
    PR=$!
    sleep "$($PY -c 'import random; print(round(random.uniform(0.05, 1.4), 3))')"
    kill -KILL $DB
    wait $DB 2>/dev/null || true
    wait $PR || fail "producing chunk $kills failed"
    kills=$((kills + 1))
    log "life $lives killed at checkpointed offset $(next_offset "$TESTDIR/b.db")"
done
produce_chunk $kills
lives=$((lives + 1))
"$DRIFTD" run "$TESTDIR/b.yaml" 2>>"$TESTDIR/b.log" &
DB=$!; PIDS="$PIDS $DB"
wait_for 120 "life $lives consumed the rest" sh -c \
    "[ \"\$(sqlite3 '$TESTDIR/b.db' 'select max(next_offset) from offsets')\" = $N ]"
kill -TERM $DB
wait $DB || fail "the last life did not exit 0"
[ "$(next_offset "$TESTDIR/b.db")" = "$N" ] || fail "run b checkpointed offset $(next_offset "$TESTDIR/b.db")"
grep -q 'msg="state restored from checkpoint"' "$TESTDIR/b.log" || fail "no restore logged"

log "uninterrupted run over the whole topic"
conf a it-ckpt-a
DRIFTD_STATS_INTERVAL_MS=200 "$DRIFTD" run "$TESTDIR/a.yaml" 2>"$TESTDIR/a.log" &
DA=$!
PIDS="$PIDS $DA"
wait_for 120 "run a consumed everything" grep -q "msg=\"stream stats\".* consumed=$N " \
    "$TESTDIR/a.log"
kill -TERM $DA
wait $DA || fail "run a did not exit 0"
[ "$(next_offset "$TESTDIR/a.db")" = "$N" ] || fail "run a checkpointed offset $(next_offset "$TESTDIR/a.db")"

log "compare"
state() { sqlite3 "$1" "select part, hex(state) from checkpoints order by part" | sha256sum; }
[ "$(state "$TESTDIR/a.db")" = "$(state "$TESTDIR/b.db")" ] || {
    sqlite3 "$TESTDIR/a.db" "select part, length(state) from checkpoints" >&2
    sqlite3 "$TESTDIR/b.db" "select part, length(state) from checkpoints" >&2
    fail "the state after $kills kills differs from the uninterrupted run's"
}
keys() { sqlite3 "$1" "select idem_key from triggers where kind != 'schedule' order by idem_key"; }
keys "$TESTDIR/a.db" >"$TESTDIR/keys.a"
keys "$TESTDIR/b.db" >"$TESTDIR/keys.b"
cmp -s "$TESTDIR/keys.a" "$TESTDIR/keys.b" || {
    diff "$TESTDIR/keys.a" "$TESTDIR/keys.b" >&2
    fail "the interrupted run recorded other triggers"
}
T=$(wc -l <"$TESTDIR/keys.a")
[ "$T" -ge 3 ] || fail "expected several triggers, got $T"
wait_for 30 "deliveries" sh -c "[ \"\$(sqlite3 '$TESTDIR/b.db' \"select count(*) from outbox where status != 'done'\")\" = 0 ]"
$PY - "$TESTDIR/received.jsonl" "$TESTDIR/keys.b" <<'PY' || fail "receiver check failed"
import json, sys
got = {}
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r.get("path") == "/b" and 200 <= r.get("status", 200) < 300:
        k = r["idempotency_key"]
        got[k] = got.get(k, 0) + 1
want = [k.strip() for k in open(sys.argv[2]) if k.strip()]
missing = [k for k in want if k not in got]
extra = [k for k in got if k not in want]
assert not missing and not extra, (missing, extra)
print(f"receiver: {len(want)} keys, each accepted; {sum(got.values()) - len(got)} repeats (same key)",
      file=sys.stderr)
PY
log "ok: $kills kills over $lives lives; state equal ($(sqlite3 "$TESTDIR/b.db" 'select sum(length(state)) from checkpoints') bytes); $T triggers equal"
