# A stationary stream must not trigger: all events consumed, windows closed, no trigger row, no
# webhook request.
. "$ROOT/tests/integration/lib.sh"

start_kafka --topic calm:3
start_receiver 0
cat >"$TESTDIR/driftd.yaml" <<YAML
kafka:
  brokers: $BOOTSTRAP
  group: it-calm
store:
  path: $TESTDIR/driftd.db
streams:
  - name: calm
    topic: calm
    features: {f0: numeric, f1: numeric, f2: numeric, f3: numeric,
               f4: numeric, f5: numeric, f6: numeric, f7: numeric}
    window: {type: sliding, size: 1000, slide: 250}
    reference: {from: warmup, size: 3000}
    drift: {psi: 0.2, ks_alpha: 0.001, share: 0.2}
    trigger: {consecutive: 2}
    webhook: {url: "$RECEIVER_URL"}
YAML
"$DRIFTD" gen --dims 8 --events 20000 --seed 11 --key \
    | kcat -P -b "$BOOTSTRAP" -t calm -K "$(printf '\t')"
DRIFTD_STATS_INTERVAL_MS=200 "$DRIFTD" run "$TESTDIR/driftd.yaml" 2>"$TESTDIR/driftd.log" &
DPID=$!
PIDS="$PIDS $DPID"
wait_for 60 "all 20000 consumed" grep -q 'msg="stream stats".* events=20000 ' "$TESTDIR/driftd.log"
kill -TERM $DPID
wait $DPID || fail "driftd exited non-zero"
stats=$(grep 'msg="final stream stats"' "$TESTDIR/driftd.log")
echo "$stats"
# (20000 - 3000 - 1000) / 250 + 1 = 65 sliding windows.
echo "$stats" | grep -q ' windows=65 ' || fail "expected 65 windows: $stats"
echo "$stats" | grep -q ' triggers=0 ' || fail "stationary stream triggered: $stats"
[ "$(sqlite3 "$TESTDIR/driftd.db" 'select count(*) from triggers')" = 0 ] || fail "trigger rows"
[ "$(count_lines "$TESTDIR/received.jsonl")" = 0 ] || fail "webhook called"
echo PASS
