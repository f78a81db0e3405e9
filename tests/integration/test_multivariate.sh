# Drift that lives only in the relation between two features, end to end through the real
# driftd: f0 and f1 stay N(0, 1) each while their correlation turns from +0.8 to -0.8. The
# per-feature tests see nothing; the multivariate section fires a trigger whose evidence names
# the pair (correlation), the features carrying the reconstruction error (pca), and Hotelling's
# contributions. Without the section, the same stream fires nothing.
. "$ROOT/tests/integration/lib.sh"

start_kafka --topic feats:1
start_receiver 0
conf() { # GROUP DB MULTIVARIATE_LINE
    cat <<YAML
kafka: {brokers: $BOOTSTRAP, group: $1}
store: {path: $TESTDIR/$2}
streams:
  - name: feats
    topic: feats
    features: {f0: numeric, f1: numeric, f2: numeric, f3: numeric}
    window: {size: 1000}
    reference: {size: 3000}
    trigger: {consecutive: 2, cooldown_windows: 1000}
    webhook: {url: "$RECEIVER_URL"}
$3
YAML
}
conf it-mv-on on.db "    multivariate: {tests: [hotelling, correlation, pca], correlation_threshold: 0.5}" \
    >"$TESTDIR/on.yaml"
conf it-mv-off off.db "" >"$TESTDIR/off.yaml"
"$DRIFTD" check "$TESTDIR/on.yaml"
"$DRIFTD" gen --dims 4 --corr-flip --events 9000 --drift-at 5000 --seed 11 --key \
    | kcat -P -b "$BOOTSTRAP" -t feats -K "$(printf '\t')"

for mode in off on; do
    DRIFTD_STATS_INTERVAL_MS=200 "$DRIFTD" run "$TESTDIR/$mode.yaml" 2>"$TESTDIR/$mode.log" &
    DPID=$!
    PIDS="$PIDS $DPID"
    wait_for 60 "all consumed ($mode)" grep -q 'msg="stream stats".* consumed=9000 ' "$TESTDIR/$mode.log"
    wait_for 10 "windows closed ($mode)" grep -q 'msg="stream stats".* windows=6 ' "$TESTDIR/$mode.log"
    if [ $mode = on ]; then
        wait_for 20 "a delivered trigger" grep -q 'msg="webhook delivered"' "$TESTDIR/on.log"
    fi
    kill -TERM $DPID
    wait $DPID || fail "driftd ($mode) exited non-zero"
done
[ "$(sqlite3 "$TESTDIR/off.db" 'select count(*) from triggers')" = 0 ] \
    || fail "the univariate tests fired on unchanged marginals"
[ "$(sqlite3 "$TESTDIR/on.db" 'select count(*) from triggers')" = 1 ] || fail "no single trigger"
$PY - "$TESTDIR/received.jsonl" <<'PY'
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
assert len(recs) == 1, len(recs)
b = recs[0]["body"]
assert b["kind"] == "data_drift", b["kind"]
assert b["drifted_features"] == [], b["drifted_features"]    # no feature moved on its own
mv = b["multivariate"]
c = mv["correlation"]
assert c["drifted"] and c["max_delta"] > 1.2, c
assert c["top"][0]["features"] == ["f0", "f1"] and c["top"][0]["delta"] < -1.2, c["top"][0]
p = mv["pca"]
assert p["drifted"] and p["error"] > p["upper"], p
assert {t["feature"] for t in p["top"][:2]} == {"f0", "f1"}, p["top"]
h = mv["hotelling"]
assert set(h) >= {"t2", "pvalue", "df", "top"} and h["df"][0] == 4, h
print(f"ok: no univariate verdict; correlation f0-f1 moved {c['top'][0]['delta']:.3f}; "
      f"PCA error {p['error']:.3f} above {p['upper']:.3f} ({p['components']} components); "
      f"Hotelling p {h['pvalue']:.3g}")
PY
echo PASS
