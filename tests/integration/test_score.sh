# `driftd score` against scipy/numpy goldens (tests/golden/gen_score.py), from CSV and from JSON
# lines, with and without p-value correction; and its handling of unusable input: a missing
# file, a ragged row, an unclosed quote, bad JSON, no common column, a header only, bad options;
# plus a 1-row file, which is usable.
. "$ROOT/tests/integration/lib.sh"
G="$ROOT/tests/golden"

check() { # check OUTPUT.json [CORRECTION]
    $PY - "$1" "$G/score_expected.json" "${2:-none}" <<'PY'
import json, math, sys
got = json.load(open(sys.argv[1]))
want = json.load(open(sys.argv[2]))
corr = sys.argv[3]
feats = {f["name"]: f for f in got["features"]}
assert got["reference_rows"] == 3000 and got["current_rows"] == 2000, got
assert set(feats) == set(want), (set(feats), set(want))

def close(a, b, rel, what):
    assert a is not None and abs(a - b) <= rel * abs(b) + 1e-12, f"{what}: {a} vs {b}"

for name, w in want.items():
    f = feats[name]
    if w.get("empty"):
        assert f["drift"] is False and "all missing in the current file" in f["rule"], f
        continue
    for k in ["psi", "kl", "js", "hellinger"]:
        close(f[k], w[k], 1e-9, f"{name}.{k}")
    if name == "colour":
        assert f["type"] == "categorical", f
        close(f["chi2"]["statistic"], w["chi2"]["statistic"], 1e-9, "chi2")
        close(f["chi2"]["p_value"], w["chi2"]["p_value"], 1e-7, "chi2 p")
        assert f["chi2"]["dof"] == w["chi2"]["dof"]
        close(f["linf"], w["linf"], 1e-12, "linf")
        close(f["unseen_share"], w["unseen_share"], 1e-12, "unseen")
    else:
        assert f["type"] == "numeric", f
        close(f["ks"]["statistic"], w["ks"]["statistic"], 1e-12, f"{name}.ks")
        close(f["ks"]["p_value"], w["ks"]["p_value"], 1e-6, f"{name}.ks p")
        close(f["wasserstein"]["distance"], w["wasserstein"]["distance"], 1e-9, f"{name}.w")
        close(f["wasserstein"]["normalized"], w["wasserstein"]["normalized"], 1e-9, f"{name}.wn")
        close(f["cvm"]["statistic"], w["cvm"]["statistic"], 1e-10, f"{name}.cvm")
        close(f["cvm"]["p_value"], w["cvm"]["p_value"], 1e-6, f"{name}.cvm p")
        if w["anderson"]["statistic"] is None:
            assert f["anderson"] == {"statistic": None, "p_value": None}, f["anderson"]
        else:
            close(f["anderson"]["statistic"], w["anderson"]["statistic"], 1e-10, f"{name}.ad")
            close(f["anderson"]["p_value"], w["anderson"]["p_value"], 1e-8, f"{name}.ad p")
        assert f["missing"] == w["missing"], (f["missing"], w["missing"])
    if corr == "none":
        assert "p_adjusted" not in f and f["rule"].endswith("p_value < 0.05"), f
    else:
        close(f["p_adjusted"], w["p_" + corr], 1e-9, f"{name}.p_{corr}")
        assert f["drift"] == (f["p_adjusted"] < 0.05), f
assert feats["normal"]["drift"] is True and feats["const"]["drift"] is False
# Bonferroni over 5 tests takes the heavy-tailed column (KS p = 0.042) below the line.
assert corr == "none" or feats["cauchy"]["drift"] is False, feats["cauchy"]
assert got["dataset"]["correction"] == corr, got["dataset"]
print("ok:", len(want), "columns agree with scipy/numpy; correction", corr, got["dataset"])
PY
}
"$DRIFTD" score --reference "$G/score_ref.csv" --current "$G/score_cur.csv" --format json \
    >"$TESTDIR/score.json" || fail "score failed"
check "$TESTDIR/score.json" || fail "CSV output differs from scipy"
for corr in bh bonferroni; do
    "$DRIFTD" score -r "$G/score_ref.csv" -c "$G/score_cur.csv" --format json --correction $corr \
        >"$TESTDIR/score_$corr.json" || fail "score --correction $corr failed"
    check "$TESTDIR/score_$corr.json" $corr || fail "--correction $corr differs"
