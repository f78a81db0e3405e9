# The control endpoint of the real driftd: an on-request trigger needs the token (401 without,
# 401 with a wrong one), a caller's retries with one request_id make one trigger, an unknown
# stream is 404; POST /models/STREAM/deployed re-baselines: the reference warms up again from
# the events that follow, and the model version appears in later evidence.
. "$ROOT/tests/integration/lib.sh"

start_kafka --topic feats:1
start_receiver 0
HPORT=$($PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$TESTDIR/driftd.yaml" <<YAML
kafka: {brokers: $BOOTSTRAP, group: it-control}
store: {path: $TESTDIR/driftd.db}
http: {port: $HPORT, token_env: DRIFTD_TEST_API_TOKEN}
streams:
  - name: feats
    topic: feats
    features: {f0: numeric, f1: numeric}
    label: label
    reference: {size: 1000}
    webhook: {url: "$RECEIVER_URL"}
    learner: {publish_every: 1000000, publish_every_s: 1}
YAML
"$DRIFTD" check "$TESTDIR/driftd.yaml"
"$DRIFTD" gen --dims 2 --events 1500 --seed 1 --key | kcat -P -b "$BOOTSTRAP" -t feats -K "$(printf '\t')"
DRIFTD_TEST_API_TOKEN=s3cret DRIFTD_STATS_INTERVAL_MS=200 "$DRIFTD" run "$TESTDIR/driftd.yaml" \
    2>"$TESTDIR/driftd.log" &
DPID=$!
PIDS="$PIDS $DPID"
wait_for 30 "control endpoint" grep -q 'msg="control endpoint listening"' "$TESTDIR/driftd.log"
wait_for 30 "reference ready" grep -q 'msg="stream stats".* consumed=1500 .*reference=ready' \
    "$TESTDIR/driftd.log"

code() { # METHOD PATH [TOKEN] [BODY]
    curl -s -o /dev/null -w '%{http_code}' -X "$1" ${3:+-H "Authorization: Bearer $3"} \
        ${4:+-H 'Content-Type: application/json' --data "$4"} "http://127.0.0.1:$HPORT$2"
}
[ "$(code GET /healthz)" = 200 ] || fail "healthz"
[ "$(code POST /triggers/feats)" = 401 ] || fail "no token accepted"
[ "$(code POST /triggers/feats wrong)" = 401 ] || fail "wrong token accepted"
[ "$(code POST /triggers/nope s3cret)" = 404 ] || fail "unknown stream"
[ "$(code GET /triggers/feats s3cret)" = 405 ] || fail "GET on a write endpoint"
[ "$(code POST /triggers/feats s3cret '[1]')" = 400 ] || fail "a body that is not an object"
body='{"reason": "new data from the warehouse", "request_id": "ticket-42"}'
[ "$(code POST /triggers/feats s3cret "$body")" = 202 ] || fail "on-request trigger"
[ "$(code POST /triggers/feats s3cret "$body")" = 202 ] || fail "retried request"
wait_for 20 "delivery" grep -q '"kind": "on_request"' "$TESTDIR/received.jsonl"

log "model updates: on time (publish_every_s) and on demand (POST /models/STREAM/publish)"
has_timer_model() {
    [ "$(sqlite3 "$TESTDIR/driftd.db" \
        "select count(*) from models where json_extract(model, '\$.reason') = 'timer'")" -gt 0 ]
}
wait_for 20 "a model published on time" has_timer_model
[ "$(code POST /models/feats/publish)" = 401 ] || fail "publish without the token"
[ "$(code POST /models/feats/publish s3cret)" = 200 ] || fail "publish on demand"
[ "$(code POST /models/nope/publish s3cret)" = 404 ] || fail "publish for an unknown stream"
"$DRIFTD" model export feats --db "$TESTDIR/driftd.db" >"$TESTDIR/latest.json"
grep -q '"reason":"request"' "$TESTDIR/latest.json" || fail "the latest version is not the requested one"

log "deployment: re-baseline"
[ "$(code POST /models/feats/deployed s3cret '{"version": "v2", "trained_until": 1500}')" = 200 ] \
    || fail "deployed"
wait_for 10 "warming up again" grep -q 'msg="stream stats".*reference=warming_up' "$TESTDIR/driftd.log"
"$DRIFTD" gen --dims 2 --events 1200 --seed 2 --key | kcat -P -b "$BOOTSTRAP" -t feats -K "$(printf '\t')"
wait_for 30 "new reference ready" grep -q 'msg="stream stats".* consumed=2700 .*reference=ready' \
    "$TESTDIR/driftd.log"
[ "$(code POST /triggers/feats s3cret '{"request_id": "ticket-43"}')" = 202 ] || fail "second"
wait_for 20 "second delivery" sh -c "[ \$(grep -c on_request '$TESTDIR/received.jsonl') -ge 2 ]"
kill -TERM $DPID
wait $DPID || fail "driftd exited non-zero"
grep -q 's3cret' "$TESTDIR/driftd.log" && fail "the token reached the log"
[ "$(sqlite3 "$TESTDIR/driftd.db" "select stream || ' ' || version || ' ' || trained_until from deployments")" = "feats v2 1500" ] \
    || fail "the deployment was not recorded: $(sqlite3 "$TESTDIR/driftd.db" 'select * from deployments')"
[ "$(sqlite3 "$TESTDIR/driftd.db" "select count(*) from triggers where kind = 'on_request'")" = 2 ] \
    || fail "retries made more than one trigger: $(sqlite3 "$TESTDIR/driftd.db" 'select idem_key from triggers')"
$PY - "$TESTDIR/received.jsonl" <<'PY'
import json, sys
recs = [json.loads(l)["body"] for l in open(sys.argv[1])]
req = [r for r in recs if r.get("kind") == "on_request"]
assert len(req) == 2, req
assert req[0]["reason"] == "new data from the warehouse" and req[0]["request_id"] == "ticket-42"
assert "model_version" not in req[0] and req[1]["model_version"] == "v2", req
print("ok: on-request triggers", [r["idempotency_key"] for r in req], "; model v2 after deploy")
PY
echo PASS
