# Concept drift with labels in the event: the engine turns prediction and label into an error
# per event, runs the configured detector on it, and fires one "performance" trigger when the
# error rate jumps (and none before). The detection index is exactly what `driftd detect` says on
# the same error sequence, so the engine and the CLI run the same detector the same way.
. "$ROOT/tests/integration/lib.sh"

$PY - "$TESTDIR" <<'PY'
import json, random, sys
d = sys.argv[1]
rng = random.Random(7)
errs = []
with open(f"{d}/events.jsonl", "w") as f:
    for i in range(12000):
        y = rng.random() < 0.5
        wrong = rng.random() < (0.10 if i < 6000 else 0.35)
        cls = (not y) if wrong else y
        score = round(rng.uniform(0.55, 0.95) if cls else rng.uniform(0.05, 0.45), 4)
        errs.append(int(wrong))
        f.write(json.dumps({"a": rng.gauss(0, 1), "b": rng.gauss(0, 1), "score": score,
                            "y": int(y), "ts": 1700000000 + i}) + "\n")
with open(f"{d}/errors.txt", "w") as f:
    f.write("\n".join(map(str, errs)) + "\n")
PY
cat >"$TESTDIR/perf.yaml" <<YAML
kafka: {brokers: embedded}
store: {path: $TESTDIR/unused.db}
streams:
  - name: churn
    topic: churn
    features: {a: numeric, b: numeric}
    prediction: score
    label: y
    time_field: ts
    window: {size: 1000}
    reference: {from: warmup, size: 2000}
    performance:
      detector: adwin
      params: {delta: 0.002}
      cooldown_pairs: 100000
YAML
"$DRIFTD" replay "$TESTDIR/perf.yaml" --from "$TESTDIR/events.jsonl" >"$TESTDIR/out.jsonl" \
    || fail "replay failed"
"$DRIFTD" detect adwin --param delta=0.002 "$TESTDIR/errors.txt" >"$TESTDIR/detect.txt"

$PY - "$TESTDIR" <<'PY'
import json, sys
d = sys.argv[1]
lines = [json.loads(l) for l in open(f"{d}/out.jsonl")]
trig = [l for l in lines if l["type"] == "trigger" and l["kind"] == "performance"]
cli = [int(l.split()[0]) for l in open(f"{d}/detect.txt") if l.endswith("drift\n")]
assert cli, "the CLI detected nothing"
assert len(trig) == 1, trig
t = trig[0]
# The same detector on the same errors: the engine fires at the CLI's first detection.
assert t["pair"] == cli[0], (t["pair"], cli)
assert 6000 <= t["pair"] <= 6600, ("detection delay out of bounds", t["pair"])
p = t["payload"]
assert p["kind"] == "performance" and p["trigger"] == "performance", p
assert p["detector"] == {"name": "adwin", "params": {"delta": "0.002"}}, p["detector"]
assert p["at"]["pair"] == t["pair"] and p["at"]["offset"] == t["pair"] + 1, p["at"]
assert p["at"]["event_time"].startswith("2023-11-14T"), p["at"]
e = p["error"]
assert e["kind"] == "misclassification" and e["threshold"] == 0.5, e
assert 0.2 < e["mean_recent"] <= 0.5 and e["recent_pairs"] == 200, e
assert 0.08 < e["mean_since_last_detection"] < 0.2, e
assert p["idempotency_key"].startswith("churn:performance:"), p
s = lines[-1]
assert s["performance"] == {"detections": len(cli), "warnings": 0, "triggers": 1}, s
# Prequential metrics per 1000 labelled predictions, equal to scikit-learn on the same pairs.
from sklearn.metrics import accuracy_score, f1_score, log_loss, precision_score, recall_score, \
    roc_auc_score
ev = [json.loads(l) for l in open(f"{d}/events.jsonl")]
wins = [l for l in lines if l["type"] == "performance_window"]
assert len(wins) == 12 and [w["first_pair"] for w in wins] == list(range(0, 12000, 1000)), wins
def close(a, b):
    return abs(a - b) <= 1e-8 * max(1.0, abs(b))
for w in wins:
    chunk = ev[w["first_pair"]:w["first_pair"] + 1000]
    y = [e["y"] for e in chunk]
    s = [e["score"] for e in chunk]
    c = [int(v >= 0.5) for v in s]
    want = {"accuracy": accuracy_score(y, c), "precision": precision_score(y, c),
            "recall": recall_score(y, c), "f1": f1_score(y, c),
            "log_loss": log_loss(y, s, labels=[0, 1], eps=1e-15), "auc": roc_auc_score(y, s)}
    for k, v in want.items():
        assert close(w[k], v), (w["index"], k, w[k], v)
    assert w["label_delay_median_s"] is None, w
