#!/usr/bin/python3
"""Golden streams and detection indices for the ADWIN change detector
(operators/detectors/adwin.c). Run with Debian's python3 (stdlib random and numpy):

    /usr/bin/python3 tests/golden/gen_detect_adwin.py

River itself could NOT be installed here (no PyPI access), so the expected detections are NOT
produced by River. They come from the plain-Python model below, written independently from a
reading of River's public source (github.com/online-ml/river):

  river/drift/adwin.py      the ADWIN wrapper: parameters delta=0.002, clock=32, max_buckets=5,
                            min_window_length=5, grace_period=10; update() first re-creates the
                            whole AdaptiveWindowing helper (empty window, tick 0) when the
                            previous update detected drift, then sets drift_detected to the
                            helper's answer.
  river/drift/adwin_c.pyx   AdaptiveWindowing and Bucket (the Cython core): the bucket rows, the
                            variance updates, the merge, the clock/grace-period gate, the cut scan
                            and _evaluate_cut.

The version modelled is River 0.22.0 and later (0.22.0's release note: "Make drift.ADWIN comply
with the reference MOA implementation", i.e. the cut scan visits every bucket of a row,
`range(bucket.current_idx)`; up to 0.21.x it was `range(bucket.current_idx - 1)`, which skips
the newest bucket of each row). Both variants are modelled (legacy=True is 0.21) only to show
what the anchors below pin down.

max_buckets must be at least 2 (our limit, River has none): with max_buckets=1 a merge empties
its row, River's scan then reaches the end of the window outside row 0 (River 0.22 raises
ZeroDivisionError) and its oldest-bucket removal can pop an empty row (corrupt state).

The links to real River (asserted below, so a wrong model cannot write goldens):
  * the ADWIN docstring (0.21 and later): random.Random(12345), choices([0, 1], k=1000) +
    choices(range(4, 8), k=1000) -> "Change detected at index 1023";
  * river/drift/test_adwin_regression.py (recorded from River's implementation):
    random.Random(42), four 1000-long segments [0,1],[4..7],[0,1],[4..7] -> [1023, 2015, 3007]
    (0.21 semantics would give [1023, 2047, 3039]); np.random.seed(12345),
    randint(2, size=1000) then randint(8, size=1000) -> [1023] (0.21 would give [1055]);
  * an older ADWIN docstring (before the parameters were exposed; no reset after a detection,
    the 0.21 scan, update() returning (drift, warning)): np.random.seed(12345),
    randint(2, 1000) then randint(4, 8, 1000) -> [1023, 1055, 1087, 1119].

Outputs:
  detect_adwin_stream_NAME.txt  one value per line (repr of a float; exact through strtod)
  detect_adwin_expected.txt     NAME PARAMS | detection indices (0-based, may be empty)
                                PARAMS is "default" or key=value pairs joined by ","
"""
import math
import os
import random

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


class AdwinModel:
    """Row r of `rows` holds buckets of 2**r values, oldest first; each bucket is
    [sum, variance-sum]. Row 0 is the newest row, the last row the oldest."""

    def __init__(self, delta=0.002, clock=32, max_buckets=5, min_window_length=5,
                 grace_period=10, legacy=False, reset_after_drift=True):
        self.delta = delta
        self.clock = clock
        self.max_buckets = max_buckets
        self.min_window_length = min_window_length
        self.grace_period = grace_period
        self.legacy = legacy
        self.reset_after_drift = reset_after_drift
        self.drift = False
        self._fresh()

    def _fresh(self):
        self.rows = [[]]
        self.width = 0.0
        self.total = 0.0
        self.variance = 0.0
        self.tick = 0

    def update(self, x):
        if self.drift and self.reset_after_drift:
            self._fresh()
        self._add(float(x))
        self.drift = self._scan()
        return self.drift

    def _add(self, x):
        self.rows[0].append([x, 0.0])
        self.width += 1.0
        grow = 0.0
        if self.width > 1.0:
            # same operation order as the Cython expression
            prev = self.width - 1.0
            grow = prev * (x - self.total / prev) * (x - self.total / prev) / self.width
        self.variance += grow
        self.total += x
        # merge the two oldest buckets of a full row into the next row, cascading
        r = 0
        while r < len(self.rows) and len(self.rows[r]) == self.max_buckets + 1:
            if r + 1 == len(self.rows):
                self.rows.append([])
            size = float(2 ** r)
            (s1, v1), (s2, v2) = self.rows[r][0], self.rows[r][1]
            m1 = s1 / size
            m2 = s2 / size
            extra = size * size * (m1 - m2) * (m1 - m2) / (size + size)
            self.rows[r + 1].append([s1 + s2, v1 + v2 + extra])
            del self.rows[r][:2]
            if len(self.rows[r + 1]) <= self.max_buckets:
                break
            r += 1

    def _scan(self):
        self.tick += 1
        found = False
        if self.tick % self.clock != 0 or not self.width > self.grace_period:
            return False
        again = True
        while again:
            again = False
            stop = False
            n0, n1, u0, u1 = 0.0, self.width, 0.0, self.total
            # oldest row first; inside a row oldest bucket first
            for r in range(len(self.rows) - 1, -1, -1):
                if stop:
                    break
                row = self.rows[r]
                size = float(2 ** r)
                count = len(row) - 1 if self.legacy else len(row)
                for k in range(count):
                    # (River also updates two sub-window variances here; the cut test never
                    # reads them, so they are left out.)
                    n0 += size
                    n1 -= size
                    u0 += row[k][0]
                    u1 -= row[k][0]
                    if r == 0 and k == len(row) - 1:
                        stop = True
                        break
                    diff = u0 / n0 - u1 / n1  # n1 > 0: the newest bucket is still in W1
                    if (n1 >= self.min_window_length and n0 >= self.min_window_length
                            and self._cut(n0, n1, diff)):
                        found = True
                        again = True
                        self._drop_oldest()
                        stop = True
                        break
        return found

    def _cut(self, n0, n1, diff):
        dprime = math.log(2 * math.log(self.width) / self.delta)
        m = 1.0 / (n0 - self.min_window_length + 1) + 1.0 / (n1 - self.min_window_length + 1)
        eps = math.sqrt(2 * m * (self.variance / self.width) * dprime) + 2.0 / 3.0 * dprime * m
        return abs(diff) > eps

    def _drop_oldest(self):
        r = len(self.rows) - 1
        size = float(2 ** r)
        s, v = self.rows[r][0]
        mean = s / size
        self.width -= size
        self.total -= s
        wmean = self.total / self.width
        w = self.width
        self.variance -= v + size * w * (mean - wmean) * (mean - wmean) / (size + w)
        del self.rows[r][0]
        if not self.rows[r]:
            self.rows.pop()


