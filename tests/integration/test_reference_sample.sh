# A reference file longer than reference.sample: the rank tests use a fixed-seed uniform sample,
# while the bins (quantile-sketch edges, every row counted), the moments and the category counts
# describe every row. Checked against numpy on the whole file and against the exact path (a
# sample as large as the file); deterministic from run to run.
. "$ROOT/tests/integration/lib.sh"

$PY - "$TESTDIR" <<'PY'
import json, sys
import numpy as np
d = sys.argv[1]
rng = np.random.default_rng(6)
n = 30000
x = rng.standard_cauchy(n)
x[::97] = np.nan
y = rng.normal(size=n)
c = rng.choice(["a", "b", "c", "d"], size=n, p=[.4, .3, .2, .1])
with open(f"{d}/ref.csv", "w") as f:
    f.write("x,y,c\n")
    for i in range(n):
        f.write(("" if np.isnan(x[i]) else repr(float(x[i]))) + f",{float(y[i])!r},{c[i]}\n")
with open(f"{d}/cur.jsonl", "w") as f:
    for i in range(3000):
        f.write(json.dumps({"x": float(rng.standard_cauchy()),
                            "y": float(rng.normal(0.5 if i >= 1000 else 0)),
                            "c": str(rng.choice(["a", "b", "c", "d", "e"]))}) + "\n")
json.dump({"x_mean": float(np.nanmean(x)), "x_std": float(np.nanstd(x)),
           "y_mean": float(np.mean(y)), "y_std": float(np.std(y))}, open(f"{d}/want.json", "w"))
PY
for S in 1000 100000; do
    cat >"$TESTDIR/s$S.yaml" <<YAML
kafka: {brokers: embedded}
store: {path: $TESTDIR/unused.db}
streams:
  - name: r
    topic: r
    features: {x: numeric, y: numeric, c: categorical}
    window: {size: 1000}
    reference: {from: file, path: ref.csv, sample: $S, sketch_k: 64}
YAML
    "$DRIFTD" replay "$TESTDIR/s$S.yaml" --from "$TESTDIR/cur.jsonl" >"$TESTDIR/s$S.jsonl" \
        || fail "replay with reference.sample $S failed"
done
"$DRIFTD" replay "$TESTDIR/s1000.yaml" --from "$TESTDIR/cur.jsonl" >"$TESTDIR/again.jsonl"
cmp "$TESTDIR/s1000.jsonl" "$TESTDIR/again.jsonl" || fail "a sampled reference is not deterministic"

$PY - "$TESTDIR" <<'PY'
import json, math, sys
d = sys.argv[1]
want = json.load(open(f"{d}/want.json"))
def load(name):
    lines = [json.loads(l) for l in open(f"{d}/{name}")]
    trig = [l for l in lines if l["type"] == "trigger"]
    assert len(trig) == 1, [l["type"] for l in lines]
    pay = trig[0]["payload"]
    wins = [l for l in lines if l["type"] == "window"]
    return lines[0], pay, {f["feature"]: f for f in pay["features"]}, wins
ref_s, pay_s, fs, wins_s = load("s1000.jsonl")
ref_e, pay_e, fe, wins_e = load("s100000.jsonl")
assert ref_s["events"] == ref_e["events"] == 30000, (ref_s, ref_e)
assert pay_s["reference"] == {"source": "file", "events": 30000, "rank_test_sample": 1000}, \
    pay_s["reference"]
assert pay_e["reference"] == {"source": "file", "events": 30000}, pay_e["reference"]
# Moments over every row, not the sample: equal to numpy on the whole file either way.
for f in ("x", "y"):
    for got in (fs[f], fe[f]):
        for k, w in (("reference_mean", want[f + "_mean"]), ("reference_std", want[f + "_std"])):
            assert math.isclose(got[k], w, rel_tol=1e-7), (f, k, got[k], w)
# The sketch's bound is reported, and it is what the documentation promises at n = 30000, k = 64.
n, k = 30000, 64
for f in ("x", "y"):
    e = fs[f]["reference_edges_rank_error"]
    nv = 30000 - len(range(0, 30000, 97)) if f == "x" else 30000
    assert 0 < e <= math.log2(nv / k) / k * (1 + 1 / math.log2(nv / k)), (f, e)
    assert "reference_edges_rank_error" not in fe[f], fe[f]
# Category counts are exact: identical categorical PSI in every window.
for a, b in zip(wins_s, wins_e):
    assert a["features"]["c"]["psi"] == b["features"]["c"]["psi"], (a, b)
# Edges within the bound of the exact ones: numeric PSI close to the exact path's, the same
# verdicts; the drift in y is found either way (KS against the 1000-row sample).
for a, b in zip(wins_s, wins_e):
    for f in ("x", "y"):
        pa, pb = a["features"][f]["psi"], b["features"][f]["psi"]
        assert abs(pa - pb) < 0.05, (a["index"], f, pa, pb)
    assert a["dataset_drift"] == b["dataset_drift"], (a, b)
assert [w["dataset_drift"] for w in wins_s] == [False, True, True], wins_s
assert "y" in wins_s[1]["drifted"] and "y" in wins_s[2]["drifted"]
print("ok: 30000-row reference, 1000-row sample; y psi", wins_s[2]["features"]["y"]["psi"],
      "vs exact", wins_e[2]["features"]["y"]["psi"], "; x edge bound", fs["x"]["reference_edges_rank_error"])
PY
echo PASS
