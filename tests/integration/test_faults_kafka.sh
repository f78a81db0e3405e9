# Kafka faults under a running driftd, injected through kafka-local's control channel
# (kafka_cmd): (1) every broker goes down for 8 s between two parts of the stream, (2) the
# stream's topic answers UNKNOWN_TOPIC_OR_PART for 5 s (how a deleted topic looks; the mock
# cluster cannot delete one). Asserts: the daemon keeps running and serving /healthz and
# /metrics, logs each fault (a warning or error naming the brokers / the topic error), is ready
# again afterwards, and counts every produced message exactly once (consumed == events ==
# produced, no malformed, lag 0) — nothing lost, nothing read twice.
#
# /healthz must turn not-ready during each fault with a reason naming Kafka, the brokers or
# the topic, and a log line must say when Kafka is reachable again. (STRICT_HEALTH=0 only
# reports those as gaps, for bisecting.)
. "$ROOT/tests/integration/lib.sh"

TOPIC=feats
P1=3000 P2=3000 P3=2000 # messages produced before the outage, after it, after the topic error
OUTAGE_S=8
TOPIC_ERROR_S=5
: "${STRICT_HEALTH:=1}"
gaps=0

start_kafka --topic $TOPIC:2
# The control channel refuses what it cannot do, with an error line, and goes on serving.
if kafka_cmd down 7; then fail "kafka-local accepted broker 7 of 1"; fi
if kafka_cmd topic-error $TOPIC NO_SUCH_ERROR; then fail "kafka-local accepted NO_SUCH_ERROR"; fi
HPORT=$($PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0))
print(s.getsockname()[1])')
cat >"$TESTDIR/driftd.yaml" <<YAML
kafka: {brokers: $BOOTSTRAP, group: it-faults}
store: {path: $TESTDIR/driftd.db}
http: {port: $HPORT, token_env: DRIFTD_TEST_API_TOKEN}
streams:
  - name: feats
    topic: $TOPIC
    features: {f0: numeric, f1: numeric, f2: numeric, f3: numeric}
    window: {size: 500}
    reference: {size: 1000}
