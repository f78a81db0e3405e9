# Severity and hysteresis: a drift that comes and goes. The trigger is critical when most
# features drift; once the dataset has stayed clear for resolve_after windows, one resolution
# follows with the trigger's key plus ":resolved" (deterministic in replay).
. "$ROOT/tests/integration/lib.sh"

$PY - "$TESTDIR" <<'PY'
import json, random, sys
rng = random.Random(4)
with open(f"{sys.argv[1]}/events.jsonl", "w") as f:
    for i in range(8000):
        shift = 1.5 if 3000 <= i < 5000 else 0.0
        f.write(json.dumps({f"f{j}": rng.gauss(shift if j < 3 else 0, 1) for j in range(4)}) + "\n")
PY
cat >"$TESTDIR/r.yaml" <<YAML
kafka: {brokers: embedded}
store: {path: $TESTDIR/unused.db}
streams:
  - name: s
    topic: s
    features: {f0: numeric, f1: numeric, f2: numeric, f3: numeric}
    window: {size: 500}
    reference: {size: 1000}
    drift: {share: 0.25}
    trigger: {consecutive: 2, cooldown_windows: 100, critical_share: 0.5, resolve_after: 2}
YAML
"$DRIFTD" replay "$TESTDIR/r.yaml" --from "$TESTDIR/events.jsonl" >"$TESTDIR/out.jsonl" \
    || fail "replay failed"
$PY - "$TESTDIR/out.jsonl" <<'PY'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
trig = [l for l in lines if l["type"] == "trigger"]
assert [t["kind"] for t in trig] == ["data_drift", "resolved"], [t["kind"] for t in trig]
fire, res = trig
assert fire["payload"]["severity"] == "critical", fire["payload"]["dataset"]   # 3 of 4 drift
wins = {l["index"]: l for l in lines if l["type"] == "window"}
# The drift covers events 3000-4999 = windows 4..7; two clear windows (8, 9) resolve it at 9.
assert fire["window"] == 5 and res["window"] == 9, (fire["window"], res["window"])
assert not wins[8]["dataset_drift"] and not wins[9]["dataset_drift"]
p = res["payload"]
assert p["status"] == "resolved" and p["resolves"] == fire["idempotency_key"], p
assert res["idempotency_key"] == fire["idempotency_key"] + ":resolved", res
assert p["severity"] == "critical" and p["clear_windows"] == 2, p
print("ok: critical trigger at window", fire["window"], "resolved at", res["window"])
PY
echo PASS
