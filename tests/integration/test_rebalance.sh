# Partitions moving between instances: two driftd instances (store.instance a and b, one
# consumer group, one SQLite file) share a topic of 4 partitions, while producers keep writing
# to every partition. A consumes alone; B joins (the group rebalances: A checkpoints on revoke,
# B resumes the partitions it takes at the offsets A stored); A is stopped with SIGTERM (its
# partitions move to B); the producers stop, B drains the topic and is stopped. Asserts that no
# event was processed twice and none was lost: each instance counts the events it processed in
# its own pipeline (restore loads only its own instance's checkpoint, and each instance starts
# fresh here), so the two final counts must add up to exactly the number produced, both in
# messages consumed and in events decoded; the offsets table ends at the produced count of every
# partition; every partition B took over resumed from a stored offset, not from the start; and
# B, joining with no state of its own, adopted A's reference instead of warming one up.
# About 25 s: each rebalance of the local cluster takes about 5 s.
#
# With REVOKE_BUSY=1 (test_rebalance_busy.sh) another process holds a write lock on the state
# file while b joins, so a cannot checkpoint before giving partitions up: a must go back to its
# last checkpoint (and seek the partitions it keeps), b resumes there (from the store, or from
# the committed offsets, which never run ahead of a checkpoint), and the count still adds up.
. "$ROOT/tests/integration/lib.sh"
: "${REVOKE_BUSY:=0}"

PARTS=4
GROUP=it-rebalance
start_kafka --topic feats:$PARTS

conf() { # INSTANCE
    cat >"$TESTDIR/$1.yaml" <<YAML
kafka:
  brokers: $BOOTSTRAP
  group: $GROUP
  batch_max: 64
  properties: {session.timeout.ms: "6000", heartbeat.interval.ms: "500",
               max.partition.fetch.bytes: "4000"}
store: {path: $TESTDIR/driftd.db, checkpoint_s: 1, instance: $1}
streams:
  - name: feats
    topic: feats
    features: {f0: numeric, f1: numeric}
    id_field: id
    time_field: ts
    window: {type: sliding, size: 400, slide: 200}
    reference: {from: warmup, size: 1000}
YAML
    "$DRIFTD" check "$TESTDIR/$1.yaml" >/dev/null || fail "config $1 refused"
}
conf a
conf b

# produce PHASE: into each partition (explicitly, with kcat -p), 10 events every 50 ms until
# $TESTDIR/stop.PHASE exists, so that the group rebalances while messages arrive; then writes
# how many went into partition P to $TESTDIR/count.PHASE.P. Ids are unique over the run.
produce() {
    for p in $(seq 0 $((PARTS - 1))); do
        $PY - "$1" "$p" "$TESTDIR" <<'PY' | kcat -P -b "$BOOTSTRAP" -t feats -p "$p" &
import json, os, random, sys, time
phase, part, d = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
r = random.Random(phase * 100 + part)
n = 0
while not os.path.exists(f"{d}/stop.{phase}"):
    for _ in range(10):
        print(json.dumps({"id": f"p{part}-{phase}-{n}", "ts": 1700000000 + n,
                          "f0": round(r.gauss(0, 1), 6), "f1": round(r.gauss(0, 1), 6)}))
        n += 1
    sys.stdout.flush()
    time.sleep(0.05)
open(f"{d}/count.{phase}.{part}", "w").write(f"{n}\n")
PY
    done
    wait
}
# stop_producing PHASE: ends phase PHASE's producers and waits until kcat delivered everything.
stop_producing() {
    touch "$TESTDIR/stop.$1"
    wait "$PROD" || fail "producing phase $1 failed"
    for p in $(seq 0 $((PARTS - 1))); do
        [ -s "$TESTDIR/count.$1.$p" ] || fail "phase $1 partition $p: no count"
    done
}
# produced [PART]: events produced so far (into partition PART).
produced() {
    cat "$TESTDIR"/count.*.${1:-*} 2>/dev/null | awk '{ s += $1 } END { print s + 0 }'
}
db() { sqlite3 "$TESTDIR/driftd.db" "$1" 2>/dev/null; }
offsets_sum() { db "select coalesce(sum(next_offset), 0) from offsets where grp = '$GROUP'"; }
offsets_at() { [ "$(offsets_sum)" = "$1" ]; }
offsets_gt() { [ "$(offsets_sum)" -gt "$1" ]; }
offsets_by() { [ "$(db "select count(*) from offsets where grp = '$GROUP' and instance = '$1'")" -gt 0 ]; }
# assigned LOG: the partition count after the last rebalance step LOG reports.
assigned() {
    grep 'msg="kafka rebalance"' "$1" 2>/dev/null | tail -n 1 | sed -n 's/.* assigned=\([0-9]*\).*/\1/p'
}
assigned_is() { [ "$(assigned "$1")" = "$2" ]; }
assigned_some() { [ "$(assigned "$1")" -gt 0 ] 2>/dev/null; }
start() { # INSTANCE: starts it, sets PID_<instance>
    "$DRIFTD" run "$TESTDIR/$1.yaml" 2>"$TESTDIR/$1.log" &
    eval "PID_$1=$!"
    PIDS="$PIDS $!"
}
t0=$(date +%s)

log "phase 0: instance a alone"
produce 0 &
PROD=$!
start a
wait_for 20 "a owns all $PARTS partitions" assigned_is "$TESTDIR/a.log" $PARTS
wait_for 10 "a consumed some" offsets_gt 0
stop_producing 0
log "phase 0: $(produced) events produced"
wait_for 20 "a checkpointed phase 0" offsets_at "$(produced)"