YAML
"$DRIFTD" gen --dims 4 --events $((P1 + P2 + P3)) --seed 11 --key >"$TESTDIR/all.tsv"
# produce FIRST COUNT: lines FIRST..FIRST+COUNT-1 of the generated stream, keyed, to TOPIC.
produce() {
    tail -n "+$1" "$TESTDIR/all.tsv" | head -n "$2" \
        | timeout $((30 * TMUL)) kcat -P -b "$BOOTSTRAP" -t $TOPIC -K "$(printf '\t')" \
        || fail "kcat could not produce lines $1..$(($1 + $2 - 1))"
}
healthz() { curl -s --max-time 2 "http://127.0.0.1:$HPORT/healthz" || echo '(no answer)'; }
is_ready() { healthz | grep -q '"ready": *true'; }
alive() {
    kill -0 "$DPID" 2>/dev/null || fail "driftd exited during $1: $(tail -n 5 "$TESTDIR/driftd.log")"
}
last_stats() { grep 'msg="stream stats"' "$TESTDIR/driftd.log" | tail -n 1; }
# wait_consumed N: waits until the stats line says consumed=N; on timeout shows what it says.
wait_consumed() {
    end=$(( $(date +%s) + 30 * TMUL ))
    until grep -q "msg=\"stream stats\".* consumed=$1 " "$TESTDIR/driftd.log"; do
        [ "$(date +%s)" -lt "$end" ] \
            || fail "messages lost or stuck: want consumed=$1, last: $(last_stats)"
        sleep 0.1
    done
}
# check_counts N: /metrics and the last stats line count exactly N messages, all good, no lag.
check_counts() {
    curl -sf "http://127.0.0.1:$HPORT/metrics" >"$TESTDIR/metrics.txt" || fail "GET /metrics"
    $PY - "$TESTDIR/metrics.txt" "$1" "$(last_stats)" <<'PY' || fail "counts after $2"
import re, sys
text, want, stats = open(sys.argv[1]).read(), int(sys.argv[2]), sys.argv[3]
def val(series):
    m = re.search("^" + re.escape(series) + r" (\S+)$", text, re.M)
    assert m, f"missing: {series}"
    return float(m.group(1))
got = {"consumed": val("driftd_messages_consumed_total"),
       "events": val('driftd_events_total{stream="feats"}')}
bad = {m.group(1): float(m.group(2)) for m in re.finditer(
    r'^driftd_decode_errors_total\{stream="feats",reason="(\w+)"\} (\S+)$', text, re.M)}
lag = [float(v) for v in re.findall(r'^driftd_consumer_lag_messages\{[^}]*\} (\S+)$', text, re.M)]
print(f"    metrics: {got}, decode errors {sum(bad.values()):.0f}, lag {lag}")
print(f"    {stats}")
assert got == {"consumed": want, "events": want}, f"want {want} consumed and events, got {got}"
assert bad and not any(bad.values()), f"malformed counts: {bad}"
assert lag and not any(lag), f"lag left: {lag}"
assert f" consumed={want} events={want} malformed=0 " in stats, stats
PY
}
# watch_fault SECONDS WHAT: samples /healthz twice a second for SECONDS while a fault lasts,
# checking driftd stays up; records the answers in $TESTDIR/health.WHAT.
watch_fault() {
    : >"$TESTDIR/health.$2"
    end=$(( $(date +%s) + $1 ))
    while [ "$(date +%s)" -lt "$end" ]; do
        alive "$2"
        echo "$(date +%T) $(healthz)" >>"$TESTDIR/health.$2"
        sleep 0.5
    done
}
# judge_health WHAT: a not-ready answer during the fault must say why in terms of Kafka; an
# always-ready one is a gap (fatal with STRICT_HEALTH=1).
judge_health() {
    log "/healthz during $1 (count, answer): $(cut -d' ' -f2- "$TESTDIR/health.$1" | sort | uniq -c \
        | tr -s ' \n' ' ')"
    if grep '"ready": *false' "$TESTDIR/health.$1" >"$TESTDIR/notready.$1"; then
        grep -qiE 'kafka|broker|topic' "$TESTDIR/notready.$1" \
            || fail "/healthz not ready during $1 without naming Kafka: $(head -n 1 "$TESTDIR/notready.$1")"
    else
        log "GAP: /healthz stayed ready during $1"
        gaps=$((gaps + 1))
    fi
}

DRIFTD_TEST_API_TOKEN=tok DRIFTD_STATS_INTERVAL_MS=200 "$DRIFTD" run "$TESTDIR/driftd.yaml" \
    2>"$TESTDIR/driftd.log" &
DPID=$!
PIDS="$PIDS $DPID"

log "part 1: $P1 messages"
produce 1 $P1
wait_consumed $P1
# the rate over the last 10 s sees them (sampled each second), and never more than there are
rate() { curl -s "http://127.0.0.1:$HPORT/metrics" | awk '$1 == "driftd_events_per_second{stream=\"feats\"}" {print $2}'; }
rate_seen() { r=$(rate); [ -n "$r" ] && $PY -c "import sys; sys.exit(not (0 < float('$r') <= $P1 / 1.0))"; }
wait_for 5 "driftd_events_per_second above 0" rate_seen
log "driftd_events_per_second: $(rate)"
wait_for 10 "/healthz ready" is_ready
check_counts $P1 "part 1"

log "fault 1: every broker down for ${OUTAGE_S}s"
mark=$(count_lines "$TESTDIR/driftd.log")
kafka_cmd down all
watch_fault $OUTAGE_S outage
tail -n "+$((mark + 1))" "$TESTDIR/driftd.log" >"$TESTDIR/outage.log"
grep -E 'level=(warn|error) ' "$TESTDIR/outage.log" \
    | grep -E 'ALL_BROKERS_DOWN|brokers? (unreachable|down)' >"$TESTDIR/outage.warn" \
    || fail "no warning about the brokers during the outage: $(cat "$TESTDIR/outage.log")"
log "logged: $(head -n 1 "$TESTDIR/outage.warn" | cut -c1-220)"
judge_health outage
curl -sf -o /dev/null "http://127.0.0.1:$HPORT/metrics" \
    || fail "/metrics not served during the outage"
