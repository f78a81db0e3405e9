# `driftd detect` runs the real binary over the committed golden streams and prints exactly the
# expected event lines; bad names, keys, values and lines are clear errors.
. "$ROOT/tests/integration/lib.sh"

G="$ROOT/tests/golden"
# Every golden case of every detector through the binary: the printed events must be exactly the
# expected ones (indices from the committed generators tests/golden/gen_detect_*.py).
$PY - "$DRIFTD" "$G" "$TESTDIR" <<'PY' || fail "detect disagrees with the goldens"
import subprocess, sys
driftd, g = sys.argv[1], sys.argv[2]
cases = bad = 0
def run(name, params, stream):
    argv = [driftd, "detect", name]
    for kv in params:
        argv += ["--param", kv]
    return subprocess.run(argv + [stream], capture_output=True, text=True, check=True).stdout
# ADWIN: "STREAM PARAMS | drift indices", PARAMS "default" or K=V,K=V.
for line in open(f"{g}/detect_adwin_expected.txt"):
    if not line.strip() or line.startswith("#"):
        continue
    left, right = line.split("|")
    stream, params = left.split()
    params = [] if params == "default" else params.split(",")
    want = "".join(f"{i} drift\n" for i in right.split())
    got = run("adwin", params, f"{g}/detect_adwin_stream_{stream}.txt")
    cases += 1
    if got != want:
        bad += 1
        print(f"adwin {stream} {params}: want {want.split()} got {got.split()}")
# Binary detectors: streams as "stream NAME N" + one line of values; cases as
# "case DETECTOR STREAM [K=V ...]" followed by the exact event lines.
import os, tempfile
tmp = tempfile.mkdtemp(dir=sys.argv[3])
def load_streams(path, prefix):
    streams = {}
    lines = open(path).read().split("\n")
    for i, l in enumerate(lines):
        if l.startswith("stream "):
            name = l.split()[1]
            p = os.path.join(tmp, f"{prefix}_{name}.txt")
            with open(p, "w") as f:
                f.write("\n".join(lines[i + 1].split()) + "\n")
            streams[name] = p
    return streams
def run_cases(path, streams):
    global cases, bad
    head, want = None, []
    def check():
        global cases, bad
        if head is None:
            return
        _, name, stream, *params = head.split()
        got = run(name, params, streams[stream])
        cases += 1
        if got != "".join(w + "\n" for w in want):
            bad += 1
            print(f"{head}: {len(want)} events expected, got {len(got.splitlines())}")
    for l in open(path):
        l = l.rstrip("\n")
        if l.startswith("case "):
            check()
            head, want = l, []
        elif l and l != "end":
            want.append(l)
    check()
binary = load_streams(f"{g}/detect_binary_streams.txt", "binary")
for det in ("ddm", "eddm", "hddm_a", "hddm_w"):
    run_cases(f"{g}/detect_binary_{det}.txt", binary)
run_cases(f"{g}/detect_ph_expected.txt", load_streams(f"{g}/detect_ph_streams.txt", "ph"))
print(f"{cases} golden cases, {bad} differ")
sys.exit(1 if bad or cases < 300 else 0)
PY

# Standard input, and the same answer as the file.
"$DRIFTD" detect adwin <"$G/detect_adwin_stream_docstring.txt" >"$TESTDIR/stdin.out"
grep -qx "1023 drift" "$TESTDIR/stdin.out" || fail "ADWIN docstring example: $(cat "$TESTDIR/stdin.out")"

expect_error() { # message-substring command...
    msg=$1; shift
    if "$@" >"$TESTDIR/out" 2>"$TESTDIR/err" </dev/null; then fail "accepted: $*"; fi
    grep -qF -- "$msg" "$TESTDIR/err" || fail "$*: wanted '$msg', got: $(cat "$TESTDIR/err")"
}
expect_error "unknown detector 'adwn' (known: adwin" "$DRIFTD" detect adwn
expect_error "adwin: unknown parameter 'deltaa' (allowed: delta" \
    "$DRIFTD" detect adwin --param deltaa=0.1
expect_error "adwin: delta must be a number in (0, 1), got '2'" \
    "$DRIFTD" detect adwin --param delta=2
expect_error "--param needs KEY=VALUE" "$DRIFTD" detect adwin --param delta
printf '0\n1\n\nx1\n' >"$TESTDIR/bad.txt"
expect_error "bad.txt:4: expected a number, got \"x1\"" "$DRIFTD" detect adwin "$TESTDIR/bad.txt"
expect_error "No such file" "$DRIFTD" detect adwin "$TESTDIR/missing.txt"
for d in adwin ddm eddm hddm_a hddm_w page_hinkley cusum kswin; do
    "$DRIFTD" detect --list | grep -q "^  $d " || fail "--list does not list $d"
done
# KSWIN draws a random sample: the same seed gives the same detections, and it finds a jump.
$PY -c 'import random; r = random.Random(3); print("\n".join(str(r.gauss(0 if i < 2000 else 2, 1)) for i in range(4000)))' >"$TESTDIR/jump.txt"
"$DRIFTD" detect kswin --param seed=7 "$TESTDIR/jump.txt" >"$TESTDIR/k1"
"$DRIFTD" detect kswin --param seed=7 <"$TESTDIR/jump.txt" >"$TESTDIR/k2"
cmp -s "$TESTDIR/k1" "$TESTDIR/k2" || fail "kswin with one seed is not reproducible"
awk '$1 >= 2000 && $1 < 2100 && $2 == "drift"' "$TESTDIR/k1" | grep -q . \
    || fail "kswin missed the jump at 2000: $(head -5 "$TESTDIR/k1")"
echo PASS