log "phase 1: instance b joins while events arrive"
produce 1 &
PROD=$!
start b
if [ "$REVOKE_BUSY" = 1 ]; then
    wait_for 20 "b has opened the store" grep -q 'msg="consuming"' "$TESTDIR/b.log"
    lock_db "$TESTDIR/driftd.db"
    wait_for 40 "a gives partitions up without a checkpoint" \
        grep -q 'msg="partitions leave without a checkpoint' "$TESTDIR/a.log"
    grep 'msg="partitions leave without a checkpoint' "$TESTDIR/a.log" | cut -c1-240
    unlock_db
fi
wait_for 30 "b owns partitions" assigned_some "$TESTDIR/b.log"
grep -q 'msg="kafka rebalance" step=revoke' "$TESTDIR/a.log" || fail "a never gave up a partition"
wait_for 10 "b consumed some" offsets_by b
stop_producing 1
na=$(assigned "$TESTDIR/a.log"); nb=$(assigned "$TESTDIR/b.log")
log "phase 1: $(produced) events produced in all; a owns $na partitions, b owns $nb"
[ $((na + nb)) = $PARTS ] || fail "a owns $na and b $nb of $PARTS partitions"
wait_for 20 "phase 1 checkpointed" offsets_at "$(produced)"

log "phase 2: a stops (SIGTERM) while events arrive"
produce 2 &
PROD=$!
wait_for 10 "a consuming phase 2" offsets_gt "$(produced)"
kill -TERM "$PID_a"
wait "$PID_a" || fail "a exited non-zero after SIGTERM"
wait_for 30 "b owns all $PARTS partitions" assigned_is "$TESTDIR/b.log" $PARTS
wait_for 10 "b consumed after the handover" offsets_gt "$(offsets_sum)"
stop_producing 2
N=$(produced)
log "phase 2: $N events produced in all"
wait_for 20 "everything checkpointed" offsets_at "$N"
kill -TERM "$PID_b"
wait "$PID_b" || fail "b exited non-zero after SIGTERM"
log "scenario took $(( $(date +%s) - t0 ))s"

log "the count: each event processed by exactly one instance, once"
final_stat() { # LOG FIELD: FIELD of the final stream stats line
    grep 'msg="final stream stats"' "$1" | sed -n "s/.* $2=\([0-9]*\).*/\1/p"
}
for i in a b; do
    grep 'msg="final stream stats"' "$TESTDIR/$i.log" || fail "$i logged no final stats"
done
ea=$(final_stat "$TESTDIR/a.log" events); eb=$(final_stat "$TESTDIR/b.log" events)
ca=$(final_stat "$TESTDIR/a.log" consumed); cb=$(final_stat "$TESTDIR/b.log" consumed)
log "produced $N; a: consumed $ca, events $ea; b: consumed $cb, events $eb"
# (a re-reads what it rolled back in the busy case: messages read add up to more there)
[ "$REVOKE_BUSY" = 1 ] || [ $((ca + cb)) = $N ] || fail "consumed $ca + $cb = $((ca + cb)) messages of $N produced"
[ $((ea + eb)) = $N ] || fail "processed $ea + $eb = $((ea + eb)) events of $N produced"
[ "$ea" -gt 0 ] && [ "$eb" -gt 0 ] || fail "one instance processed nothing"
for i in a b; do
    grep 'msg="final stream stats"' "$TESTDIR/$i.log" | grep -q ' malformed=0 ' \
        || fail "$i skipped messages"
done

log "the offsets table: every partition ends at its produced count, last written by b"
for p in $(seq 0 $((PARTS - 1))); do
    got=$(db "select next_offset || ' ' || instance from offsets where grp = '$GROUP' and topic = 'feats' and partition = $p")
    [ "$got" = "$(produced $p) b" ] || fail "partition $p: offsets row '$got', expected '$(produced $p) b'"
done
[ "$(db "select group_concat(instance) from (select distinct instance from checkpoints where stream = 'feats' order by instance)")" = "a,b" ] \
    || fail "checkpoints of both instances expected: $(db 'select distinct instance from checkpoints')"

log "b resumed every partition it took over from a stored offset"
grep 'msg="partition resumes from checkpoint"' "$TESTDIR/b.log" >"$TESTDIR/b.resumes" || true
cat "$TESTDIR/b.resumes"
nr=$(sed -n 's/.* partition=\([0-9]*\) .*/\1/p' "$TESTDIR/b.resumes" | sort -u | wc -l | tr -d ' ')
# (in the busy case b may have resumed the first partitions from the committed offsets)
[ "$REVOKE_BUSY" = 1 ] || [ "$nr" = $PARTS ] || fail "b resumed $nr distinct partitions from checkpoints; expected $PARTS"
if sed -n 's/.* offset=\([0-9]*\).*/\1/p' "$TESTDIR/b.resumes" | grep -qx '0'; then
    fail "b resumed a partition at offset 0: a's events there would be counted twice"
fi
grep -q 'msg="state restored from checkpoint"' "$TESTDIR/b.log" \
    && fail "b restored a checkpoint: it has none of its own" || true

log "b judged drift against a's reference, not one warmed up on its own first events"
grep 'msg="reference adopted from another instance"' "$TESTDIR/b.log" | grep -q 'from=a ' \
    || fail "b did not adopt a's reference"
grep -q 'msg="reference profile ready"' "$TESTDIR/b.log" && fail "b warmed up a reference of its own" || true
log "ok: $N events, a processed $ea and b $eb, none twice, none lost"