done

log "JSON lines input gives the same numbers"
"$DRIFTD" score -r "$G/score_ref.jsonl" -c "$G/score_cur.jsonl" --format json \
    >"$TESTDIR/score_jsonl.json" || fail "score on JSON lines failed"
check "$TESTDIR/score_jsonl.json" || fail "JSON lines output differs from scipy"
cmp -s "$TESTDIR/score.json" "$TESTDIR/score_jsonl.json" || fail "CSV and JSON lines differ"

log "--test cvm decides by the Cramer-von Mises p-value"
"$DRIFTD" score -r "$G/score_ref.csv" -c "$G/score_cur.csv" --format json --test cvm \
    >"$TESTDIR/cvm.json" || fail "score --test cvm failed"
$PY -c "
import json; d=json.load(open('$TESTDIR/cvm.json'))
f={x['name']: x for x in d['features']}
assert f['normal']['rule']=='cvm p_value < 0.05' and f['normal']['drift'], f['normal']
assert f['colour']['rule'].startswith('chi2'), f['colour']
assert d['dataset']['test']=='cvm'
print('ok: --test cvm')"

log "table output"
"$DRIFTD" score -r "$G/score_ref.csv" -c "$G/score_cur.csv" --format table >"$TESTDIR/t.txt"
grep -q "^normal .*DRIFT" "$TESTDIR/t.txt" || fail "table: $(cat "$TESTDIR/t.txt")"
grep -q "^dataset:" "$TESTDIR/t.txt" || fail "no dataset line"

log "bad input"
expect_fail() { # expect_fail MESSAGE-PATTERN ARGS...
    pat=$1; shift
    if "$DRIFTD" score "$@" >/dev/null 2>"$TESTDIR/err"; then fail "accepted: $*"; fi
    grep -q "$pat" "$TESTDIR/err" || fail "message for $*: $(cat "$TESTDIR/err")"
}
printf 'normal,colour\n1,red\n3\n' >"$TESTDIR/ragged.csv"
printf 'normal,colour\n1,"red\n' >"$TESTDIR/quote.csv"
printf 'q\n1\n' >"$TESTDIR/other.csv"
printf 'a,b\n' >"$TESTDIR/header.csv"
expect_fail "nope.csv: No such file" -r "$TESTDIR/nope.csv" -c "$G/score_cur.csv"
expect_fail "ragged.csv:3: 1 fields, but the header has 2" -r "$TESTDIR/ragged.csv" -c "$G/score_cur.csv"
expect_fail "quote.csv:2: unclosed quote" -r "$TESTDIR/quote.csv" -c "$G/score_cur.csv"
expect_fail "no column in common" -r "$TESTDIR/other.csv" -c "$G/score_cur.csv"
expect_fail "no data rows" -r "$TESTDIR/header.csv" -c "$G/score_cur.csv"
expect_fail "usage" -r "$G/score_ref.csv"
expect_fail "bins must be" -r "$G/score_ref.csv" -c "$G/score_cur.csv" --bins 1
expect_fail "test must be ks, cvm or anderson" -r "$G/score_ref.csv" -c "$G/score_cur.csv" --test t
expect_fail "correction must be none, bonferroni or bh" -r "$G/score_ref.csv" \
    -c "$G/score_cur.csv" --correction holm
printf '{"normal": 1, "colour": "red"}\n{"normal": 2 "colour": "red"}\n' >"$TESTDIR/bad.jsonl"
expect_fail "bad.jsonl:2:14: expected ',' or '}'" -r "$TESTDIR/bad.jsonl" -c "$G/score_cur.jsonl"
printf '{"normal": 1}\n[1, 2]\n' >"$TESTDIR/arr.jsonl"
expect_fail "arr.jsonl:2:1: expected a JSON object" -r "$TESTDIR/arr.jsonl" -c "$G/score_cur.jsonl"

log "a 1-row current file is usable"
printf 'normal,colour\n0.5,red\n' >"$TESTDIR/one.csv"
"$DRIFTD" score -r "$G/score_ref.csv" -c "$TESTDIR/one.csv" --format json >"$TESTDIR/one.json" \
    || fail "1-row file refused"
$PY -c "
import json; d=json.load(open('$TESTDIR/one.json'))
assert d['current_rows']==1 and len(d['features'])==2, d
print('ok: 1-row file', [f['rule'] for f in d['features']])"
echo PASS
