#!/usr/bin/python3
"""Golden numbers for the rank tests: two-sample Cramér–von Mises and k-sample Anderson–Darling
(run with Debian's python3, which has numpy and scipy).

  stats_rank.txt   n m | a (sorted) | b (sorted) | cvm_statistic cvm_p ad_statistic ad_p
      cvm: scipy.stats.cramervonmises_2samp(a, b)            (method='auto')
      ad:  scipy.stats.anderson_ksamp([a, b]) statistic and significance_level (midrank=True)
  An AD field is nan where scipy refuses the samples (one distinct value in all).
Values are written with 7 significant digits and the statistics computed on the values as
written, so the C side reads exactly the numbers scipy saw.
Cases: small samples (exact CvM p-value, n, m <= 20) and large ones (asymptotic), ties,
identical samples, unequal sizes, heavy tails, shifts in location and in scale.
Regenerate with: /usr/bin/python3 tests/golden/gen_rank.py
"""
import os
import warnings

import numpy as np
from scipy import stats

HERE = os.path.dirname(os.path.abspath(__file__))
rng = np.random.default_rng(2026)


def norm(n, loc=0.0, scale=1.0):
    return rng.normal(loc, scale, n)


cases = [
    # exact region of the CvM p-value
    (norm(5), norm(5, 1.0)),
    (norm(7), norm(9, 0.3)),
    (norm(10), norm(10)),
    (norm(20), norm(20, 0.8)),
    (norm(19), norm(20, 0.2)),
    (norm(13), norm(20, 0.5)),
    (norm(20), norm(3, 2.0)),
    (norm(2), norm(2, 1.0)),
    (norm(3), norm(2)),
    (np.round(norm(12) * 2), np.round(norm(15, 0.5) * 2)),      # ties
    (np.arange(8.0), np.arange(8.0)),                           # identical
    (np.arange(10.0), np.arange(10.0) + 100),                   # fully separated
    (np.array([1.0, 1, 1, 2, 2]), np.array([1.0, 2, 2, 2, 3, 3])),  # heavy ties
    (np.array([5.0, 5, 5]), np.array([7.0, 7, 7])),             # two constants (cvm p = 0)
    (np.array([5.0, 5, 5]), np.array([5.0, 5, 5, 5])),          # one value in all: AD refuses
    # asymptotic region
    (norm(21), norm(20, 0.6)),
    (norm(30), norm(50, 0.3)),
    (norm(100), norm(100, 0.25)),
    (rng.standard_cauchy(500), rng.standard_cauchy(300) + 0.3),  # heavy tails
    (np.round(norm(2000), 1), np.round(norm(1500, 0.05), 1)),   # ties, small shift
    (norm(1000), norm(1000)),                                   # same distribution
    (norm(3000), norm(100, 0.2)),                               # unequal sizes
    (norm(800), norm(900, 0.0, 1.3)),                           # scale change
    (norm(400), norm(400, 3.0)),                                # p far below any table
    (rng.exponential(1.0, 1200), rng.exponential(1.1, 700)),
    (np.round(rng.exponential(1.0, 600)), np.round(rng.exponential(1.0, 650))),  # few values
    (norm(60), norm(25, 0.1)),
]

with open(os.path.join(HERE, "stats_rank.txt"), "w") as f:
    for a, b in cases:
        a = np.sort(np.array([float(f"{v:.7g}") for v in a]))
        b = np.sort(np.array([float(f"{v:.7g}") for v in b]))
        cvm = stats.cramervonmises_2samp(a, b)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                ad = stats.anderson_ksamp([a, b])
                ads, adp = float(ad.statistic), float(ad.significance_level)
            except ValueError:
                ads, adp = float("nan"), float("nan")
        fa = " ".join(f"{v:.7g}" for v in a)
        fb = " ".join(f"{v:.7g}" for v in b)
        f.write(f"{len(a)} {len(b)} | {fa} | {fb} | {float(cvm.statistic)!r} {float(cvm.pvalue)!r}"
                f" {ads!r} {adp!r}\n")
