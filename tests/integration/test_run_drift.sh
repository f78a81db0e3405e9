# The real driftd against a local Kafka-protocol cluster, a real HTTP receiver that fails the
# first two deliveries, and a real SQLite file. A stream of 12000 lines (every 97th malformed)
# drifts at line 6000 in f0 and f1. Asserts: drift found within a bounded number of windows of
# the change, exactly one trigger, exactly one accepted webhook after two refusals (same
# idempotency key each time), the SQLite rows, malformed lines counted by reason while the rest
# is processed, and model updates published to Kafka.
. "$ROOT/tests/integration/lib.sh"

start_kafka --topic feats:1 --topic feats.dlq:1
start_receiver 2

cat >"$TESTDIR/driftd.yaml" <<YAML
kafka:
  brokers: $BOOTSTRAP
  group: it-run
store:
  path: $TESTDIR/driftd.db
log:
  level: info
streams:
  - name: feats
    topic: feats
    dead_letter_topic: feats.dlq
    features: {f0: numeric, f1: numeric, f2: numeric, f3: numeric,
               f4: numeric, f5: numeric, f6: numeric, f7: numeric}
    label: label
    time_field: ts
    window: {type: tumbling, size: 500}
    reference: {from: warmup, size: 2000}
    drift: {psi: 0.2, ks_alpha: 0.001, share: 0.2}
    trigger: {name: retrain, consecutive: 2, cooldown_windows: 1000}
    webhook: {url: "$RECEIVER_URL", backoff_base_ms: 50, backoff_max_ms: 200}
    learner: {kind: logistic, publish_every: 2000, topic: feats.model}
YAML
"$DRIFTD" check "$TESTDIR/driftd.yaml"

log "producing 12000 lines (123 malformed), drift at line 6000"
"$DRIFTD" gen --dims 8 --events 12000 --drift-at 6000 --seed 7 --bad-every 97 --key \
    | kcat -P -b "$BOOTSTRAP" -t feats -K "$(printf '\t')"

DRIFTD_STATS_INTERVAL_MS=200 "$DRIFTD" run "$TESTDIR/driftd.yaml" 2>"$TESTDIR/driftd.log" &
DPID=$!
PIDS="$PIDS $DPID"

wait_for 60 "all 12000 messages consumed" grep -q 'msg="stream stats".* consumed=12000 ' "$TESTDIR/driftd.log"
wait_for 30 "an accepted webhook" grep -q '"status": 200' "$TESTDIR/received.jsonl"
wait_for 10 "delivery recorded" grep -q 'msg="webhook delivered"' "$TESTDIR/driftd.log"
kill -TERM $DPID
wait $DPID || fail "driftd exited non-zero after SIGTERM"
cat "$TESTDIR/driftd.log" | tail -n 5

log "final stats"
stats=$(grep 'msg="final stream stats"' "$TESTDIR/driftd.log")
echo "$stats"
echo "$stats" | grep -q ' events=11877 ' || fail "expected 11877 good events: $stats"
echo "$stats" | grep -q ' malformed=123 ' || fail "expected 123 malformed: $stats"
for r in invalid_json not_an_object wrong_type empty; do
    echo "$stats" | grep -q "bad_$r=" || fail "no count for reason $r: $stats"
done
log "dead letters: every skipped message, unchanged, with its reason"
kcat -C -b "$BOOTSTRAP" -t feats.dlq -o beginning -e -q -f '%h\t%s\n' >"$TESTDIR/dlq.tsv"
[ "$(count_lines "$TESTDIR/dlq.tsv")" = 123 ] || fail "dead letters: $(count_lines "$TESTDIR/dlq.tsv")"
for r in invalid_json not_an_object wrong_type empty; do
    grep -q "driftd-reason=$r," "$TESTDIR/dlq.tsv" || fail "no dead letter with reason $r"
done
grep -q "driftd-topic=feats,driftd-partition=0,driftd-offset=" "$TESTDIR/dlq.tsv" \
    || fail "dead letters lack their origin"
grep -q 'msg="skipped malformed message" .*reason=invalid_json' "$TESTDIR/driftd.log" \
    || fail "malformed message not logged"
n=$(grep -c 'msg="skipped malformed message"' "$TESTDIR/driftd.log")
[ "$n" -le 10 ] || fail "malformed messages logged $n times; expected rate-limited (<= 10)"

