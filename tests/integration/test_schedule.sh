# A scheduled trigger: every 2 s of wall clock (aligned to the epoch) the real driftd records a
# trigger of kind "schedule" and delivers it; each slot once, with a key derived from the slot.
# A bad cron expression is refused by `driftd check` with its position.
. "$ROOT/tests/integration/lib.sh"

start_kafka --topic feats:1
start_receiver 0
cat >"$TESTDIR/driftd.yaml" <<YAML
kafka: {brokers: $BOOTSTRAP, group: it-sched}
store: {path: $TESTDIR/driftd.db}
streams:
  - name: feats
    topic: feats
    features: {f0: numeric}
    schedule: {every_s: 2, name: nightly}
    webhook: {url: "$RECEIVER_URL", format: slack}
YAML
"$DRIFTD" check "$TESTDIR/driftd.yaml"
"$DRIFTD" run "$TESTDIR/driftd.yaml" 2>"$TESTDIR/driftd.log" &
DPID=$!
PIDS="$PIDS $DPID"
wait_for 30 "three scheduled deliveries" sh -c "[ \$(grep -c '\"status\": 200' '$TESTDIR/received.jsonl' 2>/dev/null || echo 0) -ge 3 ]"
kill -TERM $DPID
wait $DPID || fail "driftd exited non-zero"
$PY - "$TESTDIR/driftd.db" "$TESTDIR/received.jsonl" <<'PY'
import json, sqlite3, sys
rows = sqlite3.connect(sys.argv[1]).execute(
    "select idem_key, kind, rule, payload from triggers order by id").fetchall()
assert len(rows) >= 3 and all(r[1] == "schedule" and r[2] == "nightly" for r in rows), rows
slots = [json.loads(r[3])["scheduled_for"] for r in rows]
assert len(set(slots)) == len(slots) and len({r[0] for r in rows}) == len(rows), slots
secs = [int(s[17:19]) for s in slots]          # ...THH:MM:SS.000Z
assert all(s % 2 == 0 for s in secs), slots     # aligned to the epoch
recs = [json.loads(l) for l in open(sys.argv[2])]
assert all(r["body"]["text"].startswith("Scheduled retraining") for r in recs), recs[0]["body"]
print("ok:", len(rows), "scheduled triggers at", slots)
PY
sed -e 's/schedule: {every_s: 2, name: nightly}/schedule: {cron: "0 25 * * *"}/' \
    "$TESTDIR/driftd.yaml" >"$TESTDIR/bad.yaml"
if "$DRIFTD" check "$TESTDIR/bad.yaml" 2>"$TESTDIR/bad.err"; then fail "bad cron accepted"; fi
grep -q 'bad.yaml:7:22: streams\[0\].schedule.cron hour: 25-25 is outside 0-23' "$TESTDIR/bad.err" \
    || fail "$(cat "$TESTDIR/bad.err")"
echo PASS
