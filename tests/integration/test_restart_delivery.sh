# A trigger recorded while the webhook receiver is down survives a restart of driftd and is
# delivered exactly once after it: the outbox lives in SQLite, not in memory. The restarted
# daemon resumes from the committed offsets and does not record the trigger again.
. "$ROOT/tests/integration/lib.sh"

start_kafka --topic feats:2
# Reserve a free port for the receiver, then leave it closed: the receiver is "down".
PORT=$($PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$TESTDIR/driftd.yaml" <<YAML
kafka:
  brokers: $BOOTSTRAP
  group: it-restart
store:
  path: $TESTDIR/driftd.db
streams:
  - name: feats
    topic: feats
    features: {f0: numeric, f1: numeric, f2: numeric, f3: numeric}
    window: {size: 500}
    reference: {size: 2000}
    drift: {share: 0.25}
    trigger: {consecutive: 2, cooldown_windows: 1000}
    webhook: {url: "http://127.0.0.1:$PORT/retrain", backoff_base_ms: 50, backoff_max_ms: 200}
YAML
"$DRIFTD" gen --dims 4 --events 6000 --drift-at 4000 --seed 5 --key \
    | kcat -P -b "$BOOTSTRAP" -t feats -K "$(printf '\t')"

log "first life: receiver down"
DRIFTD_STATS_INTERVAL_MS=200 "$DRIFTD" run "$TESTDIR/driftd.yaml" 2>"$TESTDIR/run1.log" &
D1=$!
PIDS="$PIDS $D1"
wait_for 60 "all consumed" grep -q 'msg="stream stats".* consumed=6000 ' "$TESTDIR/run1.log"
wait_for 20 "a failed delivery attempt" grep -q 'msg="webhook delivery failed; will retry"' \
    "$TESTDIR/run1.log"
kill -TERM $D1
wait $D1 || fail "first driftd exited non-zero"
[ "$(sqlite3 "$TESTDIR/driftd.db" 'select count(*) from triggers')" = 1 ] || fail "no trigger row"
[ "$(sqlite3 "$TESTDIR/driftd.db" "select status from outbox")" = pending ] || fail "not pending"
grep 'final stream stats' "$TESTDIR/run1.log"

log "second life: receiver up on the same port"
$PY "$ROOT/tests/integration/receiver.py" --out "$TESTDIR/received.jsonl" \
    --port-file "$TESTDIR/receiver.port" --port "$PORT" 2>"$TESTDIR/receiver.err" &
PIDS="$PIDS $!"
wait_for 10 "receiver" test -s "$TESTDIR/receiver.port"
DRIFTD_STATS_INTERVAL_MS=200 "$DRIFTD" run "$TESTDIR/driftd.yaml" 2>"$TESTDIR/run2.log" &
D2=$!
PIDS="$PIDS $D2"
wait_for 30 "delivery after restart" grep -q 'msg="webhook delivered"' "$TESTDIR/run2.log"
wait_for 10 "a stats line" grep -q 'msg="stream stats"' "$TESTDIR/run2.log"
kill -TERM $D2
wait $D2 || fail "second driftd exited non-zero"
[ "$(count_lines "$TESTDIR/received.jsonl")" = 1 ] || fail "expected exactly one request"
grep -q '"status": 200' "$TESTDIR/received.jsonl" || fail "request not accepted"
[ "$(sqlite3 "$TESTDIR/driftd.db" 'select count(*) from triggers')" = 1 ] || fail "trigger doubled"
[ "$(sqlite3 "$TESTDIR/driftd.db" "select status from outbox")" = done ] || fail "not done"
grep 'final stream stats' "$TESTDIR/run2.log" | grep -q ' consumed=0 ' \
    || fail "the restarted daemon re-read committed messages: $(grep 'final stream' "$TESTDIR/run2.log")"
echo PASS
