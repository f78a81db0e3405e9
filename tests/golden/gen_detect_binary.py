#!/usr/bin/python3
"""Golden events for the binary concept-drift detectors DDM, EDDM, HDDM_A and HDDM_W.

River could NOT be installed here (no PyPI access), so the detectors below are an independent
plain-Python re-expression of the rules of River's released implementations (River 0.21/0.22),
written from a reading of River's public source:
  river/drift/binary/ddm.py, eddm.py, hddm_a.py, hddm_w.py       (the detectors)
  river/base/drift_detector.py                                   (_reset clears both flags)
  river/stats/mean.py  (Mean: n += w; mean += (w / n) * (x - mean))
  river/stats/var.py   (Var, ddof=1: S += w (x - mean_old)(x - mean_new); get = S / (n - 1)
                        when n > 1, else 0)
  river/stats/ewmean.py -> the Rust crate watermill 0.1.1, EWMean::update
                       (mean == 0 ? x : alpha x + (1 - alpha) mean; River's former pure-Python
                        EWMean had the same "if self.mean else x" rule)
The arithmetic is written in River's order of operations, so the detection indices are exact.

Anchors to real River: each detector's docstring example (a random.Random(42) stream of 1000
values from choices([0, 1]) then 1000 from choices([0, 1], weights=[0.3, 0.7])) prints lines
that are River's own outputs, copied from the docstrings:
  DDM()                       Warning 1084, Change 1334, Warning 1492
  EDDM(alpha=0.8, beta=0.75)  Warning 1059, Change 1278
  HDDMA()                     Warning 451,  Change 1206
  HDDMW()                     Warning 451,  Change 1077
This script asserts that its re-expression prints exactly those lines before writing anything.

Input convention: 1 = error, 0 = correct. Values in [0, 1] that are not 0 or 1 are used as River
uses them (DDM, HDDM_A, HDDM_W put the number in their means; EDDM counts only x == 1 as an
error and anything else as a correct prediction). driftd ignores values outside [0, 1] and NaN/inf
(River would raise or leave the range its bounds assume); those never appear in these streams.

Files (regenerate with: /usr/bin/python3 tests/golden/gen_detect_binary.py):
  detect_binary_streams.txt   "stream NAME N" then one line of N values
  detect_binary_<det>.txt     "case <det> STREAM [KEY=VALUE ...]" then event lines
                              "INDEX drift" / "INDEX warning" (0-based index; at an index with
                              both, the drift line first), then "end"
  detect_binary_state.txt     "state <det> STREAM COUNT [KEY=VALUE ...] : v v ..." the internal
                              state after the first COUNT values, bit for bit (float.hex), in
                              the order driftd saves it: pins the floating-point order of
                              operations, which the event indices alone rarely reveal
"""
import math
import os
import random

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


# --- River's statistics, re-expressed ----------------------------------------------------------
class Mean:
    def __init__(self):
        self.n = 0.0
        self.mean = 0.0

    def update(self, x):
        self.n += 1.0
        self.mean += (1.0 / self.n) * (x - self.mean)

    def copy(self):
        c = Mean()
        c.n, c.mean = self.n, self.mean
        return c


class Var:
    def __init__(self):
        self.m = Mean()
        self.s = 0.0

    def update(self, x):
        old = self.m.mean
        self.m.update(x)
        self.s += 1.0 * (x - old) * (x - self.m.mean)

    def get(self):
        return self.s / (self.m.n - 1) if self.m.n > 1 else 0.0


class EWMean:
    def __init__(self, alpha):
        self.alpha = alpha
        self.mean = 0.0

    def update(self, x):
        if self.mean == 0.0:
            self.mean = float(x)
        else:
            self.mean = self.alpha * x + (1.0 - self.alpha) * self.mean


# --- the detectors ----------------------------------------------------------------------------
class DDM:
    def __init__(self, warm_start=30, warning_threshold=2.0, drift_threshold=3.0):
        self.warm_start, self.wt, self.dt = warm_start, warning_threshold, drift_threshold
        self.drift = False
        self.reset()

    def reset(self):
        self.drift = self.warning = False
        self.p = Mean()
        self.p_min = self.s_min = self.ps_min = math.inf

    def update(self, x):
        if self.drift:
            self.reset()
        self.p.update(x)
        p, n = self.p.mean, self.p.n
        s = math.sqrt(p * (1 - p) / n)
        if n > self.warm_start:
            if p + s <= self.ps_min:
                self.p_min, self.s_min = p, s
                self.ps_min = self.p_min + self.s_min
            self.warning = p + s > self.p_min + self.wt * self.s_min
            if p + s > self.p_min + self.dt * self.s_min:
                self.drift = True
                self.warning = False


