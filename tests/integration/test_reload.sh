# SIGHUP reloads the config. A change to a detection setting applies at once and keeps the state
# of every operator whose definition did not change (the log says which were kept and which start
# fresh); a config that does not load (invalid, or gone) or that changes what only a restart
# applies is refused with the reason, and driftd keeps running on the old one, losing nothing.
. "$ROOT/tests/integration/lib.sh"

start_kafka --topic feats:1

conf() { # WINDOW LEARNER_L2 [EXTRA_TOP_LEVEL_YAML]
    cat >"$TESTDIR/driftd.yaml.new" <<YAML
kafka: {brokers: $BOOTSTRAP, group: it-reload}
store: {path: $TESTDIR/driftd.db}
${3:-}
streams:
  - name: feats
    topic: feats
    features: {f0: numeric, f1: numeric, f2: numeric, f3: numeric}
    label: label
    window: {type: tumbling, size: $1}
    reference: {size: 1000}
    learner: {kind: logistic, l2: $2}
YAML
    mv "$TESTDIR/driftd.yaml.new" "$TESTDIR/driftd.yaml"
}
produce() { # N SEED
    "$DRIFTD" gen --dims 4 --events "$1" --seed "$2" --key |
        kcat -P -b "$BOOTSTRAP" -t feats -K "$(printf '\t')"
}
consumed() { # N: the last stats line says N consumed
    grep 'msg="stream stats"' "$TESTDIR/driftd.log" | tail -n 1 | grep -q " consumed=$1 "
}
windows() {
    grep 'msg="stream stats"' "$TESTDIR/driftd.log" | tail -n 1 | sed 's/.* windows=\([0-9]*\) .*/\1/'
}
hup() { # PATTERN: sends SIGHUP and waits for a log line matching PATTERN after it
    before=$(wc -l <"$TESTDIR/driftd.log")
    kill -HUP $D
    wait_for 10 "$1 after SIGHUP" sh -c "tail -n +$((before + 1)) '$TESTDIR/driftd.log' | grep -q '$1'"
    tail -n +$((before + 1)) "$TESTDIR/driftd.log" | grep -v 'msg="stream stats"\|msg="kafka' | cut -c1-240
}

conf 500 0
produce 3000 1
DRIFTD_STATS_INTERVAL_MS=200 "$DRIFTD" run "$TESTDIR/driftd.yaml" 2>"$TESTDIR/driftd.log" &
D=$!
PIDS="$PIDS $D"
wait_for 60 "3000 consumed" consumed 3000
w0=$(windows)
[ "$w0" = 4 ] || fail "expected 4 windows of 500 after a 1000-event reference, got $w0"

log "window size 500 -> 250: windows start fresh, the reference and the learner are kept"
conf 250 0
hup 'msg="configuration reloaded"'
line=$(grep 'msg="stream reconfigured"' "$TESTDIR/driftd.log" | tail -n 1)
echo "$line" | grep -q 'fresh=windows,policy' || fail "windows should start fresh: $line"
echo "$line" | grep -q 'kept=[a-z,]*reference' || fail "the reference should be kept: $line"
echo "$line" | grep -q 'kept=[a-z,]*learner' || fail "the learner should be kept: $line"
produce 1000 2
wait_for 30 "4000 consumed" consumed 4000
[ "$(windows)" = $((w0 + 4)) ] || fail "1000 events in windows of 250 should close 4 more, got $(windows) after $w0"

log "a learner setting changes: only the learner starts fresh"
conf 250 0.01
hup 'msg="configuration reloaded"'
line=$(grep 'msg="stream reconfigured"' "$TESTDIR/driftd.log" | tail -n 1)
echo "$line" | grep -q 'fresh=learner' || fail "the learner should start fresh: $line"
echo "$line" | grep -q 'kept=[a-z,]*windows' || fail "the windows should be kept: $line"

log "an invalid config is refused with its position; driftd runs on"
sed -i 's/window: {type: tumbling, size: 250}/window: {type: tumbling, sise: 250}/' "$TESTDIR/driftd.yaml"
hup 'msg="configuration reload refused'
grep 'msg="configuration error"' "$TESTDIR/driftd.log" | tail -n 1 | grep -q 'driftd.yaml:[0-9]*:[0-9]*: .*sise' \
    || fail "the error does not name the file, line, column and key"

log "a config file that is gone is refused"
mv "$TESTDIR/driftd.yaml" "$TESTDIR/driftd.yaml.away"
hup 'msg="configuration reload refused'
grep 'msg="configuration error"' "$TESTDIR/driftd.log" | tail -n 1 | grep -q 'driftd.yaml' \
    || fail "the error does not name the file"
mv "$TESTDIR/driftd.yaml.away" "$TESTDIR/driftd.yaml"

log "a change that needs a restart is refused and named"
conf 250 0.01
sed -i 's/group: it-reload/group: it-other/' "$TESTDIR/driftd.yaml"
hup 'msg="configuration reload refused'
grep 'msg="configuration reload refused' "$TESTDIR/driftd.log" | tail -n 1 \
    | grep -q 'kafka changed; that needs a restart' || fail "the refusal does not name kafka"

log "still the window size of the last good config (250), nothing lost"
w1=$(windows)
produce 1000 3
wait_for 30 "5000 consumed" consumed 5000
[ "$(windows)" = $((w1 + 4)) ] || fail "expected 4 more windows of 250 after the refusals, got $(windows) after $w1"

kill -TERM $D
wait $D || fail "driftd exited non-zero after SIGTERM"
stats=$(grep 'msg="final stream stats"' "$TESTDIR/driftd.log")
echo "$stats" | grep -q ' events=5000 ' || fail "expected 5000 events: $stats"

log "the refused group change, applied by a restart: the state goes on from where it was"
# (the file still names group it-other; the state's offsets were stored under it-reload)
produce 1000 4
DRIFTD_STATS_INTERVAL_MS=200 "$DRIFTD" run "$TESTDIR/driftd.yaml" 2>"$TESTDIR/driftd2.log" &
D=$!
PIDS="$PIDS $D"
wait_for 30 "resumed under the new group" grep -q 'previous_group=it-reload' "$TESTDIR/driftd2.log"
wait_for 30 "the 1000 new events" grep -q 'msg="stream stats".* events=6000 ' "$TESTDIR/driftd2.log"
kill -TERM $D
wait $D || fail "driftd exited non-zero after SIGTERM"
stats=$(grep 'msg="final stream stats"' "$TESTDIR/driftd2.log")
echo "$stats" | grep -q ' events=6000 ' || fail "expected 6000 events (5000 + 1000 new, none read twice): $stats"
log "ok: $(grep -c 'msg="configuration reloaded"' "$TESTDIR/driftd.log") reloads applied, $(grep -c 'msg="configuration reload refused' "$TESTDIR/driftd.log") refused; the group renamed without a re-read"
