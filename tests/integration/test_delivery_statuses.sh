# How the outbox of the real driftd treats a receiver's answers, one trigger sent to three
# targets: 200 is delivered once; 429 with Retry-After: 2 is retried, and not before those 2 s
# although the backoff is 20-50 ms; 400 is permanent: reported, marked dead, and never sent
# again (while the 429 target waits, a retried 400 would have been sent dozens of times).
. "$ROOT/tests/integration/lib.sh"

start_kafka --topic feats:1
$PY "$ROOT/tests/integration/receiver.py" --out "$TESTDIR/received.jsonl" \
    --port-file "$TESTDIR/receiver.port" --rule /throttle=429x1@2 --rule /bad=400 \
    2>"$TESTDIR/receiver.err" &
PIDS="$PIDS $!"
wait_for 10 "receiver port" test -s "$TESTDIR/receiver.port"
R="http://127.0.0.1:$(cat "$TESTDIR/receiver.port")"
HPORT=$($PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$TESTDIR/driftd.yaml" <<YAML
kafka: {brokers: $BOOTSTRAP, group: it-statuses}
store: {path: $TESTDIR/driftd.db}
http: {port: $HPORT, token_env: DRIFTD_TEST_API_TOKEN}
streams:
  - name: feats
    topic: feats
    features: {f0: numeric}
    webhook: {url: "$R/ok", backoff_base_ms: 20, backoff_max_ms: 50}
    webhooks:
      - {url: "$R/throttle"}
      - {url: "$R/bad"}
YAML
DRIFTD_TEST_API_TOKEN=tok "$DRIFTD" run "$TESTDIR/driftd.yaml" 2>"$TESTDIR/driftd.log" &
DPID=$!
PIDS="$PIDS $DPID"
wait_for 30 "control endpoint" grep -q 'msg="control endpoint listening"' "$TESTDIR/driftd.log"
c=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H "Authorization: Bearer tok" \
    "http://127.0.0.1:$HPORT/triggers/feats")
[ "$c" = 202 ] || fail "trigger: HTTP $c"
wait_for 20 "all rows settled" sh -c \
    "[ \"\$(sqlite3 '$TESTDIR/driftd.db' \"select count(*) from outbox where status = 'pending'\")\" = 0 ]"
kill -TERM $DPID
wait $DPID || fail "driftd exited non-zero"
grep -q 'msg="webhook delivery failed permanently".*target=http://127.0.0.1:[0-9]*/bad status=400 attempts=1 error="HTTP 400"' \
    "$TESTDIR/driftd.log" || fail "the permanent failure was not reported"
sqlite3 "$TESTDIR/driftd.db" "select target, status, attempts, http_status from outbox order by id" \
    >"$TESTDIR/outbox.txt"
$PY - "$TESTDIR/received.jsonl" "$TESTDIR/outbox.txt" <<'PY'
import json, sys
reqs = [json.loads(l) for l in open(sys.argv[1])]
by = {}
for r in reqs:
    by.setdefault(r["path"], []).append(r)
assert [r["status"] for r in by["/ok"]] == [200], by["/ok"]
assert [r["status"] for r in by["/throttle"]] == [429, 200], by["/throttle"]
gap = by["/throttle"][1]["t"] - by["/throttle"][0]["t"]
assert gap >= 1.9, f"retried {gap:.3f} s after a Retry-After of 2 s"
assert [r["status"] for r in by["/bad"]] == [400], by["/bad"]   # sent once, never again
assert len({r["idempotency_key"] for r in reqs}) == 1
rows = [l.rstrip("\n").split("|") for l in open(sys.argv[2])]
st = {t.rsplit("/", 1)[1]: (s, int(a), int(h)) for t, s, a, h in rows}
assert st == {"ok": ("done", 1, 200), "throttle": ("done", 2, 200), "bad": ("dead", 1, 400)}, st
print(f"ok: 200 once; 429 retried after {gap:.2f} s (Retry-After 2); 400 dead after 1 attempt")
PY
echo PASS