mark=$(count_lines "$TESTDIR/driftd.log")
kafka_cmd up all

log "part 2: $P2 messages after the brokers are back"
t0=$(date +%s)
produce $((P1 + 1)) $P2
wait_consumed $((P1 + P2))
# librdkafka backs off reconnecting up to reconnect.backoff.max.ms (10 s by default).
log "resumed and caught up $(( $(date +%s) - t0 ))s after the brokers came back"
wait_for 10 "/healthz ready after the outage" is_ready
check_counts $((P1 + P2)) "the outage"
back='msg="[^"]*(reachable again|recovered|reconnected|restored|back up|available again)'
if tail -n "+$((mark + 1))" "$TESTDIR/driftd.log" | grep -qiE "$back"; then
    log "logged the recovery"
else
    log "GAP: no log line says Kafka is reachable again"
    gaps=$((gaps + 1))
fi

log "fault 2: topic $TOPIC answers UNKNOWN_TOPIC_OR_PART for ${TOPIC_ERROR_S}s"
mark=$(count_lines "$TESTDIR/driftd.log")
kafka_cmd topic-error $TOPIC UNKNOWN_TOPIC_OR_PART
watch_fault $TOPIC_ERROR_S topic-error
tail -n "+$((mark + 1))" "$TESTDIR/driftd.log" >"$TESTDIR/topic.log"
grep -E 'level=(warn|error) ' "$TESTDIR/topic.log" | grep UNKNOWN_TOPIC_OR_PART | grep $TOPIC \
    >"$TESTDIR/topic.warn" || fail "no warning naming the topic error: $(cat "$TESTDIR/topic.log")"
log "logged: $(head -n 1 "$TESTDIR/topic.warn" | cut -c1-220)"
judge_health topic-error
kafka_cmd topic-error $TOPIC none

log "part 3: $P3 messages after the topic is back"
produce $((P1 + P2 + 1)) $P3
wait_consumed $((P1 + P2 + P3))
wait_for 10 "/healthz ready after the topic error" is_ready
check_counts $((P1 + P2 + P3)) "the topic error"

kill -TERM $DPID
wait $DPID || fail "driftd exited non-zero after SIGTERM"
grep 'msg="final stream stats"' "$TESTDIR/driftd.log" \
    | grep -q " consumed=$((P1 + P2 + P3)) events=$((P1 + P2 + P3)) malformed=0 " \
    || fail "final stats: $(grep 'final stream stats' "$TESTDIR/driftd.log")"
log "SIGTERM while every broker is down: a bounded stop with a final checkpoint"
# (a new group and state file: the mock cluster is slow to let a group member go after an outage)
sed "s/group: it-faults/group: it-faults-stop/; s|$TESTDIR/driftd.db|$TESTDIR/stop.db|" \
    "$TESTDIR/driftd.yaml" >"$TESTDIR/stop.yaml"
DRIFTD_TEST_API_TOKEN=tok DRIFTD_STATS_INTERVAL_MS=200 "$DRIFTD" run "$TESTDIR/stop.yaml" \
    2>"$TESTDIR/driftd2.log" &
DPID=$!
PIDS="$PIDS $DPID"
wait_for 30 "/healthz ready again" is_ready
kafka_cmd down all
wait_for 20 "/healthz says no broker" sh -c "curl -s http://127.0.0.1:$HPORT/healthz | grep -q 'no Kafka broker'"
t0=$(date +%s)
kill -TERM $DPID
wait $DPID || fail "driftd exited non-zero after SIGTERM with Kafka down"
took=$(( $(date +%s) - t0 ))
[ "$took" -le 12 ] || fail "stopping with Kafka down took ${took}s"
grep -q 'msg="final checkpoint written"' "$TESTDIR/driftd2.log" || fail "no final checkpoint with Kafka down"
log "stopped in ${took}s with every broker down"
kafka_cmd up all

if [ "$gaps" -gt 0 ]; then
    [ "$STRICT_HEALTH" = 1 ] && fail "$gaps gap(s) in fault reporting (STRICT_HEALTH=1)"
    log "$gaps gap(s) in fault reporting, tolerated (STRICT_HEALTH=1 makes them fatal)"
fi
echo PASS
