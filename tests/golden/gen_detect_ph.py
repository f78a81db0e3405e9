#!/usr/bin/python3
"""Golden detections for the Page-Hinkley and CUSUM change detectors.

River could NOT be installed here (no PyPI access), so the two detectors below are an
independent plain-Python re-expression of River's rules, written from a reading of River's
public source (online-ml/river on GitHub):
  river/drift/page_hinkley.py  the released version with `mode` (River 0.21/0.22: the
                               two-sided test with _sum_increase/_sum_decrease, _min_increase
                               starting at +inf and _max_decrease starting at -1)
  river/drift/cusum.py         River's main branch only, commit
                               291ccdd563bf84aa659489df6f2ea4c5bf4e35bb (not yet released)
  river/stats/mean.py          Mean: n += w; mean += (w / n) * (x - mean)
  river/stats/var.py           Var (ddof=1): S += w (x - mean_old)(x - mean_new);
                               get = S / (n - 1) when n > 1, else 0
  river/base/drift_detector.py _reset clears the drift flag
Both detectors keep the flag of the update that detected and rebuild their state at the START
of the next update. The arithmetic below is written in River's order of operations, so the
detection indices (and the saved state, bit for bit) are exact.

Anchors to real River: the docstring examples print River's own outputs, copied here from the
docstrings; this script asserts that its re-expression prints exactly those lines before it
writes anything:
  PageHinkley()  on random.Random(12345): choices([0, 1], k=1000) + choices(range(4, 8), k=1000)
                 -> "Change detected at index 1006, input value: 5"
  CUSUM()        on random.Random(12345): 200 x gauss(0, 1) then 200 x gauss(3, 1)
                 -> "Change detected at index 201", "Change detected at index 251"

KSWIN is not covered here: it needs scipy's ks_2samp and River's use of Python's
random.sample; driftd draws its sample with its own seeded PRNG, so only its behaviour (same
seed, same detections; detection delay; stationary streams) is tested, in C.

Files (regenerate with: /usr/bin/python3 tests/golden/gen_detect_ph.py):
  detect_ph_streams.txt   "stream NAME N" then one line of N values (repr: exact in strtod)
  detect_ph_expected.txt  "case DET STREAM [KEY=VALUE ...]" then one "INDEX drift" line per
                          detection (0-based), then "end"
  detect_ph_state.txt     "state DET STREAM COUNT [KEY=VALUE ...] : v v ..." the internal state
                          after the first COUNT values, bit for bit (float.hex), in the order
                          driftd saves it:
                            page_hinkley: n mean sum_increase sum_decrease min_increase
                                          max_decrease
                            cusum: n mean S sum_increase sum_decrease reference sigma
                                   (reference is nan while the warm-up runs)
"""
import math
import os
import random

HERE = os.path.dirname(os.path.abspath(__file__))


# --- River's statistics, re-expressed ----------------------------------------------------------
class Mean:
    def __init__(self):
        self.n = 0.0
        self.mean = 0.0

    def update(self, x):
        self.n += 1.0
        self.mean += (1.0 / self.n) * (x - self.mean)


class Var:
    """ddof = 1. Its inner mean is updated exactly like a separate Mean of the same values."""

    def __init__(self):
        self.m = Mean()
        self.s = 0.0

    def update(self, x):
        old = self.m.mean
        self.m.update(x)
        self.s += 1.0 * (x - old) * (x - self.m.mean)

    def get(self):
        return self.s / (self.m.n - 1) if self.m.n > 1 else 0.0


MODES = ("up", "down", "both")


# --- the detectors ----------------------------------------------------------------------------
class PageHinkley:
    def __init__(self, min_instances=30, delta=0.005, threshold=50.0, alpha=1 - 0.0001,
                 mode="both"):
        assert mode in MODES
        self.min_instances, self.delta, self.threshold = min_instances, delta, threshold
        self.alpha, self.mode = alpha, mode
        self.drift = False
        self.reset()

    def reset(self):
        self.drift = False
        self.mean = Mean()
        self.sum_inc = 0.0
        self.sum_dec = 0.0
        self.min_inc = math.inf
        self.max_dec = -1  # River's starting value, not -inf

    def update(self, x):
        if self.drift:
            self.reset()
        self.mean.update(x)
        dev = x - self.mean.mean
        self.sum_inc = self.alpha * self.sum_inc + dev - self.delta
        self.sum_dec = self.alpha * self.sum_dec + dev + self.delta
        if self.sum_inc < self.min_inc:
            self.min_inc = self.sum_inc
        if self.sum_dec > self.max_dec:
            self.max_dec = self.sum_dec
        if self.mean.n >= self.min_instances:
            t_inc = self.sum_inc - self.min_inc
            t_dec = self.max_dec - self.sum_dec
            up = t_inc > self.threshold
            down = t_dec > self.threshold
            self.drift = up if self.mode == "up" else down if self.mode == "down" else (up or down)

    def state(self):
        return [self.mean.n, self.mean.mean, self.sum_inc, self.sum_dec, self.min_inc,
                float(self.max_dec)]


