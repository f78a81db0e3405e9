# `driftd check` refuses a config with a typo, with file:line:column, and accepts the shipped
# configs.
. "$ROOT/tests/integration/lib.sh"

"$DRIFTD" check "$ROOT/configs/demo.yaml"
"$DRIFTD" check "$ROOT/configs/example.yaml"

cat >"$TESTDIR/typo.yaml" <<'YAML'
kafka:
  brokers: embedded
streams:
  - name: s
    topic: t
    features: {a: numeric}
    windw:
      size: 100
    drift: {share: 2}
YAML
if "$DRIFTD" check "$TESTDIR/typo.yaml" >"$TESTDIR/out" 2>"$TESTDIR/err"; then
    fail "check accepted a config with a typo"
fi
cat "$TESTDIR/err"
grep -q "typo.yaml:7:5: unknown key 'windw'" "$TESTDIR/err" || fail "no position for the typo"
grep -q "did you mean 'window'" "$TESTDIR/err" || fail "no suggestion"
grep -q "typo.yaml:9:.*share" "$TESTDIR/err" || fail "second error not reported"

printf 'kafka: {brokers: [a, b\n' >"$TESTDIR/syntax.yaml"
if "$DRIFTD" check "$TESTDIR/syntax.yaml" 2>"$TESTDIR/err2"; then
    fail "check accepted broken YAML"
fi
cat "$TESTDIR/err2"
grep -q "syntax.yaml:[0-9]*:[0-9]*:" "$TESTDIR/err2" || fail "no position for a syntax error"

# run refuses the same file before starting anything.
if "$DRIFTD" run "$TESTDIR/typo.yaml" 2>"$TESTDIR/err3"; then
    fail "run started with a bad config"
fi
grep -q "nothing started" "$TESTDIR/err3" || fail "run did not say it refused the config"
echo PASS
