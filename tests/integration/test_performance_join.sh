# Concept drift with late labels on another topic: the real driftd on a local Kafka-protocol
# cluster reads predictions (with ids) from one topic and, later, labels keyed by the same ids
# from a second topic; it joins them, feeds the errors to ADWIN, and delivers one performance
# trigger to a real HTTP receiver when the error rate jumps. Labels that never come expire after
# the time-to-live, labels for unknown ids and malformed label events are counted, and nothing
# stops the daemon.
. "$ROOT/tests/integration/lib.sh"

start_kafka --topic preds:2 --topic labels:1 --topic churn.dlq:1
start_receiver 0

cat >"$TESTDIR/driftd.yaml" <<YAML
kafka:
  brokers: $BOOTSTRAP
  group: it-perf
store:
  path: $TESTDIR/driftd.db
streams:
  - name: churn
    topic: preds
    features: {a: numeric, b: numeric}
    prediction: score
    id_field: request_id
    dead_letter_topic: churn.dlq
    window: {size: 1000}
    reference: {from: warmup, size: 1000}
    performance:
      detector: adwin
      cooldown_pairs: 100000
    labels:
      topic: labels
      field: churned
      ttl_s: 4
    webhook: {url: "$RECEIVER_URL", backoff_base_ms: 50, backoff_max_ms: 200}
YAML
"$DRIFTD" check "$TESTDIR/driftd.yaml"

$PY - "$TESTDIR" <<'PY'
import json, random, sys
d = sys.argv[1]
rng = random.Random(11)
N = 8000
with open(f"{d}/preds.txt", "w") as p, open(f"{d}/labels.txt", "w") as l, \
        open(f"{d}/late.txt", "w") as late:
    for i in range(N):
        y = rng.random() < 0.5
        wrong = rng.random() < (0.08 if i < 4000 else 0.35)
        cls = (not y) if wrong else y
        score = round(rng.uniform(0.6, 0.9) if cls else rng.uniform(0.1, 0.4), 3)
        p.write(f"r{i}\t" + json.dumps({"request_id": f"r{i}", "a": rng.gauss(0, 1),
                                         "b": rng.gauss(0, 1), "score": score}) + "\n")
        if i < N - 200:  # the last 200 predictions never get a label
            l.write(json.dumps({"request_id": f"r{i}", "churned": int(y)}) + "\n")
        if i % 160 == 0:  # 50 labels for ids nobody predicted
            l.write(json.dumps({"request_id": f"ghost{i}", "churned": 1}) + "\n")
    for k in range(10):  # malformed label events
        l.write(["{not json", json.dumps({"churned": 1}), json.dumps({"request_id": "r1"}),
                 json.dumps({"request_id": "r2", "churned": 7}), "[]"][k % 5] + "\n")
PY
log "predictions first; labels come later, on another topic"
kcat -P -b "$BOOTSTRAP" -t preds -K "$(printf '\t')" <"$TESTDIR/preds.txt"

DRIFTD_STATS_INTERVAL_MS=200 "$DRIFTD" run "$TESTDIR/driftd.yaml" 2>"$TESTDIR/driftd.log" &
DPID=$!
PIDS="$PIDS $DPID"
wait_for 60 "8000 predictions consumed" \
    grep -q 'msg="stream stats".* consumed=8000 ' "$TESTDIR/driftd.log"
kcat -P -b "$BOOTSTRAP" -t labels <"$TESTDIR/labels.txt"
wait_for 60 "a performance trigger delivered" grep -q '"kind": "performance"' \
    "$TESTDIR/received.jsonl"
wait_for 30 "the unlabelled predictions expired" \
    grep -q 'msg="performance stats".* expired=200 ' "$TESTDIR/driftd.log"
kill -TERM $DPID
wait $DPID || fail "driftd exited non-zero after SIGTERM"

stats=$(grep 'msg="final performance stats"' "$TESTDIR/driftd.log")
echo "$stats"
echo "$stats" | grep -q ' detections=[1-9]' || fail "no detection: $stats"
for kv in performance_triggers=1 labels_in=7860 labels_bad=10 matched=7800 \
    pending=0 expired=200 overflowed=0 unmatched=50; do
    echo "$stats" | grep -q " $kv " || fail "expected $kv: $stats"
done
grep -q 'msg="skipped malformed label event"' "$TESTDIR/driftd.log" \
    || fail "malformed label events not logged"
log "the 10 malformed label events are in the dead-letter topic, with their reason"
kcat -C -b "$BOOTSTRAP" -t churn.dlq -e -q -f '%h\n' >"$TESTDIR/dlq.txt"
n=$(grep -c 'driftd-reason=bad_label_event' "$TESTDIR/dlq.txt" || true)
[ "$n" = 10 ] || fail "expected 10 dead-lettered label events, got $n: $(head -n 3 "$TESTDIR/dlq.txt")"
grep -q 'driftd-topic=labels' "$TESTDIR/dlq.txt" || fail "dead letters do not name the labels topic"
log "prequential metrics per 1000 labelled predictions, in SQLite"
[ "$(sqlite3 "$TESTDIR/driftd.db" 'select count(*) from performance_windows')" = 7 ] \
    || fail "windows: $(sqlite3 "$TESTDIR/driftd.db" 'select idx, pairs from performance_windows')"
$PY - "$TESTDIR/driftd.db" <<'PY'
import json, sqlite3, sys
rows = sqlite3.connect(sys.argv[1]).execute(
    "select idx, first_pair, pairs, metrics from performance_windows order by idx").fetchall()
assert [(r[0], r[1], r[2]) for r in rows] == [(i, 1000 * i, 1000) for i in range(7)], rows
m = [json.loads(r[3]) for r in rows]
assert all(0.88 < x["accuracy"] < 0.96 for x in m[:4]), m[:4]   # 8% errors before pair 4000
assert all(0.55 < x["accuracy"] < 0.75 for x in m[4:]), m[4:]   # 35% after
assert all(x["label_delay_median_s"] > 0 and x["label_delay_p95_s"] >= x["label_delay_median_s"]
           for x in m), m
print("ok: 7 metrics windows; accuracy", [round(x["accuracy"], 3) for x in m])
PY
$PY - "$TESTDIR/received.jsonl" <<'PY'
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
perf = [r for r in recs if r["body"].get("kind") == "performance"]
assert len(perf) == 1, [r["body"].get("kind") for r in recs]
b = perf[0]["body"]
assert perf[0]["status"] == 200 and perf[0]["idempotency_key"] == b["idempotency_key"], perf[0]
# Labels arrive in prediction order here, so the detection follows the jump at pair 4000.
assert 4000 <= b["at"]["pair"] <= 4600, b["at"]
assert b["detector"]["name"] == "adwin" and b["error"]["kind"] == "misclassification", b
assert b["error"]["mean_recent"] > b["error"]["mean_since_last_detection"], b["error"]
print("ok: performance trigger delivered, detected at pair", b["at"]["pair"])
PY
echo PASS
