# `driftd score` against scipy/numpy goldens (tests/golden/gen_score.py), and its handling of
# unusable input: a missing file, a ragged row, an unclosed quote, no common column, a header
# only; plus a 1-row file, which is usable.
. "$ROOT/tests/integration/lib.sh"
G="$ROOT/tests/golden"

"$DRIFTD" score --reference "$G/score_ref.csv" --current "$G/score_cur.csv" --format json \
    >"$TESTDIR/score.json" || fail "score failed"
$PY - "$TESTDIR/score.json" "$G/score_expected.json" <<'PY'
import json, math, sys
got = json.load(open(sys.argv[1]))
want = json.load(open(sys.argv[2]))
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
        assert f["missing"] == w["missing"], (f["missing"], w["missing"])
assert feats["normal"]["drift"] is True and feats["const"]["drift"] is False
print("ok:", len(want), "columns agree with scipy/numpy; dataset", got["dataset"])
PY

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

log "a 1-row current file is usable"
printf 'normal,colour\n0.5,red\n' >"$TESTDIR/one.csv"
"$DRIFTD" score -r "$G/score_ref.csv" -c "$TESTDIR/one.csv" --format json >"$TESTDIR/one.json" \
    || fail "1-row file refused"
$PY -c "
import json; d=json.load(open('$TESTDIR/one.json'))
assert d['current_rows']==1 and len(d['features'])==2, d
print('ok: 1-row file', [f['rule'] for f in d['features']])"
echo PASS