def detections(xs, **kw):
    det = AdwinModel(**kw)
    return [i for i, x in enumerate(xs) if det.update(x)]


def streams():
    out = {}
    rng = random.Random(12345)
    out["docstring"] = rng.choices([0, 1], k=1000) + rng.choices(range(4, 8), k=1000)

    rng = random.Random(42)
    out["river_multi"] = (rng.choices([0, 1], k=1000) + rng.choices(range(4, 8), k=1000)
                          + rng.choices([0, 1], k=1000) + rng.choices(range(4, 8), k=1000))

    np.random.seed(12345)
    out["np_randint"] = [int(v) for v in np.concatenate(
        (np.random.randint(2, size=1000), np.random.randint(8, size=1000)))]

    rng = random.Random(2024)
    out["bern_abrupt"] = ([int(rng.random() < 0.2) for _ in range(2500)]
                          + [int(rng.random() < 0.6) for _ in range(2500)]
                          + [int(rng.random() < 0.3) for _ in range(2500)])

    rng = random.Random(7)
    p = [0.2] * 2000 + [0.2 + 0.5 * i / 2000 for i in range(2000)] + [0.7] * 2000
    out["bern_gradual"] = [int(rng.random() < q) for q in p]

    rng = random.Random(99)
    out["gauss_abrupt"] = ([rng.gauss(0.0, 1.0) for _ in range(3000)]
                           + [rng.gauss(1.0, 1.0) for _ in range(3000)]
                           + [rng.gauss(-0.5, 2.0) for _ in range(3000)])

    rng = random.Random(5)
    mu = [0.0] * 2500 + [2.0 * i / 3000 for i in range(3000)] + [2.0] * 2500
    out["gauss_gradual"] = [rng.gauss(m, 1.0) for m in mu]

    rng = random.Random(31337)
    out["stationary"] = [rng.gauss(5.0, 2.0) for _ in range(10000)]
    return out


PARAMS = [
    ("default", {}),
    ("delta=0.1", {"delta": 0.1}),
    ("clock=1", {"clock": 1}),
    ("grace_period=50", {"grace_period": 50}),
    ("delta=0.1,clock=1,grace_period=50", {"delta": 0.1, "clock": 1, "grace_period": 50}),
    ("max_buckets=2,min_window_length=10", {"max_buckets": 2, "min_window_length": 10}),
    ("clock=7,max_buckets=2,min_window_length=1,grace_period=0",
     {"clock": 7, "max_buckets": 2, "min_window_length": 1, "grace_period": 0}),
]


def main():
    s = streams()

    # The anchors to real River (see the module docstring).
    assert detections(s["docstring"]) == [1023]
    assert detections(s["docstring"], legacy=True) == [1023]
    assert detections(s["river_multi"]) == [1023, 2015, 3007]
    assert detections(s["river_multi"], legacy=True) == [1023, 2047, 3039]
    assert detections(s["np_randint"]) == [1023]
    assert detections(s["np_randint"], legacy=True) == [1055]
    np.random.seed(12345)
    old = np.concatenate((np.random.randint(2, size=1000), np.random.randint(4, high=8, size=1000)))
    assert detections(old, legacy=True, reset_after_drift=False) == [1023, 1055, 1087, 1119]
    assert detections(s["stationary"]) == []

    for name, xs in s.items():
        with open(os.path.join(HERE, "detect_adwin_stream_%s.txt" % name), "w") as f:
            for v in xs:
                f.write("%d\n" % v if isinstance(v, int) else repr(float(v)) + "\n")
    with open(os.path.join(HERE, "detect_adwin_expected.txt"), "w") as f:
        for name, xs in s.items():
            for label, kw in PARAMS:
                d = detections(xs, **kw)
                f.write("%s %s | %s\n" % (name, label, " ".join(str(i) for i in d)))


if __name__ == "__main__":
    main()