class CUSUM:
    def __init__(self, min_instances=30, slack=0.5, threshold=5.0, mode="both"):
        assert slack >= 0 and threshold > 0 and min_instances >= 1 and mode in MODES
        self.min_instances, self.slack, self.threshold, self.mode = (min_instances, slack,
                                                                     threshold, mode)
        self.drift = False
        self.reset()

    def reset(self):
        self.drift = False
        self.n = 0
        self.mean = Mean()
        self.var = Var()
        self.sum_inc = 0.0
        self.sum_dec = 0.0
        self.reference = None
        self.sigma = 0.0

    def update(self, x):
        if self.drift:
            self.reset()
        self.n += 1
        self.mean.update(x)
        self.var.update(x)
        if self.n < self.min_instances:
            self.drift = False
            return
        if self.reference is None:
            self.reference = self.mean.mean
            self.sigma = max(self.var.get(), 0.0) ** 0.5
        k = self.slack * self.sigma
        limit = self.threshold * self.sigma
        dev = x - self.reference
        self.sum_inc = max(0.0, self.sum_inc + dev - k)
        self.sum_dec = max(0.0, self.sum_dec - dev - k)
        up = self.sum_inc > limit
        down = self.sum_dec > limit
        self.drift = up if self.mode == "up" else down if self.mode == "down" else (up or down)

    def state(self):
        assert self.mean.n == self.var.m.n and self.mean.mean == self.var.m.mean
        return [float(self.n), self.mean.mean, self.var.s, self.sum_inc, self.sum_dec,
                math.nan if self.reference is None else self.reference, self.sigma]


DETECTORS = {"page_hinkley": PageHinkley, "cusum": CUSUM}


def conv(v):
    """KEY=VALUE text as the detector's Python argument."""
    if v in MODES:
        return v
    f = float(v)
    return int(f) if f == int(f) and "." not in v and "e" not in v else f


def run(det, stream, params):
    d = DETECTORS[det](**{k: conv(v) for k, v in params})
    out = []
    for i, x in enumerate(stream):
        d.update(x)
        if d.drift:
            out.append(i)
    return out


def state_after(det, stream, params, count):
    d = DETECTORS[det](**{k: conv(v) for k, v in params})
    for x in stream[:count]:
        d.update(x)
    return d.state()


# --- River's docstring anchors ----------------------------------------------------------------
def docstring_ph_stream():
    rng = random.Random(12345)
    return rng.choices([0, 1], k=1000) + rng.choices(range(4, 8), k=1000)


def docstring_cusum_stream():
    rng = random.Random(12345)
    stable = [rng.gauss(0, 1) for _ in range(200)]
    shifted = [rng.gauss(3, 1) for _ in range(200)]
    return stable + shifted


def check_anchors():
    s = docstring_ph_stream()
    ph = PageHinkley()
    lines = []
    for i, val in enumerate(s):
        ph.update(val)
        if ph.drift:
            lines.append(f"Change detected at index {i}, input value: {val}")
    assert lines == ["Change detected at index 1006, input value: 5"], lines

    s = docstring_cusum_stream()
    c = CUSUM()
    lines = []
    for i, val in enumerate(s):
        c.update(val)
        if c.drift:
            lines.append(f"Change detected at index {i}")
    assert lines == ["Change detected at index 201", "Change detected at index 251"], lines


# --- synthetic Gaussian streams with known change points ---------------------------------------
def gauss_stream(seed, n, mean_at, sd=1.0):
    rng = random.Random(seed)
    return [rng.gauss(mean_at(i, rng), sd) for i in range(n)]


