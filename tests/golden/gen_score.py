#!/usr/bin/python3
"""Golden files for `driftd score`: two CSV files and the numbers scipy/numpy give for them.

Writes score_ref.csv, score_cur.csv, the same data as JSON lines (score_ref.jsonl,
score_cur.jsonl: missing values as null, NaN or an absent key) and score_expected.json beside
this script. Expected per numeric column: KS, Wasserstein, binned statistics, Cramér–von Mises
(cramervonmises_2samp), Anderson–Darling (anderson_ksamp: statistic and significance level, null
where scipy refuses the samples) and the Benjamini–Hochberg and Bonferroni adjusted KS p-values
over the columns that have one. Columns cover a
normal shift, integer ties, heavy tails (Cauchy), a constant column, a column all missing in the
current file, a categorical column with categories unseen in the reference, and quoted text.
Conventions as docs/operators.md: bins on reference quantiles (numpy linear, deduplicated, a value
falls in bin = number of edges <= it), epsilon 1e-4 for PSI and KL, unsmoothed JS/Hellinger.
Regenerate with: /usr/bin/python3 tests/golden/gen_score.py
"""
import csv
import json
import math
import os
import warnings

import numpy as np
from scipy import stats
from scipy.spatial.distance import jensenshannon

HERE = os.path.dirname(os.path.abspath(__file__))
rng = np.random.default_rng(2026)
N0, N1 = 3000, 2000
cats0 = rng.choice(["red", "green", "blue, dark", 'say "hi"'], size=N0, p=[0.4, 0.3, 0.2, 0.1])
cats1 = rng.choice(["red", "green", "blue, dark", "violet", "teal"], size=N1,
                   p=[0.3, 0.3, 0.2, 0.15, 0.05])
ref = {
    "normal": np.round(rng.normal(0, 1, N0), 6),
    "ties": rng.integers(0, 8, N0).astype(float),
    "cauchy": np.round(rng.standard_cauchy(N0), 6),
    "const": np.full(N0, 7.0),
    "gone": np.round(rng.normal(size=N0), 6),
    "colour": cats0,
}
cur = {
    "normal": np.round(rng.normal(0.15, 1.1, N1), 6),
    "ties": rng.integers(0, 9, N1).astype(float),
    "cauchy": np.round(rng.standard_cauchy(N1) * 1.2, 6),
    "const": np.full(N1, 7.0),
    "gone": np.full(N1, np.nan),
    "colour": cats1,
}
# Some missing values, written as the different spellings the reader accepts.
for name in ["normal", "ties"]:
    ref[name][rng.integers(0, N0, 30)] = np.nan
    cur[name][rng.integers(0, N1, 20)] = np.nan
MISSING = ["", "NaN", "nan", "null", "NA"]


def write(path, cols, n):
    with open(path, "w", newline="") as f:
        w = csv.writer(f, quoting=csv.QUOTE_MINIMAL)
        names = list(cols)
        w.writerow(names)
        for i in range(n):
            row = []
            for k in names:
                v = cols[k][i]
                if isinstance(v, str):
                    row.append(v)
                elif np.isnan(v):
                    row.append(MISSING[i % len(MISSING)])
                else:
                    row.append(repr(float(v)))
            w.writerow(row)


def write_jsonl(path, cols, n):
    with open(path, "w") as f:
        names = list(cols)
        for i in range(n):
            obj = {}
            for j, k in enumerate(names):
                v = cols[k][i]
                if isinstance(v, str):
                    obj[k] = v
                elif np.isnan(v):
                    if (i + j) % 3 == 0:
                        obj[k] = None
                    elif (i + j) % 3 == 1:
                        obj[k] = float("nan")  # json writes NaN
                    # else: the key is left out
                else:
                    obj[k] = float(v)
            f.write(json.dumps(obj) + "\n")