class EDDM:
    def __init__(self, warm_start=30, alpha=0.95, beta=0.9):
        assert alpha >= beta
        self.warm_start, self.alpha, self.beta = warm_start, alpha, beta
        self.drift = False
        self.reset()

    def reset(self):
        self.drift = self.warning = False
        self.dist = Var()
        self.n = 0
        self.last_error = 0
        self.n_errors = 0
        self.max = -1.0

    def update(self, x):
        if self.drift:
            self.reset()
        self.n += 1
        if x == 1:
            self.n_errors += 1
            self.dist.update(self.n - self.last_error)
            if self.n > self.warm_start:
                p = self.dist.m.mean
                s = self.dist.get() ** 0.5
                p2s = p + 2 * s
                if p2s > self.max:
                    self.max = p2s
                elif self.n_errors > self.warm_start:
                    level = p2s / self.max
                    if level < self.beta:
                        self.drift = True
                    elif level < self.alpha:
                        self.warning = True
                    else:
                        self.warning = False
            self.last_error = self.n


class HDDM_A:
    def __init__(self, drift_confidence=0.001, warning_confidence=0.005, two_sided_test=False):
        self.dc, self.wc, self.two = drift_confidence, warning_confidence, two_sided_test
        self.drift = False
        self.reset()

    def reset(self):
        self.drift = self.warning = False
        self.x_min, self.x_max, self.z = Mean(), Mean(), Mean()

    def bound(self, n):
        return math.sqrt(1.0 / (2 * n) * math.log(1.0 / self.dc))

    def incr(self, conf):
        if self.x_min.n == self.z.n:
            return False
        m = (self.z.n - self.x_min.n) / self.x_min.n * (1.0 / self.z.n)
        eps = math.sqrt(m / 2 * math.log(2.0 / conf))
        return self.z.mean - self.x_min.mean >= eps

    def decr(self, conf):
        if self.x_max.n == self.z.n:
            return False
        m = (self.z.n - self.x_max.n) / self.x_max.n * (1.0 / self.z.n)
        eps = math.sqrt(m / 2 * math.log(2.0 / conf))
        return self.x_max.mean - self.z.mean >= eps

    def update(self, x):
        if self.drift:
            self.reset()
        self.z.update(x)
        if self.x_min.n == 0:
            self.x_min = self.z.copy()
        if self.x_max.n == 0:
            self.x_max = self.z.copy()
        eps_z = self.bound(self.z.n)
        eps_x = self.bound(self.x_min.n)
        if self.x_min.mean + eps_x >= self.z.mean + eps_z:
            self.x_min = self.z.copy()
        eps_x = self.bound(self.x_max.n)
        if self.x_max.mean - eps_x <= self.z.mean - eps_z:
            self.x_max = self.z.copy()
        if self.incr(self.dc):
            self.warning, self.drift = False, True
        elif self.incr(self.wc):
            self.warning, self.drift = True, False
        else:
            self.warning, self.drift = False, False
        if self.two:
            if self.decr(self.dc):
                self.drift = True
            elif self.decr(self.wc):
                self.warning = True


class Sample:
    def __init__(self, lam):
        self.ew = EWMean(lam)
        self.init = False
        self.ibc = 1.0
        self.l2 = lam * lam
        self.c2 = (1 - lam) ** 2

    def update(self, x):
        self.ew.update(x)
        self.init = True
        self.ibc = self.l2 + self.c2 * self.ibc

    def copy(self):
        c = Sample(self.ew.alpha)
        c.ew.mean, c.init, c.ibc = self.ew.mean, self.init, self.ibc
        return c


class HDDM_W:
    def __init__(self, drift_confidence=0.001, warning_confidence=0.005, lambda_val=0.05,
                 two_sided_test=False):
        self.dc, self.wc, self.lam, self.two = (drift_confidence, warning_confidence, lambda_val,
                                                two_sided_test)
        self.drift = False
        self.reset()

    def reset(self):
        self.drift = self.warning = False
        self.total = Sample(self.lam)
        self.s1_decr, self.s1_incr = Sample(self.lam), Sample(self.lam)
        self.s2_decr, self.s2_incr = Sample(self.lam), Sample(self.lam)
        self.incr_cut = math.inf
        self.decr_cut = -math.inf

    @staticmethod
    def bound(ibc, conf):
        return math.sqrt(ibc * math.log(1 / conf) / 2)

    def changed(self, s1, s2, conf):
        if not (s1.init and s2.init):
            return False
        b = self.bound(s1.ibc + s2.ibc, conf)
        return s2.ew.mean - s1.ew.mean > b

    def update(self, x):
        if self.drift:
            self.reset()
        self.total.update(x)
        eps = self.bound(self.total.ibc, self.dc)
        if self.total.ew.mean + eps < self.incr_cut:
            self.incr_cut = self.total.ew.mean + eps
            self.s1_incr = self.total.copy()
            self.s2_incr = Sample(self.lam)
        else:
            self.s2_incr.update(x)
        if self.changed(self.s1_incr, self.s2_incr, self.dc):
            self.warning, self.drift = False, True
        elif self.changed(self.s1_incr, self.s2_incr, self.wc):
            self.warning, self.drift = True, False
        else:
            self.warning, self.drift = False, False
        eps = self.bound(self.total.ibc, self.dc)
        if self.total.ew.mean - eps > self.decr_cut:
            self.decr_cut = self.total.ew.mean - eps
            self.s1_decr = self.total.copy()
            self.s2_decr = Sample(self.lam)
        else:
            self.s2_decr.update(x)
        if self.two:
            if self.changed(self.s2_decr, self.s1_decr, self.dc):
                self.drift = True
            elif self.changed(self.s2_decr, self.s1_decr, self.wc):
                self.warning = True


