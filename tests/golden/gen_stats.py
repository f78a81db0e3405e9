#!/usr/bin/python3
"""Golden numbers for the binned, categorical and Wasserstein statistics (run with Debian's
python3, which has numpy and scipy).

  stats_binned.txt  k | ref counts | cur counts | kl js hellinger linf unseen
      kl: sum c ln(c/r) with zero shares replaced by 1e-4 (no renormalisation, as PSI)
      js: scipy.spatial.distance.jensenshannon(c, r, base=2)
      hellinger: sqrt(sum (sqrt c - sqrt r)^2 / 2); linf: max |c - r|
      unseen: share of current counts in categories whose reference count is 0
  stats_chi2.txt    k | ref counts | cur counts | statistic p dof   (chi2_contingency, no correction)
  stats_wass.txt    n m | a | b | distance normalised   (wasserstein_distance; / max(std(a), 0.001))
Regenerate with: /usr/bin/python3 tests/golden/gen_stats.py
"""
import os

import numpy as np
from scipy import stats
from scipy.spatial.distance import jensenshannon

HERE = os.path.dirname(os.path.abspath(__file__))


def fmt(v):
    return " ".join(repr(float(x)) for x in v)


def shares(x):
    return x / x.sum()


rng = np.random.default_rng(11)
tables = []
for k in [2, 3, 5, 10, 10, 20, 50]:
    r = rng.integers(0, 300, k).astype(float)
    c = rng.integers(0, 300, k).astype(float)
    r[0] += 1
    c[-1] += 1
    if k >= 5:
        r[rng.integers(0, k)] = 0   # a category the reference never had
        c[rng.integers(0, k)] = 0   # one the current window lacks
    tables.append((r, c))
tables.append((np.array([50.0, 50.0, 0.0]), np.array([50.0, 50.0, 0.0])))  # identical, a dead bin
tables.append((np.array([1000.0, 1.0]), np.array([1.0, 1000.0])))          # extreme shift

with open(os.path.join(HERE, "stats_binned.txt"), "w") as f:
    for r, c in tables:
        rs, cs = shares(r), shares(c)
        re, ce = np.where(rs == 0, 1e-4, rs), np.where(cs == 0, 1e-4, cs)
        kl = float(np.sum(ce * np.log(ce / re)))
        js = float(jensenshannon(cs, rs, base=2))
        hel = float(np.sqrt(np.sum((np.sqrt(cs) - np.sqrt(rs)) ** 2) / 2))
        linf = float(np.max(np.abs(cs - rs)))
        unseen = float(c[r == 0].sum() / c.sum())
        f.write(f"{len(r)} | {fmt(r)} | {fmt(c)} | {kl!r} {js!r} {hel!r} {linf!r} {unseen!r}\n")

with open(os.path.join(HERE, "stats_chi2.txt"), "w") as f:
    for r, c in tables + [(np.array([3.0, 0, 2]), np.array([0.0, 4, 1]))]:
        keep = (r + c) > 0
        res = stats.chi2_contingency(np.array([r[keep], c[keep]]), correction=False)
        f.write(f"{len(r)} | {fmt(r)} | {fmt(c)} | {float(res[0])!r} {float(res[1])!r} "
                f"{int(res[2])}\n")

rng = np.random.default_rng(12)
with open(os.path.join(HERE, "stats_wass.txt"), "w") as f:
    cases = [
        (rng.normal(size=50), rng.normal(0.5, 1, size=70)),
        (rng.normal(size=1000), rng.normal(0, 2, size=300)),
        (rng.integers(0, 5, 200).astype(float), rng.integers(0, 6, 150).astype(float)),  # ties
        (rng.standard_cauchy(500), rng.standard_cauchy(400)),
        (np.full(30, 2.0), rng.normal(2, 0.1, size=20)),  # constant reference: std floor
        (np.array([1.0]), np.array([3.0])),
        (rng.lognormal(size=2000), rng.lognormal(0.2, 1, size=2000)),
    ]
    for a, b in cases:
        w = float(stats.wasserstein_distance(a, b))
        wn = w / max(float(np.std(a)), 0.001)
        f.write(f"{len(a)} {len(b)} | {fmt(np.sort(a))} | {fmt(np.sort(b))} | {w!r} {wn!r}\n")
print("goldens written to", HERE)