log "webhook: three requests, one accepted, one idempotency key"
$PY - "$TESTDIR/received.jsonl" <<'PY'
import json, sys
reqs = [json.loads(l) for l in open(sys.argv[1])]
assert len(reqs) == 3, f"expected 3 requests (2 refused + 1 accepted), got {len(reqs)}"
assert [r["status"] for r in reqs] == [503, 503, 200], [r["status"] for r in reqs]
keys = {r["idempotency_key"] for r in reqs}
assert len(keys) == 1 and None not in keys, keys
b = reqs[-1]["body"]
assert b["idempotency_key"] == keys.pop()
assert b["stream"] == "feats" and b["kind"] == "data_drift", b
drifted = sorted(f["feature"] for f in b["drifted_features"])
assert drifted == ["f0", "f1"], f"drifted features {drifted}, expected f0 and f1"
for f in b["drifted_features"]:
    assert f["psi"] > 0.2 or f["ks_pvalue"] < 0.001, f
w = b["window"]
# Line 6000 is event ~5939 after the malformed lines; with a 2000-event reference and windows of
# 500 the first fully drifted window is #8 and the trigger (2 in a row) fires at #9.
assert 8 <= w["index"] <= 10, f"trigger window {w['index']} not within 2 windows of the change"
assert w["first_event"] <= 6500 <= w["last_event"] + 1500, w
assert w["offsets"] and w["offsets"][0]["partition"] == 0, w
assert "event_time_start" in w, w
print("ok: trigger window", w["index"], "drifted", drifted, "share", b["dataset"]["share"])
PY

log "SQLite rows"
[ "$(sqlite3 "$TESTDIR/driftd.db" 'select count(*) from triggers')" = 1 ] || fail "triggers != 1"
[ "$(sqlite3 "$TESTDIR/driftd.db" "select status||':'||attempts from outbox")" = "done:3" ] \
    || fail "outbox row: $(sqlite3 "$TESTDIR/driftd.db" 'select * from outbox')"
nsig=$(sqlite3 "$TESTDIR/driftd.db" 'select count(*) from signals')
[ "$nsig" = 17 ] || fail "signals: $nsig, expected 8 features x (psi, ks) + share = 17"
key=$(sqlite3 "$TESTDIR/driftd.db" 'select idem_key from triggers')
grep -q "\"idempotency_key\": \"$key\"" "$TESTDIR/received.jsonl" || fail "key mismatch"

log "model updates on Kafka"
kcat -C -b "$BOOTSTRAP" -t feats.model -o beginning -e -q >"$TESTDIR/model.jsonl"
nm=$(count_lines "$TESTDIR/model.jsonl")
[ "$nm" -ge 3 ] || fail "expected >= 3 model updates, got $nm"
$PY -c "
import json,sys
m=[json.loads(l) for l in open('$TESTDIR/model.jsonl')]
assert all(x['type']=='driftd.model_update' and len(x['weights'])==8 for x in m)
assert m[-1]['version']==len(m), [x['version'] for x in m]
offs = m[-1]['trained_through_offsets']
assert offs and all(int(k) >= 0 and v >= 0 for k, v in offs.items()), offs
assert m[-1]['trained_through_time'].endswith('Z') and m[-1]['published_at'].endswith('Z'), m[-1]
print('ok: model updates', len(m), 'last log-loss', m[-1]['metrics']['prequential_log_loss'])
"

log "the model registry: every update in SQLite, byte for byte what Kafka got"
"$DRIFTD" model list feats --config "$TESTDIR/driftd.yaml" >"$TESTDIR/models.txt"
[ "$(($(count_lines "$TESTDIR/models.txt") - 1))" = "$nm" ] \
    || fail "registry has other versions than Kafka: $(cat "$TESTDIR/models.txt")"
"$DRIFTD" model export feats --db "$TESTDIR/driftd.db" >"$TESTDIR/latest.json"
[ "$(cat "$TESTDIR/latest.json")" = "$(tail -n 1 "$TESTDIR/model.jsonl")" ] \
    || fail "export differs from the last published update"
"$DRIFTD" model export feats --db "$TESTDIR/driftd.db" --version 1 >"$TESTDIR/v1.json"
[ "$(cat "$TESTDIR/v1.json")" = "$(head -n 1 "$TESTDIR/model.jsonl")" ] || fail "version 1 differs"
"$DRIFTD" model show feats --db "$TESTDIR/driftd.db" | grep -q "^f0 " || fail "show lists no weights"
if "$DRIFTD" model export feats --db "$TESTDIR/driftd.db" --version 999 2>"$TESTDIR/err.txt"; then
    fail "a missing version exported"
fi
grep -q "stream feats has no version 999" "$TESTDIR/err.txt" || fail "unclear: $(cat "$TESTDIR/err.txt")"
echo PASS