assert wins[0]["accuracy"] > 0.85 and wins[11]["accuracy"] < 0.7, (wins[0], wins[11])
assert p["last_metrics_window"]["index"] == t["pair"] // 1000 - 1, p["last_metrics_window"]
print("ok: performance trigger at pair", t["pair"], "(error rate jumps at 6000);",
      len(cli), "detections, 1 trigger (cooldown)")
PY

log "data volume: a trigger every 2500 labelled events since the last one"
sed -e 's/      cooldown_pairs: 100000/      cooldown_pairs: 100000\n    trigger: {volume: 2500, consecutive: 1000}/' \
    "$TESTDIR/perf.yaml" >"$TESTDIR/vol.yaml"
"$DRIFTD" replay "$TESTDIR/vol.yaml" --from "$TESTDIR/events.jsonl" >"$TESTDIR/vol.out" \
    || fail "volume replay failed"
$PY - "$TESTDIR/vol.out" <<'PY'
import json, sys
t = [json.loads(l) for l in open(sys.argv[1]) if '"type":"trigger"' in l]
kinds = [(x["kind"], x["payload"]["at"]["offset"]) for x in t]
# Volume triggers at lines 2500 and 5000; the performance trigger (pair 6079, line 6080)
# starts the count over, so the next volume trigger comes 2500 labelled events after it.
assert kinds == [("data_volume", 2500), ("data_volume", 5000), ("performance", 6080),
                 ("data_volume", 8580), ("data_volume", 11080)], kinds
v = t[0]["payload"]
assert v["labelled_events"] == 2500 and v["volume_threshold"] == 2500, v
print("ok: volume triggers", kinds)
PY

log "a metric bound: accuracy under 0.8 in a metrics window fires a performance trigger"
sed -e 's/      detector: adwin/      detector: ddm\n      min_accuracy: 0.8/' \
    -e 's/      params: {delta: 0.002}/      params: {drift_threshold: 1000}/' \
    "$TESTDIR/perf.yaml" >"$TESTDIR/metric.yaml"
"$DRIFTD" replay "$TESTDIR/metric.yaml" --from "$TESTDIR/events.jsonl" >"$TESTDIR/metric.out" \
    || fail "metric replay failed"
$PY - "$TESTDIR/metric.out" <<'PY'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
t = [l for l in lines if l["type"] == "trigger"]
assert len(t) == 1 and t[0]["kind"] == "performance", t
p = t[0]["payload"]
wins = {w["index"]: w for w in lines if w["type"] == "performance_window"}
first_bad = min(i for i, w in wins.items() if w["accuracy"] < 0.8)
assert p["metrics_window"]["index"] == first_bad == 6, (p["metrics_window"], first_bad)
assert p["metric"]["name"] == "accuracy" and p["metric"]["bound"] == 0.8, p["metric"]
assert p["rule"].startswith("accuracy 0.") and p["rule"].endswith(" < 0.8"), p["rule"]
assert abs(p["metric"]["value"] - wins[6]["accuracy"]) < 1e-9
print("ok: metric trigger:", p["rule"])
PY

log "a stream without the jump fires nothing"
$PY - "$TESTDIR" <<'PY'
import json, random, sys
d = sys.argv[1]
rng = random.Random(8)
with open(f"{d}/calm.jsonl", "w") as f:
    for i in range(12000):
        y = rng.random() < 0.5
        cls = (not y) if rng.random() < 0.1 else y
        f.write(json.dumps({"a": rng.gauss(0, 1), "b": rng.gauss(0, 1), "score": int(cls),
                            "y": int(y)}) + "\n")
PY
"$DRIFTD" replay "$TESTDIR/perf.yaml" --from "$TESTDIR/calm.jsonl" >"$TESTDIR/calm.out" \
    || fail "replay failed"
grep -q '"kind":"performance"' "$TESTDIR/calm.out" && fail "performance trigger on a calm stream"
tail -n 1 "$TESTDIR/calm.out" | grep -q '"performance":{"detections":0' \
    || fail "calm summary: $(tail -n 1 "$TESTDIR/calm.out")"

log "regression: absolute error of a value, any number as the label"
$PY - "$TESTDIR" <<'PY'
import json, random, sys
d = sys.argv[1]
rng = random.Random(9)
with open(f"{d}/reg.jsonl", "w") as f:
    for i in range(8000):
        y = rng.gauss(100, 10)
        noise = rng.gauss(0, 1 if i < 4000 else 3)
        f.write(json.dumps({"a": rng.gauss(0, 1), "b": rng.gauss(0, 1), "score": y + noise,
                            "y": y}) + "\n")
PY
sed -e 's/      detector: adwin/      task: regression\n      detector: adwin/' "$TESTDIR/perf.yaml" \
    >"$TESTDIR/reg.yaml"