DETECTORS = {"ddm": DDM, "eddm": EDDM, "hddm_a": HDDM_A, "hddm_w": HDDM_W}


# --- the docstring anchors --------------------------------------------------------------------
def docstring_stream():
    rng = random.Random(42)
    s = rng.choices([0, 1], k=1000)
    return s + rng.choices([0, 1], k=1000, weights=[0.3, 0.7])


def docstring_lines(det, stream):
    out, print_warning = [], True
    for i, x in enumerate(stream):
        det.update(x)
        if det.warning and print_warning:
            out.append(f"Warning detected at index {i}")
            print_warning = False
        if det.drift:
            out.append(f"Change detected at index {i}")
            print_warning = True
    return out


ANCHORS = [
    (DDM(), [1084, 1334, 1492], "WCW"),
    (EDDM(alpha=0.8, beta=0.75), [1059, 1278], "WC"),
    (HDDM_A(), [451, 1206], "WC"),
    (HDDM_W(), [451, 1077], "WC"),
]


def check_anchors(stream):
    for det, idx, kinds in ANCHORS:
        want = [f"{'Warning' if k == 'W' else 'Change'} detected at index {i}"
                for k, i in zip(kinds, idx)]
        got = docstring_lines(det, stream)
        assert got == want, (type(det).__name__, got, want)


# --- streams ----------------------------------------------------------------------------------
def bernoulli(p, seed):
    r = np.random.default_rng(seed)
    return [int(v) for v in (r.random(len(p)) < np.asarray(p))]


def streams():
    s = {}
    s["docstring"] = docstring_stream()
    s["abrupt"] = bernoulli([0.1] * 2000 + [0.4] * 2000, 11)
    s["abrupt_small"] = bernoulli([0.2] * 3000 + [0.3] * 3000, 12)
    # gradual: the old (0.1) and new (0.5) concepts alternate, the new one ever more often
    r = np.random.default_rng(13)
    p = []
    for i in range(5000):
        w = min(max((i - 1500) / 1500.0, 0.0), 1.0)
        p.append(0.5 if r.random() < w else 0.1)
    s["gradual"] = bernoulli(p, 14)
    # incremental: the error rate itself rises linearly
    s["incremental"] = bernoulli(
        [0.1 + 0.4 * min(max((i - 1500) / 1500.0, 0.0), 1.0) for i in range(5000)], 15)
    s["decrease"] = bernoulli([0.4] * 2000 + [0.1] * 2000, 16)
    s["stationary"] = bernoulli([0.05] * 4000, 17)
    # several changes one after the other: resets after each detection matter
    s["multi"] = bernoulli([0.05] * 1000 + [0.3] * 1000 + [0.05] * 1000 + [0.5] * 1000
                           + [0.1] * 1000, 18)
    # values in [0, 1] that are not 0/1: River uses the number itself
    r = np.random.default_rng(19)
    frac = [float(v) for v in r.choice([0.0, 0.25, 0.5, 0.75, 1.0], size=1500,
                                      p=[0.6, 0.1, 0.1, 0.1, 0.1])]
    frac += [float(v) for v in r.choice([0.0, 0.25, 0.5, 0.75, 1.0], size=1500,
                                       p=[0.2, 0.1, 0.2, 0.2, 0.3])]
    s["fractional"] = frac
    return s


# (stream, detector, case number) on which no drift is expected: the stationary stream with the
# defaults (EDDM's defaults are known to raise false alarms; its docstring's alpha/beta do not).
NO_DRIFT = {("stationary", "ddm", 0), ("stationary", "hddm_a", 0), ("stationary", "hddm_w", 0),
            ("stationary", "eddm", 1), ("stationary", "hddm_a", 1), ("stationary", "hddm_w", 1)}