def binned(r, c):
    rs, cs = r / r.sum(), c / c.sum()
    re, ce = np.where(rs == 0, 1e-4, rs), np.where(cs == 0, 1e-4, cs)
    return {
        "psi": float(np.sum((ce - re) * np.log(ce / re))),
        "kl": float(np.sum(ce * np.log(ce / re))),
        "js": float(jensenshannon(cs, rs, base=2)),
        "hellinger": float(np.sqrt(np.sum((np.sqrt(cs) - np.sqrt(rs)) ** 2) / 2)),
    }


write(os.path.join(HERE, "score_ref.csv"), ref, N0)
write(os.path.join(HERE, "score_cur.csv"), cur, N1)
write_jsonl(os.path.join(HERE, "score_ref.jsonl"), ref, N0)
write_jsonl(os.path.join(HERE, "score_cur.jsonl"), cur, N1)
out = {}
for name in ref:
    if name == "colour":
        cats = sorted(set(ref[name]) | set(cur[name]))
        r = np.array([np.sum(ref[name] == k) for k in cats], dtype=float)
        c = np.array([np.sum(cur[name] == k) for k in cats], dtype=float)
        keep = (r + c) > 0
        chi = stats.chi2_contingency(np.array([r[keep], c[keep]]), correction=False)
        e = binned(r, c)
        e.update({"chi2": {"statistic": float(chi[0]), "p_value": float(chi[1]), "dof": int(chi[2])},
                  "linf": float(np.max(np.abs(c / c.sum() - r / r.sum()))),
                  "unseen_share": float(c[r == 0].sum() / c.sum())})
        out[name] = e
        continue
    a = ref[name][~np.isnan(ref[name])]
    b = cur[name][~np.isnan(cur[name])]
    if len(b) == 0:
        out[name] = {"empty": True}
        continue
    ks = stats.ks_2samp(a, b)
    w = float(stats.wasserstein_distance(a, b))
    edges = np.quantile(np.sort(a), np.arange(1, 10) / 10)
    edges = np.array([x for i, x in enumerate(edges) if i == 0 or x > edges[i - 1]])
    hr = np.bincount(np.searchsorted(edges, a, side="right"), minlength=len(edges) + 1)
    hc = np.bincount(np.searchsorted(edges, b, side="right"), minlength=len(edges) + 1)
    e = binned(hr.astype(float), hc.astype(float))
    cvm = stats.cramervonmises_2samp(a, b)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            ad = stats.anderson_ksamp([a, b])
            ad = {"statistic": float(ad.statistic), "p_value": float(ad.significance_level)}
        except ValueError:
            ad = {"statistic": None, "p_value": None}
    e.update({"cvm": {"statistic": float(cvm.statistic), "p_value": float(cvm.pvalue)},
              "anderson": ad})
    e.update({"ks": {"statistic": float(ks.statistic), "p_value": float(ks.pvalue)},
              "wasserstein": {"distance": w, "normalized": w / max(float(np.std(a)), 0.001)},
              "missing": {"reference": int(N0 - len(a)), "current": int(N1 - len(b))}})
    out[name] = e
# Multiple-testing adjustment of the rule p-values (KS; chi-square for the categorical column)
# over the columns that have one, from the definitions: Bonferroni min(1, p·k); BH the running
# minimum from the largest rank down of p·k/rank, capped at 1.
names = [k for k in out if not out[k].get("empty")]
praw = [out[k]["chi2"]["p_value"] if k == "colour" else out[k]["ks"]["p_value"] for k in names]
k = len(praw)
order = sorted(range(k), key=lambda i: praw[i])
bh = [0.0] * k
run = 1.0
for rank in range(k, 0, -1):
    i = order[rank - 1]
    run = min(run, praw[i] * k / rank)
    bh[i] = run
for i, name in enumerate(names):
    out[name]["p_bh"] = bh[i]
    out[name]["p_bonferroni"] = min(1.0, praw[i] * k)
with open(os.path.join(HERE, "score_expected.json"), "w") as f:
    json.dump(out, f, indent=1)
print("score goldens written to", HERE)
