# Shared helpers for integration tests (sourced). Every wait has a deadline; nothing sleeps a
# fixed time to "let things settle". Background processes started here are killed on exit.
set -eu
: "${TESTDIR:=$(mktemp -d)}"
: "${TMUL:=1}"
: "${DRIFTD:=$ROOT/build/driftd}"
: "${KAFKA_LOCAL:=$ROOT/build/kafka-local}"
PY=/usr/bin/python3
PIDS=""
cleanup() {
    for p in $PIDS; do kill "$p" 2>/dev/null || true; done
    for p in $PIDS; do wait "$p" 2>/dev/null || true; done
}
trap cleanup EXIT INT TERM

fail() { echo "FAIL: $*" >&2; exit 1; }
log() { echo "--- $*"; }

# wait_for SECONDS DESCRIPTION COMMAND...: polls COMMAND every 0.1 s until it succeeds.
wait_for() {
    secs=$(( $1 * TMUL )); what=$2; shift 2
    end=$(( $(date +%s) + secs ))
    while ! "$@" >/dev/null 2>&1; do
        [ "$(date +%s)" -lt "$end" ] || fail "timed out after ${secs}s waiting for: $what"
        sleep 0.1
    done
}

# start_kafka ARGS...: starts kafka-local with ARGS, sets BOOTSTRAP. It stays up until the test
# exits (its stdin is a fifo held open by this shell).
start_kafka() {
    mkfifo "$TESTDIR/kafka.stdin"
    "$KAFKA_LOCAL" "$@" <"$TESTDIR/kafka.stdin" >"$TESTDIR/kafka.out" 2>"$TESTDIR/kafka.err" &
    PIDS="$PIDS $!"
    exec 9>"$TESTDIR/kafka.stdin"
    wait_for 20 "kafka-local bootstrap list" test -s "$TESTDIR/kafka.out"
    BOOTSTRAP=$(head -n 1 "$TESTDIR/kafka.out")
    export BOOTSTRAP
}

# start_receiver [FAIL_FIRST]: starts the Python webhook receiver, sets RECEIVER_URL. Each
# request body is appended as one line to $TESTDIR/received.jsonl.
start_receiver() {
    $PY "$ROOT/tests/integration/receiver.py" --fail-first "${1:-0}" \
        --out "$TESTDIR/received.jsonl" --port-file "$TESTDIR/receiver.port" \
        2>"$TESTDIR/receiver.err" &
    PIDS="$PIDS $!"
    wait_for 10 "receiver port" test -s "$TESTDIR/receiver.port"
    RECEIVER_URL="http://127.0.0.1:$(cat "$TESTDIR/receiver.port")/retrain"
    export RECEIVER_URL
}

# count_lines FILE: number of lines (0 if absent).
count_lines() { if [ -f "$1" ]; then wc -l <"$1" | tr -d ' '; else echo 0; fi; }

# kafka_cmd COMMAND...: sends one control command to the kafka-local of start_kafka (`down
# ID|all`, `up ID|all`, `topic-error TOPIC ERRNAME|none`; see scripts/kafka-local.c) and waits
# for its one-line answer on kafka-local's stderr. Logs the answer; returns 1 when it is an error
# line (under set -e that ends the test unless the caller checks).
kafka_cmd() {
    _kc_n=$(grep -c '^kafka-local: ' "$TESTDIR/kafka.err" || true)
    echo "$*" >&9
    wait_for 10 "kafka-local's answer to '$*'" \
        sh -c "[ \$(grep -c '^kafka-local: ' '$TESTDIR/kafka.err') -gt $_kc_n ]"
    _kc_ans=$(grep '^kafka-local: ' "$TESTDIR/kafka.err" | sed -n "$((_kc_n + 1))p")
    log "kafka_cmd $*: $_kc_ans"
    case "$_kc_ans" in "kafka-local: error:"*) return 1 ;; esac
    return 0
}

# lock_db DB: another process takes an exclusive (write) lock on the SQLite file DB and holds it
# until unlock_db (at most 60 s): how a busy or locked state file looks to driftd.
lock_db() {
    rm -f "$TESTDIR/unlock" "$TESTDIR/locked"
    $PY - "$1" "$TESTDIR" <<'PY' &
import os, sqlite3, sys, time
con = sqlite3.connect(sys.argv[1], timeout=30, isolation_level=None)
con.execute("BEGIN EXCLUSIVE")
open(os.path.join(sys.argv[2], "locked"), "w").close()
end = time.time() + 60
while not os.path.exists(os.path.join(sys.argv[2], "unlock")) and time.time() < end:
    time.sleep(0.05)
con.execute("COMMIT")
PY
    LOCKER=$!
    PIDS="$PIDS $LOCKER"
    wait_for 30 "the lock on $1" test -e "$TESTDIR/locked"
}
unlock_db() { touch "$TESTDIR/unlock"; wait $LOCKER; }