CASES = {
    "ddm": [
        {},
        {"warm_start": 100, "warning_threshold": 1.5, "drift_threshold": 2.5},
        {"warm_start": 0},
        {"warm_start": 500, "warning_threshold": 2.5, "drift_threshold": 4},
    ],
    "eddm": [
        {},
        {"alpha": 0.8, "beta": 0.75},
        {"warm_start": 10, "alpha": 0.9, "beta": 0.85},
        {"warm_start": 0, "alpha": 0.95, "beta": 0.95},
    ],
    "hddm_a": [
        {},
        {"two_sided_test": True},
        {"drift_confidence": 0.0001, "warning_confidence": 0.01, "two_sided_test": True},
        {"drift_confidence": 0.05, "warning_confidence": 0.1},
    ],
    "hddm_w": [
        {},
        {"two_sided_test": True},
        {"lambda_val": 0.1, "drift_confidence": 0.0001, "warning_confidence": 0.01},
        {"lambda_val": 0.3, "two_sided_test": True},
        {"lambda_val": 1.0, "two_sided_test": True},
        {"lambda_val": 0.01, "drift_confidence": 0.01, "warning_confidence": 0.05,
         "two_sided_test": True},
    ],
}


def param_text(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    return repr(v)


def events(det, stream):
    out = []
    for i, x in enumerate(stream):
        det.update(x)
        if det.drift:
            out.append(f"{i} drift")
        if det.warning:
            out.append(f"{i} warning")
    return out


def value_text(v):
    if isinstance(v, float) and v != int(v):
        return repr(v)
    return str(int(v))


def state_of(det):
    """The state fields in the order of driftd's saved state (see operators/detectors/*.c)."""
    if isinstance(det, DDM):
        return [det.p.n, det.p.mean, det.p_min, det.s_min, det.ps_min]
    if isinstance(det, EDDM):
        return [det.n, det.last_error, det.n_errors, det.dist.m.n, det.dist.m.mean, det.dist.s,
                det.max]
    if isinstance(det, HDDM_A):
        return [det.z.n, det.z.mean, det.x_min.n, det.x_min.mean, det.x_max.n, det.x_max.mean]
    out = []
    for smp in (det.total, det.s1_incr, det.s2_incr, det.s1_decr, det.s2_decr):
        out += [int(smp.init), smp.ew.mean, smp.ibc]
    return out + [det.incr_cut, det.decr_cut]


STATE_CASES = [
    ("ddm", {}), ("ddm", {"warm_start": 100, "warning_threshold": 1.5, "drift_threshold": 2.5}),
    ("eddm", {}), ("eddm", {"alpha": 0.8, "beta": 0.75}),
    ("hddm_a", {}), ("hddm_a", {"two_sided_test": True}),
    ("hddm_w", {}), ("hddm_w", {"lambda_val": 0.01, "drift_confidence": 0.01,
                                "warning_confidence": 0.05, "two_sided_test": True}),
]


def state_text(v):
    return str(v) if isinstance(v, int) else float(v).hex()


def main():
    ss = streams()
    check_anchors(ss["docstring"])
    with open(os.path.join(HERE, "detect_binary_streams.txt"), "w") as f:
        for name, s in ss.items():
            f.write(f"stream {name} {len(s)}\n")
            f.write(" ".join(value_text(v) for v in s) + "\n")
    for dname, cls in DETECTORS.items():
        with open(os.path.join(HERE, f"detect_binary_{dname}.txt"), "w") as f:
            for ci, params in enumerate(CASES[dname]):
                kv = " ".join(f"{k}={param_text(v)}" for k, v in params.items())
                for sname, s in ss.items():
                    ev = events(cls(**params), s)
                    if (sname, dname, ci) in NO_DRIFT:
                        assert not any(e.endswith("drift") for e in ev), (dname, sname)
                    f.write(f"case {dname} {sname}{' ' + kv if kv else ''}\n")
                    f.write("".join(e + "\n" for e in ev))
                    f.write("end\n")
                    nd = sum(e.endswith("drift") for e in ev)
                    nw = sum(e.endswith("warning") for e in ev)
                    print(f"{dname:7s} {sname:12s} {kv:70s} drifts={nd} warnings={nw}")
    with open(os.path.join(HERE, "detect_binary_state.txt"), "w") as f:
        for dname, params in STATE_CASES:
            kv = " ".join(f"{k}={param_text(v)}" for k, v in params.items())
            for sname in ("fractional", "docstring", "multi"):
                for count in (777, 1234, len(ss[sname])):
                    det = DETECTORS[dname](**params)
                    for x in ss[sname][:count]:
                        det.update(x)
                    vals = " ".join(state_text(v) for v in state_of(det))
                    f.write(f"state {dname} {sname} {count}{' ' + kv if kv else ''} : {vals}\n")


if __name__ == "__main__":
    main()
