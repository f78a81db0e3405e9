# The Kafka and exec actions of the real driftd, next to a webhook: on-request triggers are
# produced to a topic as CloudEvents (structured mode, keyed by stream, one per trigger) and run
# a program (argv, payload on stdin, DRIFTD_* variables). The program's exit status decides:
# 75 is retried, 3 is permanent (dead, reported, not retried), a hang is killed at the time
# limit with its children and retried.
. "$ROOT/tests/integration/lib.sh"

start_kafka --topic feats:1 --topic retrain-events:1
start_receiver 0
HPORT=$($PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$TESTDIR/bin"
cat >"$TESTDIR/bin/retrain" <<'SH'
#!/bin/sh
# the exec action's program: what it does comes from the file "mode" beside it
d=$(dirname "$0")
mode=$(cat "$d/mode")
echo "$DRIFTD_IDEMPOTENCY_KEY $mode $DRIFTD_ATTEMPT" >>"$d/runs.log"
case "$mode" in
tempfail) echo ok >"$d/mode"; echo "airflow is busy" >&2; exit 75 ;;
fail) echo "bad job definition" >&2; exit 3 ;;
hang) echo ok >"$d/mode"; sleep 30.5; exit 0 ;;
ok) cat >"$d/stdin-$DRIFTD_IDEMPOTENCY_KEY.json"
    { env | grep '^DRIFTD_' | sort; echo "ARGS=$*"; } >"$d/env-$DRIFTD_IDEMPOTENCY_KEY.txt"
    exit 0 ;;
esac
SH
chmod +x "$TESTDIR/bin/retrain"
cat >"$TESTDIR/driftd.yaml" <<YAML
kafka: {brokers: $BOOTSTRAP, group: it-actions}
store: {path: $TESTDIR/driftd.db}
http: {port: $HPORT, token_env: DRIFTD_TEST_API_TOKEN}
streams:
  - name: feats
    topic: feats
    features: {f0: numeric, f1: numeric}
    reference: {size: 1000}
    webhook: {url: "$RECEIVER_URL", backoff_base_ms: 100, backoff_max_ms: 400}
    kafka_action: {topic: retrain-events}
    exec:
      command: [bin/retrain, --stream, feats]   # relative to the config file
      timeout_s: 1
YAML
"$DRIFTD" check "$TESTDIR/driftd.yaml"

log "a missing program stops the start with a clear message"
sed 's|bin/retrain|bin/nope|' "$TESTDIR/driftd.yaml" >"$TESTDIR/bad.yaml"
if "$DRIFTD" run "$TESTDIR/bad.yaml" 2>"$TESTDIR/bad.log"; then fail "started without its program"; fi
grep -q "exec.command\[0\] $TESTDIR/bin/nope is not an executable file" "$TESTDIR/bad.log" \
    || fail "unclear start error: $(cat "$TESTDIR/bad.log")"

"$DRIFTD" gen --dims 2 --events 1200 --seed 1 --key | kcat -P -b "$BOOTSTRAP" -t feats -K "$(printf '\t')"
DRIFTD_TEST_API_TOKEN=tok DRIFTD_STATS_INTERVAL_MS=200 "$DRIFTD" run "$TESTDIR/driftd.yaml" \
    2>"$TESTDIR/driftd.log" &
DPID=$!
PIDS="$PIDS $DPID"
wait_for 30 "control endpoint" grep -q 'msg="control endpoint listening"' "$TESTDIR/driftd.log"
wait_for 30 "reference ready" grep -q 'msg="stream stats".*reference=ready' "$TESTDIR/driftd.log"
request() { # REQUEST_ID: an on-request trigger
    c=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H "Authorization: Bearer tok" \
        -H 'Content-Type: application/json' --data "{\"request_id\": \"$1\"}" \
        "http://127.0.0.1:$HPORT/triggers/feats")
    [ "$c" = 202 ] || fail "trigger $1: HTTP $c"
}
execs() { grep -c "msg=\"exec $1" "$TESTDIR/driftd.log" || true; }

log "exit 75 is retried, then delivered"
echo tempfail >"$TESTDIR/bin/mode"
request r1
wait_for 20 "exec delivered after a retry" sh -c "[ \$(grep -c 'msg=\"exec delivered\"' '$TESTDIR/driftd.log') -ge 1 ]"
grep -q 'msg="exec delivery failed; will retry".*error="exit status 75; airflow is busy"' \
    "$TESTDIR/driftd.log" || fail "the retry was not reported with the program's words"

log "exit 3 is permanent: dead, reported, not retried"
echo fail >"$TESTDIR/bin/mode"
request r2
wait_for 20 "a permanent failure" grep -q 'msg="exec delivery failed permanently".*exit status 3; bad job definition' \
    "$TESTDIR/driftd.log"

