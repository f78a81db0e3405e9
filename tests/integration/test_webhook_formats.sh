# A retraining trigger delivered by the real driftd in CloudEvents format, with the team's own
# header, a bearer token and an HMAC-SHA256 signature whose secrets come from the environment:
# the receiver checks the event's fields, the token, and the signature over the exact bytes.
# Without the environment variables driftd refuses to start and says which one is missing.
. "$ROOT/tests/integration/lib.sh"

start_kafka --topic feats:1
start_receiver 0

cat >"$TESTDIR/driftd.yaml" <<YAML
kafka: {brokers: $BOOTSTRAP, group: it-formats}
store: {path: $TESTDIR/driftd.db}
streams:
  - name: feats
    topic: feats
    features: {f0: numeric, f1: numeric, f2: numeric, f3: numeric}
    time_field: ts
    window: {size: 500}
    reference: {from: warmup, size: 2000}
    drift: {ks_alpha: 0.001, share: 0.25}
    trigger: {consecutive: 2, cooldown_windows: 1000}
    webhook:
      url: "$RECEIVER_URL"
      format: cloudevents
      headers: {X-Team: ml-platform}
      bearer_token_env: DRIFTD_TEST_TOKEN
      hmac_secret_env: DRIFTD_TEST_HMAC
    webhooks:
      - {url: "${RECEIVER_URL}/slack", format: slack}
      - {url: "${RECEIVER_URL}/am", format: alertmanager, severity: critical}
YAML
"$DRIFTD" check "$TESTDIR/driftd.yaml"

log "a missing secret stops the start, naming the variable"
if env -u DRIFTD_TEST_TOKEN -u DRIFTD_TEST_HMAC "$DRIFTD" run "$TESTDIR/driftd.yaml" \
    2>"$TESTDIR/noenv.log"; then
    fail "driftd started without its secrets"
fi
grep -q "environment variable DRIFTD_TEST_TOKEN is not set" "$TESTDIR/noenv.log" \
    || fail "$(cat "$TESTDIR/noenv.log")"

"$DRIFTD" gen --dims 4 --events 6000 --drift-at 4000 --seed 5 --key \
    | kcat -P -b "$BOOTSTRAP" -t feats -K "$(printf '\t')"
DRIFTD_TEST_TOKEN=tok-123 DRIFTD_TEST_HMAC="It's a Secret to Everybody" \
    "$DRIFTD" run "$TESTDIR/driftd.yaml" 2>"$TESTDIR/driftd.log" &
DPID=$!
PIDS="$PIDS $DPID"
wait_for 60 "three deliveries" sh -c "[ \$(grep -c '\"status\": 200' '$TESTDIR/received.jsonl' 2>/dev/null || echo 0) -ge 3 ]"
kill -TERM $DPID
wait $DPID || fail "driftd exited non-zero after SIGTERM"
grep -q 'DRIFTD_TEST_HMAC\|tok-123\|Secret to Everybody' "$TESTDIR/driftd.log" \
    && fail "a secret reached the log"

$PY - "$TESTDIR/received.jsonl" <<'PY'
import hashlib, hmac, json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
by_path = {r["path"]: r for r in recs}
assert sorted(by_path) == ["/retrain", "/retrain/am", "/retrain/slack"], sorted(by_path)
keys = {r["idempotency_key"] for r in recs}
assert len(keys) == 1, keys  # one trigger, three targets, one key
sl, am = by_path["/retrain/slack"], by_path["/retrain/am"]
assert sl["body"]["text"].startswith("Data drift in stream feats"), sl["body"]
assert "authorization" not in sl["headers"] and "x-driftd-signature-256" not in sl["headers"]
assert am["body"]["version"] == "4" and am["body"]["commonLabels"]["severity"] == "critical"
rec = by_path["/retrain"]
h, body = rec["headers"], rec["body"]
assert h["content-type"] == "application/cloudevents+json; charset=UTF-8", h
assert h["authorization"] == "Bearer tok-123", h
assert h["x-team"] == "ml-platform", h
want = "sha256=" + hmac.new(b"It's a Secret to Everybody", rec["raw"].encode(),
                            hashlib.sha256).hexdigest()
assert hmac.compare_digest(h["x-driftd-signature-256"], want), (h, want)
assert body["specversion"] == "1.0" and body["type"] == "io.driftd.trigger.data_drift", body
assert body["source"] == "/driftd/streams/feats" and body["id"] == rec["idempotency_key"], body
assert body["data"]["kind"] == "data_drift" and body["data"]["stream"] == "feats", body["data"]
assert body["data"]["idempotency_key"] == body["id"]
print("ok: CloudEvent", body["id"], "signed and authorised")
PY
echo PASS
