# `driftd demo` (what `make demo` runs) shows a drift detected and a webhook delivered, and
# exits 0 by itself within a minute.
. "$ROOT/tests/integration/lib.sh"
cd "$TESTDIR"   # the demo must not depend on the working directory
start=$(date +%s)
timeout $((90 * TMUL)) "$DRIFTD" demo >"$TESTDIR/demo.out" 2>"$TESTDIR/demo.err" \
    || { cat "$TESTDIR/demo.out" "$TESTDIR/demo.err"; fail "demo failed"; }
elapsed=$(( $(date +%s) - start ))
cat "$TESTDIR/demo.out"
grep -q "<< drift" demo.out || fail "no drifted window shown"
grep -q "webhook delivered: HTTP 200" demo.out || fail "no delivered webhook"
grep -q '"idempotency_key"' demo.out || fail "payload not shown"
grep -q "drift noticed .* after the change" demo.out || fail "no detection latency"
grep -q "amount" demo.out || fail "the moved feature is not named"
[ "$elapsed" -lt $((60 * TMUL)) ] || fail "demo took ${elapsed}s"
echo PASS