log "a hang is killed at timeout_s with its children, and retried"
echo hang >"$TESTDIR/bin/mode"
request r3
wait_for 20 "a timeout" grep -q 'msg="exec delivery failed; will retry".*error="timed out' "$TESTDIR/driftd.log"
wait_for 20 "the retry" sh -c "[ \$(grep -c 'msg=\"exec delivered\"' '$TESTDIR/driftd.log') -ge 2 ]"
if pgrep -f "sleep 30.5" >/dev/null; then fail "the program's child outlived the time limit"; fi

log "the Kafka action: one CloudEvent per trigger"
wait_for 20 "three Kafka deliveries" sh -c "[ \$(grep -c 'msg=\"kafka delivered\"' '$TESTDIR/driftd.log') -ge 3 ]"
wait_for 20 "three webhook deliveries" sh -c "[ \$(grep -c 'msg=\"webhook delivered\"' '$TESTDIR/driftd.log') -ge 3 ]"
kcat -C -b "$BOOTSTRAP" -t retrain-events -o beginning -e -q -f '%k\t%h\t%s\n' >"$TESTDIR/events.tsv"
kill -TERM $DPID
wait $DPID || fail "driftd exited non-zero"

sqlite3 "$TESTDIR/driftd.db" "select action, status, attempts, coalesce(last_error, '') from outbox o
    join triggers t on t.id = o.trigger_id order by t.id, action" >"$TESTDIR/outbox.txt"
$PY - "$TESTDIR" <<'PY'
import json, os, sys
d = sys.argv[1]
rows = [l.rstrip("\n").split("|") for l in open(f"{d}/outbox.txt")]
by = {}
for action, status, attempts, err in rows:
    by.setdefault(action, []).append((status, int(attempts), err))
# three triggers, three actions each
assert sorted(by) == ["exec", "kafka", "webhook"] and all(len(v) == 3 for v in by.values()), rows
assert by["webhook"] == [("done", 1, "")] * 3, by["webhook"]
assert by["kafka"] == [("done", 1, "")] * 3, by["kafka"]
e1, e2, e3 = by["exec"]
assert e1[0] == "done" and e1[1] == 2, e1            # 75, then 0
assert e2[0] == "dead" and e2[1] == 1 and "exit status 3; bad job definition" in e2[2], e2
assert e3[0] == "done" and e3[1] == 2, e3            # timed out, then 0

keys = [json.loads(l)["body"]["idempotency_key"] for l in open(f"{d}/received.jsonl")]
assert len(keys) == 3 == len(set(keys)), keys
runs = [l.split() for l in open(f"{d}/bin/runs.log")]
assert [(r[1], r[2]) for r in runs] == [("tempfail", "1"), ("ok", "2"), ("fail", "1"),
                                        ("hang", "1"), ("ok", "2")], runs
assert [r[0] for r in runs] == [keys[0], keys[0], keys[1], keys[2], keys[2]], (runs, keys)
for k in (keys[0], keys[2]):
    body = json.load(open(f"{d}/bin/stdin-{k}.json"))
    assert body["idempotency_key"] == k and body["kind"] == "on_request", body
    env = dict(l.rstrip("\n").split("=", 1) for l in open(f"{d}/bin/env-{k}.txt"))
    assert env["DRIFTD_IDEMPOTENCY_KEY"] == k and env["DRIFTD_STREAM"] == "feats", env
    assert env["DRIFTD_KIND"] == "on_request" and env["DRIFTD_STATUS"] == "firing", env
    assert env["DRIFTD_ATTEMPT"] == "2" and env["DRIFTD_DETECTED_AT"] == body["detected_at"], env
    assert env["ARGS"] == "--stream feats", env
    # driftd's own environment stays out: the control token is not the program's (review M2)
    assert "DRIFTD_TEST_API_TOKEN" not in env and "DRIFTD_STATS_INTERVAL_MS" not in env, env

events = [l.rstrip("\n").split("\t", 2) for l in open(f"{d}/events.tsv") if l.strip()]
assert len(events) == 3, events
ids = []
for key, headers, value in events:
    assert key == "feats", key
    assert "content-type=application/cloudevents+json; charset=UTF-8" in headers, headers
    ev = json.loads(value)
    assert ev["specversion"] == "1.0" and ev["type"].startswith("io.driftd."), ev
    assert ev["source"] and ev["id"] == ev["data"]["idempotency_key"], ev
    assert ev["datacontenttype"] == "application/json" and ev["subject"] == "on_request", ev
    ids.append(ev["id"])
assert ids == keys, (ids, keys)
print("ok: kafka", len(events), "events; exec runs", len(runs), "; outbox", rows)
PY
echo PASS