def streams():
    s = {}
    s["docstring_ph"] = [float(v) for v in docstring_ph_stream()]
    s["docstring_cusum"] = docstring_cusum_stream()
    # abrupt increase at 1000
    s["abrupt_up"] = gauss_stream(1, 2000, lambda i, r: 0.0 if i < 1000 else 1.5, sd=0.5)
    # abrupt decrease at 1000
    s["abrupt_down"] = gauss_stream(2, 2000, lambda i, r: 5.0 if i < 1000 else 3.5, sd=0.5)
    # gradual: from 1000 to 1500 the new concept (mean 2) is drawn with a rising probability
    s["gradual"] = gauss_stream(
        3, 2500,
        lambda i, r: 0.0 if i < 1000 else (2.0 if r.random() < min(1.0, (i - 1000) / 500) else 0.0),
        sd=0.5)
    # incremental: the mean ramps linearly from 0 to 2 over 1000..1500
    s["incremental"] = gauss_stream(
        4, 2500, lambda i, r: 0.0 if i < 1000 else min(2.0, 2.0 * (i - 1000) / 500), sd=0.5)
    # several changes: up at 800, down at 1600, up at 2400
    s["multi"] = gauss_stream(
        5, 3200, lambda i, r: [0.0, 1.5, -1.0, 0.5][min(3, i // 800)], sd=0.5)
    # another scale: mean 100, sd 5 (Page-Hinkley's threshold is in the data's units, so it alarms often here), up by 10 at 1200
    s["scaled"] = gauss_stream(6, 2400, lambda i, r: 100.0 if i < 1200 else 110.0, sd=5.0)
    # stationary: no change at all
    s["stationary"] = gauss_stream(7, 3000, lambda i, r: 1.0, sd=0.25)
    return s


CASES = [
    ("page_hinkley", []),
    ("page_hinkley", [("mode", "up")]),
    ("page_hinkley", [("mode", "down")]),
    ("page_hinkley", [("threshold", "20")]),
    ("page_hinkley", [("threshold", "20"), ("delta", "0.1")]),
    ("page_hinkley", [("alpha", "0.99"), ("threshold", "10")]),
    ("page_hinkley", [("min_instances", "100"), ("threshold", "25"), ("mode", "up")]),
    ("cusum", []),
    ("cusum", [("min_instances", "10"), ("slack", "1"), ("threshold", "3")]),
    ("cusum", [("mode", "up")]),
    ("cusum", [("mode", "down")]),
    ("cusum", [("threshold", "12")]),
    ("cusum", [("min_instances", "100"), ("slack", "0.25"), ("threshold", "8"), ("mode", "up")]),
]


def fmt_params(params):
    return "".join(f" {k}={v}" for k, v in params)


def main():
    check_anchors()
    st = streams()

    # sanity on the synthetic streams: the expected behaviour, not only whatever comes out
    assert run("page_hinkley", st["stationary"], []) == []
    for name, cp in (("abrupt_up", 1000), ("abrupt_down", 1000)):
        ev = run("page_hinkley", st[name], [])
        assert ev == [ev[0]] and cp <= ev[0] <= cp + 100, (name, ev)
        ev = run("cusum", st[name], [("threshold", "12")])
        assert ev == [ev[0]] and cp <= ev[0] <= cp + 20, (name, ev)
    assert run("page_hinkley", st["abrupt_down"], [("mode", "up")]) == []
    assert run("page_hinkley", st["abrupt_up"], [("mode", "down")]) == []
    assert run("cusum", st["stationary"], [("threshold", "12")]) == []
    ev = run("cusum", st["abrupt_up"], [])
    assert any(1000 <= e <= 1020 for e in ev), ev

    with open(os.path.join(HERE, "detect_ph_streams.txt"), "w") as f:
        for name, xs in st.items():
            f.write(f"stream {name} {len(xs)}\n")
            f.write(" ".join(repr(float(x)) for x in xs) + "\n")

    with open(os.path.join(HERE, "detect_ph_expected.txt"), "w") as f:
        for det, params in CASES:
            for name, xs in st.items():
                if name == "docstring_cusum" and det == "page_hinkley":
                    continue
                f.write(f"case {det} {name}{fmt_params(params)}\n")
                for i in run(det, xs, params):
                    f.write(f"{i} drift\n")
                f.write("end\n")

    with open(os.path.join(HERE, "detect_ph_state.txt"), "w") as f:
        for det, params in CASES:
            for name in ("abrupt_up", "multi", "scaled"):
                xs = st[name]
                evs = run(det, xs, params)
                counts = [1, 2, 15, 40, 999, 1010, len(xs)]
                counts += [e + 1 for e in evs[:2]] + [e + 2 for e in evs[:2]]
                for c in sorted(set(counts)):
                    vals = state_after(det, xs, params, c)
                    f.write(f"state {det} {name} {c}{fmt_params(params)} : "
                            + " ".join(float(v).hex() for v in vals) + "\n")


if __name__ == "__main__":
    main()
