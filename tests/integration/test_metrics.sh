# /metrics of the real driftd: the Prometheus text format passes `promtool check metrics` (the
# linter: HELP, TYPE, names, units, histogram layout), carries the series an operator needs, and
# a real Prometheus server (Debian's package) scrapes it and answers queries on them. /healthz
# says ready (and why), /status gives the streams, partitions, outbox and model versions.
. "$ROOT/tests/integration/lib.sh"

command -v promtool >/dev/null || fail "promtool missing (scripts/install-deps installs prometheus)"
start_kafka --topic feats:2
start_receiver 0
free_port() { $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
HPORT=$(free_port)
cat >"$TESTDIR/driftd.yaml" <<YAML
kafka: {brokers: $BOOTSTRAP, group: it-metrics}
store: {path: $TESTDIR/driftd.db}
http: {port: $HPORT, token_env: DRIFTD_TEST_API_TOKEN}
streams:
  - name: feats
    topic: feats
    features: {f0: numeric, f1: numeric, f2: numeric, f3: numeric}
    label: label
    window: {size: 500}
    reference: {size: 1000}
    trigger: {consecutive: 1, cooldown_windows: 1000}
    webhook: {url: "$RECEIVER_URL"}
    multivariate: {}
    learner: {publish_every: 500}
YAML
"$DRIFTD" gen --dims 4 --events 4000 --drift-at 2500 --seed 3 --key --bad-every 500 \
    | kcat -P -b "$BOOTSTRAP" -t feats -K "$(printf '\t')"
DRIFTD_TEST_API_TOKEN=tok DRIFTD_STATS_INTERVAL_MS=200 "$DRIFTD" run "$TESTDIR/driftd.yaml" \
    2>"$TESTDIR/driftd.log" &
DPID=$!
PIDS="$PIDS $DPID"
wait_for 30 "all consumed" grep -q 'msg="stream stats".* consumed=4000 ' "$TESTDIR/driftd.log"
wait_for 20 "a delivery" grep -q 'msg="webhook delivered"' "$TESTDIR/driftd.log"

curl -sf -D "$TESTDIR/headers" "http://127.0.0.1:$HPORT/metrics" >"$TESTDIR/metrics.txt" \
    || fail "GET /metrics"
grep -qi '^content-type: text/plain; version=0.0.4' "$TESTDIR/headers" || fail "content type"
promtool check metrics <"$TESTDIR/metrics.txt" >"$TESTDIR/promtool.out" 2>&1 \
    || fail "promtool: $(cat "$TESTDIR/promtool.out")"
[ "$(curl -s -o /dev/null -w '%{http_code}' -X POST "http://127.0.0.1:$HPORT/metrics")" = 405 ] \
    || fail "POST /metrics"
$PY - "$TESTDIR/metrics.txt" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
assert text.endswith("\n")
def val(series):
    m = re.search("^" + re.escape(series) + r" (\S+)$", text, re.M)
    assert m, f"missing: {series}"
    return float(m.group(1))
assert val("driftd_messages_consumed_total") == 4000
assert val('driftd_events_total{stream="feats"}') == 3992          # 8 malformed lines
# the rate over the last 10 s: never more than everything there is in one second
assert 0 <= val('driftd_events_per_second{stream="feats"}') <= 3992
assert val('driftd_decode_errors_total{stream="feats",reason="invalid_json"}') > 0
assert val('driftd_windows_total{stream="feats"}') == 5     # (3992 - 1000) // 500
assert val('driftd_triggers_total{stream="feats",kind="data_drift"}') == 1
assert val('driftd_delivery_attempts_total{action="webhook",outcome="done"}') == 1
assert val('driftd_outbox_entries{status="done"}') == 1
assert 0 <= val('driftd_feature_psi{stream="feats",feature="f0"}')
assert val('driftd_feature_drifted{stream="feats",feature="f0"}') == 1   # f0 is shifted
assert val('driftd_multivariate_statistic{stream="feats",test="hotelling"}') > 0
assert val('driftd_batch_processing_seconds_count') > 0
assert val('driftd_batch_processing_seconds_bucket{le="+Inf"}') == val('driftd_batch_processing_seconds_count')
assert val('driftd_resident_memory_bytes') > 1e6
lags = re.findall(r'^driftd_consumer_lag_messages\{topic="feats",partition="(\d)"\} (\S+)$', text, re.M)
assert sorted(p for p, _ in lags) == ["0", "1"] and all(float(v) == 0 for _, v in lags), lags
print("ok: /metrics passes promtool;", len(text.splitlines()), "lines")
PY

log "/healthz and /status"
curl -sf "http://127.0.0.1:$HPORT/healthz" >"$TESTDIR/health.json" || fail "healthz not 200"
curl -sf "http://127.0.0.1:$HPORT/status" >"$TESTDIR/status.json" || fail "status"
$PY - "$TESTDIR/health.json" "$TESTDIR/status.json" <<'PY'
import json, sys
h = json.load(open(sys.argv[1]))
assert h == {"ready": True, "why": "consuming"}, h
s = json.load(open(sys.argv[2]))
assert s["ready"] and s["consumed"] == 4000, s
st = s["streams"][0]
assert st["name"] == "feats" and st["reference"] == "ready" and st["windows"] == 5, st
assert st["model_version"] >= 1 and st["triggers"] == 1, st
f0 = next(f for f in st["last_window"] if f["feature"] == "f0")
assert f0["drifted"] and f0["psi"] > 0.2, f0
assert sorted(p["partition"] for p in s["partitions"]) == [0, 1], s["partitions"]
# where processing is, per partition, and where the last checkpoint is (a restart resumes there)
assert sum(p["next_offset"] for p in s["partitions"]) == 4000, s["partitions"]
assert all(p["checkpointed"] is None or 0 <= p["checkpointed"] <= p["next_offset"]
           for p in s["partitions"]), s["partitions"]
ck = s["checkpoint"]
assert ck["instance"] == "default" and ck["failures"] == 0 and ck["error"] is None, ck
assert ck["triggers_held"] == 0 and (ck["written"] == 0) == (ck["age_s"] is None), ck
assert s["outbox"] == {"pending": 0, "done": 1, "dead": 0}, s["outbox"]
print("ok: /healthz ready; /status", len(st["last_window"]), "features, model", st["model_version"])
PY

log "a real Prometheus scrapes it"
PPORT=$(free_port)
cat >"$TESTDIR/prometheus.yml" <<YAML
global: {scrape_interval: 1s}
scrape_configs:
  - job_name: driftd
    static_configs: [{targets: ["127.0.0.1:$HPORT"]}]
YAML
prometheus --config.file="$TESTDIR/prometheus.yml" --storage.tsdb.path="$TESTDIR/prom" \
    --web.listen-address="127.0.0.1:$PPORT" 2>"$TESTDIR/prometheus.log" &
PIDS="$PIDS $!"
query() { curl -s "http://127.0.0.1:$PPORT/api/v1/query" --data-urlencode "query=$1"; }
scraped() { query 'driftd_events_total{stream="feats"}' | grep -q '"3992"'; }
wait_for 60 "Prometheus has the series" scraped
query 'up{job="driftd"}' | grep -q '"1"' || fail "target not up: $(query 'up')"
query 'sum(driftd_triggers_total{kind="data_drift"})' | grep -q '"1"' || fail "trigger series"
kill -TERM $DPID
wait $DPID || fail "driftd exited non-zero"

log "driftd events and driftd status read the store"
"$DRIFTD" events --config "$TESTDIR/driftd.yaml" --since 1h --format json >"$TESTDIR/events.jsonl"
"$DRIFTD" status --db "$TESTDIR/driftd.db" --format json >"$TESTDIR/status-cli.json"
"$DRIFTD" events --db "$TESTDIR/driftd.db" --since 0s | grep -q "no triggers recorded since then" \
    || fail "events --since now"
"$DRIFTD" events --db "$TESTDIR/driftd.db" --since yesterday 2>"$TESTDIR/err.txt" && fail "bad --since"
grep -q "got 'yesterday'" "$TESTDIR/err.txt" || fail "unclear: $(cat "$TESTDIR/err.txt")"
$PY - "$TESTDIR/events.jsonl" "$TESTDIR/status-cli.json" <<'PY'
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1])]
assert len(ev) == 1 and ev[0]["kind"] == "data_drift", ev
assert ev[0]["deliveries"] == {"done": 1, "pending": 0, "dead": 0}, ev[0]
assert ev[0]["payload"]["idempotency_key"] == ev[0]["idempotency_key"]
st = json.load(open(sys.argv[2]))
assert st["triggers"] == 1 and st["outbox"] == {"pending": 0, "dead": 0}, st
s = st["streams"][0]
assert s["stream"] == "feats" and s["last_kind"] == "data_drift" and s["model_version"] >= 1, s
# where the state is and where a restart resumes: the final checkpoint covers all 4000 events
ck = st["checkpoints"]
assert len(ck) == 1 and ck[0]["stream"] == "feats" and ck[0]["instance"] == "default", ck
assert ck[0]["live_bytes"] > 0 and ck[0]["reference_bytes"] > 0 and ck[0]["updated"], ck
offs = st["offsets"]
assert sorted(o["partition"] for o in offs) == [0, 1], offs
assert sum(o["next_offset"] for o in offs) == 4000 and all(o["group"] == "it-metrics" for o in offs), offs
print("ok: events and status from the store")
PY
echo PASS
