# Every trigger reaches every action across a kill -9 of driftd in the middle of a delivery
# backlog: many triggers pile up while the webhook receiver refuses them and the exec program
# answers 75 (its system is down); driftd is killed (no clean shutdown); the next life delivers
# them slowly and is killed again with requests in flight; the third life finishes. Each trigger
# is recorded once, every outbox row ends done, and the receiver, the Kafka topic and the exec
# program, deduplicating by idempotency key, see each trigger exactly once (a delivery whose
# outcome was lost with the process may come again: same key, same body).
. "$ROOT/tests/integration/lib.sh"

start_kafka --topic feats:1 --topic retrain:1
mkdir -p "$TESTDIR/bin"
cat >"$TESTDIR/bin/retrain" <<'SH'
#!/bin/sh
d=$(dirname "$0")
[ -e "$d/down" ] && exit 75
sleep 0.1
{ echo "$DRIFTD_IDEMPOTENCY_KEY $(cat | cksum | cut -d' ' -f1)"; } >>"$d/runs.log"
SH
chmod +x "$TESTDIR/bin/retrain"
touch "$TESTDIR/bin/down"
PORT=$($PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
receiver() { # FAIL_FIRST DELAY_MS
    $PY "$ROOT/tests/integration/receiver.py" --fail-first "$1" --delay-ms "$2" \
        --out "$TESTDIR/received.jsonl" --port-file "$TESTDIR/receiver.port" --port "$PORT" \
        2>>"$TESTDIR/receiver.err" &
    RPID=$!
    PIDS="$PIDS $RPID"
    wait_for 10 "receiver" test -s "$TESTDIR/receiver.port"
}
cat >"$TESTDIR/driftd.yaml" <<YAML
kafka: {brokers: $BOOTSTRAP, group: it-kill9}
store: {path: $TESTDIR/driftd.db}
streams:
  - name: feats
    topic: feats
    features: {f0: numeric, f1: numeric, f2: numeric, f3: numeric}
    window: {size: 250}
    reference: {size: 1000}
    drift: {share: 0.25}
    trigger: {consecutive: 1, cooldown_windows: 0}
    webhook: {url: "http://127.0.0.1:$PORT/retrain", backoff_base_ms: 20, backoff_max_ms: 100}
    kafka_action: {topic: retrain}
    exec: {command: ["$TESTDIR/bin/retrain"]}
YAML
"$DRIFTD" gen --dims 4 --events 6000 --drift-at 2500 --seed 5 --key \
    | kcat -P -b "$BOOTSTRAP" -t feats -K "$(printf '\t')"

log "first life: every delivery refused; a backlog builds; kill -9"
receiver 100000 0
DRIFTD_STATS_INTERVAL_MS=200 "$DRIFTD" run "$TESTDIR/driftd.yaml" 2>"$TESTDIR/run1.log" &
D1=$!
wait_for 60 "all consumed" grep -q 'msg="stream stats".* consumed=6000 ' "$TESTDIR/run1.log"
sleep 6 # past librdkafka's auto-commit interval, so the next life does not re-read
kill -KILL $D1
wait $D1 2>/dev/null || true
kill $RPID
N=$(sqlite3 "$TESTDIR/driftd.db" 'select count(*) from triggers')
[ "$N" -ge 8 ] || fail "expected a backlog of triggers, got $N"
[ "$(sqlite3 "$TESTDIR/driftd.db" "select count(*) from outbox where status = 'pending'")" = $((2 * N)) ] \
    || fail "backlog not pending: $(sqlite3 "$TESTDIR/driftd.db" 'select status, count(*) from outbox group by status')"
log "backlog of $N triggers"

log "second life: slow receiver; kill -9 with deliveries in flight"
rm -f "$TESTDIR/receiver.port" "$TESTDIR/bin/down"
receiver 0 700
"$DRIFTD" run "$TESTDIR/driftd.yaml" 2>"$TESTDIR/run2.log" &
D2=$!
wait_for 30 "a delivery" grep -q 'msg="webhook delivered"' "$TESTDIR/run2.log"
sleep 0.3 # the next requests are in flight now
kill -KILL $D2
wait $D2 2>/dev/null || true
left=$(sqlite3 "$TESTDIR/driftd.db" "select count(*) from outbox where status = 'pending'")
log "$left still pending after the second kill"
[ "$left" -gt 0 ] || fail "nothing left in flight to test"

log "third life: finishes the backlog"
"$DRIFTD" run "$TESTDIR/driftd.yaml" 2>"$TESTDIR/run3.log" &
D3=$!
wait_for 60 "backlog delivered" sh -c \
    "[ \"\$(sqlite3 '$TESTDIR/driftd.db' \"select count(*) from outbox where status != 'done'\")\" = 0 ]"
kill -TERM $D3
wait $D3 || fail "third driftd exited non-zero"
[ "$(sqlite3 "$TESTDIR/driftd.db" 'select count(*) from triggers')" = "$N" ] || fail "triggers doubled"
grep 'final stream stats' "$TESTDIR/run3.log" | grep -q ' consumed=0 ' || fail "re-read messages"
sqlite3 "$TESTDIR/driftd.db" 'select idem_key from triggers order by idem_key' >"$TESTDIR/keys"
kcat -C -b "$BOOTSTRAP" -t retrain -o beginning -e -q -f '%s\n' >"$TESTDIR/topic.jsonl"
$PY - "$TESTDIR/received.jsonl" "$TESTDIR/keys" "$TESTDIR/topic.jsonl" "$TESTDIR/bin/runs.log" <<'PY'
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
keys = [l.strip() for l in open(sys.argv[2]) if l.strip()]
events = {}
for l in open(sys.argv[3]):
    if l.strip():
        ev = json.loads(l)
        events.setdefault(ev["id"], []).append(l)
assert sorted(events) == sorted(keys), ("kafka", sorted(events), keys)
assert all(len(set(v)) == 1 for v in events.values()), "a repeated event id with another body"
runs = {}
for l in open(sys.argv[4]):
    k, ck = l.split()
    runs.setdefault(k, []).append(ck)
assert sorted(runs) == sorted(keys), ("exec", sorted(runs), keys)
assert all(len(set(v)) == 1 for v in runs.values()), "a repeated run with other input"
print(f"ok: kafka {len(events)} ids ({sum(len(v) - 1 for v in events.values())} repeats), "
      f"exec {len(runs)} keys ({sum(len(v) - 1 for v in runs.values())} repeats)")
ok = [r for r in recs if r["status"] == 200]
got = {}
for r in ok:
    assert r["idempotency_key"] == r["body"]["idempotency_key"], r
    got.setdefault(r["idempotency_key"], []).append(r["raw"])
assert sorted(got) == sorted(keys), (sorted(got), keys)
# A repeat is the same request again (same key, same bytes), so deduplicating by key is exact.
assert all(len(set(v)) == 1 for v in got.values()), "a repeated key with another body"
repeats = sum(len(v) - 1 for v in got.values())
print(f"ok: {len(keys)} triggers, each accepted (by key) exactly once; {repeats} repeated "
      "request(s) whose answer died with a killed process")
PY
echo PASS