"$DRIFTD" replay "$TESTDIR/reg.yaml" --from "$TESTDIR/reg.jsonl" >"$TESTDIR/reg.out" \
    || fail "regression replay failed"
$PY - "$TESTDIR/reg.out" <<'PY'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
trig = [l for l in lines if l["type"] == "trigger" and l["kind"] == "performance"]
assert len(trig) == 1 and 4000 <= trig[0]["pair"] <= 4600, [t["pair"] for t in trig]
e = trig[0]["payload"]["error"]
assert e["kind"] == "absolute" and "threshold" not in e, e
assert 0.6 < e["mean_since_last_detection"] < 1.0, e
assert e["mean_recent"] > 1.2 * e["mean_since_last_detection"], e
assert lines[-1]["malformed"] == 0, lines[-1]
wins = [l for l in lines if l["type"] == "performance_window"]
assert len(wins) == 8 and "mae" in wins[0] and "accuracy" not in wins[0], wins[0]
assert wins[0]["rmse"] < 1.2 < 2.5 < wins[7]["rmse"], (wins[0], wins[7])
print("ok: regression trigger at pair", trig[0]["pair"])
PY
log "replay --labels: late labels from a file, merged by time; expiry on the event clock"
$PY - "$TESTDIR" <<'PY'
import json, random, sys
d = sys.argv[1]
rng = random.Random(12)
t0 = 1700000000
labels = []
with open(f"{d}/jp.jsonl", "w") as p:
    for i in range(6000):
        t = t0 + i  # one prediction per second
        y = rng.random() < 0.5
        wrong = rng.random() < (0.08 if i < 3000 else 0.35)
        cls = (not y) if wrong else y
        p.write(json.dumps({"id": f"q{i}", "a": rng.gauss(0, 1), "b": rng.gauss(0, 1),
                            "score": 0.8 if cls else 0.2, "ts": t}) + "\n")
        if i % 50 != 7:  # 120 predictions never get a label
            labels.append((t + 30 + rng.randint(0, 60), json.dumps(
                {"id": f"q{i}", "y": int(y), "lt": (t + 30 + rng.randint(0, 60)) * 1000})))
labels = [l for _, l in sorted(labels, key=lambda x: x[0])]
labels.insert(10, json.dumps({"id": "nobody", "y": 1, "lt": (t0 + 5) * 1000}))
labels.insert(20, "{broken")
with open(f"{d}/jl.jsonl", "w") as f:
    f.write("\n".join(labels) + "\n")
PY
cat >"$TESTDIR/join.yaml" <<YAML
kafka: {brokers: embedded}
store: {path: $TESTDIR/unused.db}
streams:
  - name: churn
    topic: churn
    features: {a: numeric, b: numeric}
    prediction: score
    id_field: id
    time_field: ts
    window: {size: 1000}
    reference: {from: warmup, size: 1000}
    performance: {detector: adwin, cooldown_pairs: 100000}
    labels: {topic: churn.labels, field: y, time_field: lt, ttl_s: 600}
YAML
"$DRIFTD" replay "$TESTDIR/join.yaml" --from "$TESTDIR/jp.jsonl" --labels "$TESTDIR/jl.jsonl" \
    >"$TESTDIR/join.out" 2>"$TESTDIR/join.err" || fail "replay --labels failed"
"$DRIFTD" replay "$TESTDIR/join.yaml" --from "$TESTDIR/jp.jsonl" --labels "$TESTDIR/jl.jsonl" \
    2>/dev/null | cmp -s - "$TESTDIR/join.out" || fail "replay --labels is not deterministic"
grep -q 'skipped malformed label line' "$TESTDIR/join.err" || fail "bad label line not logged"
$PY - "$TESTDIR/join.out" <<'PY'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
s = lines[-1]["performance"]
# 120 predictions never get a label: the 10 of them within the last ttl (600 s) of the event
# clock are still waiting when the file ends; the other 110 expired.
assert s["matched"] == 5880 and s["expired"] == 110 and s["pending"] == 10, s
assert s["unmatched"] == 1 and s["labels_bad"] == 1 and s["labels_in"] == 5882, s
trig = [l for l in lines if l["type"] == "trigger" and l["kind"] == "performance"]
assert len(trig) == 1 and 2900 <= trig[0]["pair"] <= 3500, [t["pair"] for t in trig]
wins = [l for l in lines if l["type"] == "performance_window"]
assert len(wins) == 5, len(wins)
assert all(30 <= w["label_delay_median_s"] <= 90 and w["label_delay_p95_s"] <= 90 for w in wins), wins
print("ok: replay joined", s["matched"], "labels, expired", s["expired"], "pending", s["pending"],
      "; trigger at pair",
      trig[0]["pair"])
PY
echo PASS
