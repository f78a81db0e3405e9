# The state file refuses writes and driftd keeps going, reports it, and loses no trigger.
#  1. SQLite busy: another process holds an exclusive lock while drift fires a trigger. The
#     trigger is held in memory (log, /healthz not ready with why, driftd_triggers_held), then
#     written and delivered once the lock goes; checkpoints resume.
#  2. Busy again, and driftd is killed -9 while it holds a trigger: the restart replays from the
#     last checkpoint (taken before the trigger), fires it again, and it is written and
#     delivered exactly once.
#  3. Disk full (a 2 MiB tmpfs, filled up; needs root to mount): the same, with "database or
#     disk is full".
. "$ROOT/tests/integration/lib.sh"

start_kafka --topic feats:1
start_receiver 0
HPORT=$($PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
export DRIFTD_TEST_API_TOKEN=t0ken
DB="$TESTDIR/driftd.db"

conf() { # DB_PATH
    cat >"$TESTDIR/driftd.yaml" <<YAML
kafka:
  brokers: $BOOTSTRAP
  group: it-store-faults
  # a restart after kill -9 takes the partition back at once (static membership)
  properties: {group.instance.id: it-store-faults-1, session.timeout.ms: "6000", heartbeat.interval.ms: "500"}
store: {path: $1, checkpoint_s: 1}
http: {port: $HPORT, token_env: DRIFTD_TEST_API_TOKEN}
streams:
  - name: feats
    topic: feats
    features: {f0: numeric, f1: numeric, f2: numeric, f3: numeric}
    window: {type: tumbling, size: 500}
    reference: {size: 2000}
    drift: {share: 0.25}
    trigger: {consecutive: 2, cooldown_windows: 3}
    webhook: {url: "$RECEIVER_URL", backoff_base_ms: 50, backoff_max_ms: 200}
YAML
}
"$DRIFTD" gen --dims 4 --events 14000 --drift-at 3000 --seed 5 --key >"$TESTDIR/events.tsv"
produce() { # FROM TO (line numbers, 1-based, inclusive)
    sed -n "$1,$2p" "$TESTDIR/events.tsv" | kcat -P -b "$BOOTSTRAP" -t feats -K "$(printf '\t')"
}
start() {
    DRIFTD_STATS_INTERVAL_MS=200 "$DRIFTD" run "$TESTDIR/driftd.yaml" 2>>"$TESTDIR/driftd.log" &
    D=$!
    PIDS="$PIDS $D"
}
# events counted by the stream (restored across restarts from the checkpoint)
consumed() { grep 'msg="stream stats"' "$TESTDIR/driftd.log" | tail -n 1 | grep -q " events=$1 "; }
count() { grep -c "$1" "$TESTDIR/driftd.log" || true; }
more() { [ "$(count "$1")" -gt "$2" ]; }
health() { curl -s -m 20 "http://127.0.0.1:$HPORT/healthz"; }
metric() { curl -s -m 20 "http://127.0.0.1:$HPORT/metrics" | awk -v m="$1" '$1 == m {print $2}'; }
triggers() { sqlite3 "$1" "select count(*) from triggers"; }

conf "$DB"
start
produce 1 3000
wait_for 60 "3000 consumed" consumed 3000

log "1. busy: a trigger fires while another process holds the lock"
lock_db "$DB"
produce 3001 5000
wait_for 60 "a held trigger" grep -q 'msg="cannot record trigger now; held' "$TESTDIR/driftd.log"
grep 'msg="cannot record trigger now' "$TESTDIR/driftd.log" | head -n 1 | cut -c1-300
h=$(health)
echo "healthz: $h"
echo "$h" | grep -q 'held' || fail "/healthz does not say a trigger is held: $h"
[ "$(metric driftd_triggers_held)" = 1 ] || fail "driftd_triggers_held is $(metric driftd_triggers_held)"
c0=$(metric driftd_checkpoints_total)
unlock_db
wait_for 30 "the held trigger written" grep -q 'msg="held trigger written"' "$TESTDIR/driftd.log"
wait_for 30 "the trigger delivered" grep -q 'msg="webhook delivered"' "$TESTDIR/driftd.log"
wait_for 30 "healthz ready again" sh -c "curl -sf -m 20 http://127.0.0.1:$HPORT/healthz"
wait_for 30 "checkpoints again" sh -c "[ \"\$(curl -s -m 20 http://127.0.0.1:$HPORT/metrics | awk '\$1 == \"driftd_checkpoints_total\" {print \$2}')\" -gt $c0 ]"
[ "$(metric driftd_triggers_held)" = 0 ] || fail "still held: $(metric driftd_triggers_held)"
wait_for 30 "5000 consumed" consumed 5000
[ "$(triggers "$DB")" = 1 ] || fail "expected 1 trigger, got $(triggers "$DB")"

log "2. busy again, and kill -9 while a trigger is held"
held=$(count 'msg="cannot record trigger now; held')
lock_db "$DB"
produce 5001 8000
wait_for 60 "another held trigger" more 'msg="cannot record trigger now; held' "$held"
key=$(grep 'msg="cannot record trigger now; held' "$TESTDIR/driftd.log" | tail -n 1 | sed 's/.* key=\([^ ]*\) .*/\1/')
kill -KILL $D
wait $D 2>/dev/null || true
unlock_db
[ "$(triggers "$DB")" = 1 ] || fail "the held trigger reached the store before the kill?"
restores=$(count 'msg="state restored from checkpoint"')
start
wait_for 30 "the restart restored its checkpoint" more 'msg="state restored from checkpoint"' "$restores"
in_store() { [ "$(sqlite3 "$DB" "select count(*) from triggers where idem_key = '$1'")" = 1 ]; }
wait_for 60 "the trigger held at the kill ($key) replayed into the store" in_store "$key"
wait_for 60 "8000 consumed after the restart" consumed 8000
n2=$(triggers "$DB")
wait_for 30 "all delivered" sh -c "[ \"\$(sqlite3 '$DB' \"select count(*) from outbox where status = 'done'\")\" = $n2 ]"
log "$key replayed and written once; $n2 triggers"
kill -TERM $D
wait $D || fail "driftd exited non-zero"

log "3. disk full"
mkdir "$TESTDIR/small"
if mount -t tmpfs -o size=2m tmpfs "$TESTDIR/small" 2>/dev/null; then
    trap 'umount "$TESTDIR/small" 2>/dev/null || true; cleanup' EXIT
    SMALL="$TESTDIR/small/driftd.db"
    sqlite3 "$DB" ".backup '$SMALL'"
    conf "$SMALL"
    starts=$(count 'msg="driftd started"')
    start
    wait_for 30 "a new life" more 'msg="driftd started"' "$starts"
    wait_for 60 "ready on the small disk" sh -c "curl -sf -m 20 http://127.0.0.1:$HPORT/healthz"
    dd if=/dev/zero of="$TESTDIR/small/filler" bs=4k 2>/dev/null || true # until it is full
    full=$(count 'msg="cannot record trigger now; held')
    produce 8001 11000
    wait_for 60 "a trigger held on a full disk" more 'msg="cannot record trigger now; held' "$full"
    grep 'msg="cannot record trigger now' "$TESTDIR/driftd.log" | tail -n 1 | grep -q 'full' \
        || fail "the error does not say the disk is full"
    health | grep -q held || fail "/healthz does not report the held trigger"
    rm "$TESTDIR/small/filler"
    wait_for 30 "written once there is room" more 'msg="held trigger written"' 1
    wait_for 60 "11000 consumed" consumed 11000
    kill -TERM $D
    wait $D || fail "driftd exited non-zero"
    n=$(triggers "$SMALL")
    [ "$n" -gt "$n2" ] || fail "expected more than $n2 triggers, got $n"
    DB="$SMALL"
else
    log "SKIPPED disk full: cannot mount a tmpfs here (needs root)"
fi

log "receiver: every trigger key accepted"
$PY - "$TESTDIR/received.jsonl" "$DB" <<'PY' || fail "receiver check failed"
import json, sqlite3, sys
keys = [k for (k,) in sqlite3.connect(sys.argv[2]).execute("select idem_key from triggers")]
got = {}
for line in open(sys.argv[1]):
    r = json.loads(line)
    if 200 <= r.get("status", 200) < 300:
        got[r["idempotency_key"]] = got.get(r["idempotency_key"], 0) + 1
missing = [k for k in keys if k not in got]
assert not missing and set(got) == set(keys), (missing, got, keys)
print(f"receiver: {len(keys)} triggers, each accepted", file=sys.stderr)
PY
log "ok"
