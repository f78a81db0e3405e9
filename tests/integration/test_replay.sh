# `driftd replay` is a deterministic backtest: the same file gives byte-identical timelines; it
# finds the drift, counts malformed lines by reason, and works with a CSV reference file too.
. "$ROOT/tests/integration/lib.sh"

"$DRIFTD" gen --dims 6 --events 20000 --drift-at 12000 --seed 3 --bad-every 101 \
    >"$TESTDIR/events.jsonl"
cat >"$TESTDIR/replay.yaml" <<YAML
kafka: {brokers: embedded}
store: {path: $TESTDIR/unused.db}
streams:
  - name: r
    topic: r
    features: {f0: numeric, f1: numeric, f2: numeric, f3: numeric, f4: numeric, f5: numeric}
    label: label
    window: {size: 1000}
    reference: {from: warmup, size: 4000}
    drift: {share: 0.3}
    trigger: {consecutive: 2, cooldown_windows: 100}
    learner: {kind: logistic, publish_every: 5000}
YAML
"$DRIFTD" replay "$TESTDIR/replay.yaml" --from "$TESTDIR/events.jsonl" >"$TESTDIR/a.jsonl" \
    2>"$TESTDIR/a.err"
"$DRIFTD" replay "$TESTDIR/replay.yaml" --from "$TESTDIR/events.jsonl" >"$TESTDIR/b.jsonl" 2>/dev/null
cmp "$TESTDIR/a.jsonl" "$TESTDIR/b.jsonl" || fail "replay is not deterministic"
grep -q 'skipped malformed line' "$TESTDIR/a.err" || fail "malformed lines not logged"

$PY - "$TESTDIR/a.jsonl" <<'PY'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
summary = lines[-1]
assert summary["type"] == "summary", summary
assert summary["lines"] == 20000, summary
bad = 20000 // 101
assert summary["malformed"] == bad and summary["events"] == 20000 - bad, summary
assert set(summary["malformed_by_reason"]) == {"invalid_json", "not_an_object", "wrong_type", "empty"}, summary
windows = [l for l in lines if l["type"] == "window"]
assert len(windows) == summary["windows"] == (20000 - bad - 4000) // 1000
first = next(w for w in windows if w["dataset_drift"])
# Line 12000 is event ~11881; reference 4000, windows of 1000 → first drifted window #7 or #8.
assert first["index"] in (7, 8), first
assert set(first["drifted"]) == {"f0", "f1"}, first["drifted"]
assert not any(w["dataset_drift"] for w in windows if w["last_event"] < 11800), "false alarm"
trig = [l for l in lines if l["type"] == "trigger"]
assert len(trig) == 1 and trig[0]["window"] == first["index"] + 1, trig
assert "detected_at" not in trig[0]["payload"], "replay payload must not carry wall-clock time"
mu = [l for l in lines if l["type"] == "model_update"]
assert len(mu) == 3 and summary["model_updates"] == 3, len(mu)
print("ok: first drift window", first["index"], "trigger", trig[0]["idempotency_key"])
PY

log "CSV reference file"
$PY - "$TESTDIR/events.jsonl" "$TESTDIR/ref.csv" <<'PY'
import json, sys
out = open(sys.argv[2], "w")
out.write("f0,f1,f2,f3,f4,f5,extra\n")
n = 0
for line in open(sys.argv[1]):
    try:
        e = json.loads(line)
    except ValueError:
        continue
    if not isinstance(e, dict) or not isinstance(e.get("f0"), float):
        continue
    out.write(",".join(str(e[f"f{j}"]) for j in range(6)) + ",x\n")
    n += 1
    if n == 5000:
        break
PY
sed -e 's/reference: {from: warmup, size: 4000}/reference: {from: file, path: ref.csv}/' \
    "$TESTDIR/replay.yaml" >"$TESTDIR/csvref.yaml"
"$DRIFTD" replay "$TESTDIR/csvref.yaml" --from "$TESTDIR/events.jsonl" >"$TESTDIR/c.jsonl" 2>/dev/null
$PY - "$TESTDIR/c.jsonl" <<'PY'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
ref = [l for l in lines if l["type"] == "reference"]
assert ref and ref[0]["events"] == 5000, ref
windows = [l for l in lines if l["type"] == "window"]
# With a file reference every event is windowed: 19802 events → 19 windows.
assert len(windows) == 19, len(windows)
first = next(w for w in windows if w["dataset_drift"])
assert first["index"] in (11, 12), first
print("ok: csv reference, first drift window", first["index"])
PY

log "bad reference file is a clear error"
printf 'f0,f1\n1,2\n' >"$TESTDIR/short.csv"
sed -e 's/reference: {from: warmup, size: 4000}/reference: {from: file, path: short.csv}/' \
    "$TESTDIR/replay.yaml" >"$TESTDIR/short.yaml"
if "$DRIFTD" replay "$TESTDIR/short.yaml" --from "$TESTDIR/events.jsonl" >/dev/null 2>"$TESTDIR/short.err"; then
    fail "replay accepted a reference without the features"
fi
grep -q "no column for feature 'f2'" "$TESTDIR/short.err" || fail "$(cat "$TESTDIR/short.err")"
echo PASS
