# kafka-local serves real Kafka clients: 1000 lines produced with kcat come back with kcat, in
# full and unchanged. It exits 0 when its stdin closes (the way a parent ends it) and on SIGTERM.
. "$ROOT/tests/integration/lib.sh"

start_kafka --topic t1:3
log "bootstrap $BOOTSTRAP"
grep -q "topic t1 (3 partitions)" "$TESTDIR/kafka.err" || fail "no topic line on stderr"

seq 1 1000 >"$TESTDIR/sent"
timeout $((30 * TMUL)) kcat -P -b "$BOOTSTRAP" -t t1 <"$TESTDIR/sent" || fail "kcat -P failed"
timeout $((30 * TMUL)) kcat -C -b "$BOOTSTRAP" -t t1 -o beginning -e -q >"$TESTDIR/got" ||
    fail "kcat -C failed"
n=$(count_lines "$TESTDIR/got")
log "consumed $n"
[ "$n" -eq 1000 ] || fail "expected 1000 messages back, got $n"
sort -n "$TESTDIR/got" | cmp -s - "$TESTDIR/sent" || fail "messages came back changed"

# wait_exit PID SECONDS WHAT: waits for PID to exit and fails unless its status is 0.
wait_exit() {
    pid=$1
    wait_for "$2" "$3" sh -c "! kill -0 $pid"
    rc=0
    wait "$pid" || rc=$?
    [ "$rc" -eq 0 ] || fail "$3: exit status $rc"
}

# A second cluster whose stdin is a pipe we hold, then close.
mkfifo "$TESTDIR/second.stdin"
"$KAFKA_LOCAL" --brokers 2 --topic x <"$TESTDIR/second.stdin" >"$TESTDIR/second.out" \
    2>"$TESTDIR/second.err" &
second=$!
PIDS="$PIDS $second"
exec 8>"$TESTDIR/second.stdin"
wait_for 20 "second bootstrap list" test -s "$TESTDIR/second.out"
[ "$(head -n 1 "$TESTDIR/second.out" | tr ',' '\n' | wc -l)" -eq 2 ] ||
    fail "second cluster does not list 2 brokers: $(cat "$TESTDIR/second.out")"
exec 8>&-
wait_exit "$second" 20 "kafka-local after stdin closed"
grep -q "stopping (stdin closed)" "$TESTDIR/second.err" || fail "no stop line after stdin closed"

# A third, which ignores stdin, stops on SIGTERM.
"$KAFKA_LOCAL" --no-stdin </dev/null >"$TESTDIR/third.out" 2>"$TESTDIR/third.err" &
third=$!
PIDS="$PIDS $third"
wait_for 20 "third bootstrap list" test -s "$TESTDIR/third.out"
kill -0 "$third" || fail "kafka-local --no-stdin exited on stdin EOF"
kill -TERM "$third"
wait_exit "$third" 20 "kafka-local after SIGTERM"
log "ok"
