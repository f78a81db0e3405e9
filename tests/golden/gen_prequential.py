#!/usr/bin/python3
"""Golden numbers for the prequential metrics (operators/metrics/prequential.c).

Produced with Debian 12's /usr/bin/python3 3.11, numpy 1.24.2, scikit-learn 1.2.1 (python3-numpy,
python3-sklearn); the versions that ran are checked below.
Regenerate with: /usr/bin/python3 tests/golden/gen_prequential.py

  prequential.txt, one case per line, groups separated by " | ":
    task threshold seed n | predictions | labels | delays | expected
      task: 0 classification, 1 regression; seed 0: the pairs are listed in groups 1-3 (n is
      their count); seed > 0: groups 1-3 are "-" and the n pairs come from xorshift64 (below),
      which the C test reproduces bit for bit (integer arithmetic and single correctly rounded
      divisions only)
    expected: n invalid accuracy precision recall f1 log_loss auc mae rmse delay_median
              delay_p95 ("nan" where undefined; the other task's metrics are nan)

  Pairs fed in order; invalid ones (NaN/inf prediction or label; classification label not
  exactly 0 or 1) are counted and left out. Over the valid pairs:
    accuracy  accuracy_score(y, p >= threshold)
    precision, recall, f1  precision_score / recall_score / f1_score(y, p >= threshold), nan
              where sklearn's zero_division decides (its results with zero_division=0 and 1
              differ)
    log_loss  log_loss(y, p, eps=1e-15, labels=[0, 1]) (clipping to [1e-15, 1 - 1e-15]: the
              default of sklearn < 1.2; 1.2 defaults to float64 eps), nan when some p is outside
              [0, 1]
    auc       roc_auc_score(y, p), nan when one class is absent
    mae, rmse mean_absolute_error(y, p), sqrt(mean_squared_error(y, p))
    delays    numpy.quantile(finite delays, [0.5, 0.95]) (linear), nan when none
"""
import math
import os
import warnings

import numpy as np
import sklearn
from sklearn.metrics import (accuracy_score, f1_score, log_loss, mean_absolute_error,
                             mean_squared_error, precision_score, recall_score, roc_auc_score)

assert np.__version__ == "1.24.2" and sklearn.__version__ == "1.2.1", \
    f"goldens were made with numpy 1.24.2 / sklearn 1.2.1, this is {np.__version__} / " \
    f"{sklearn.__version__}: check the conventions in the docstring, then update this line"

warnings.filterwarnings("ignore")
HERE = os.path.dirname(os.path.abspath(__file__))
NAN = float("nan")
M64 = (1 << 64) - 1


def xorshift(x):
    x ^= (x << 13) & M64
    x ^= x >> 7
    x ^= (x << 17) & M64
    return x


def synth(task, seed, n):
    """The synthetic streams of the large cases (the C test has the same code).
    classification: label 1 with chance 3/10; score k/1000 with k = u % 701 + 300 label
                    (1001 tied levels, classes overlapping)
    regression:     label y uniform in [-1, 1); prediction y + v / w, v uniform [-1, 1),
                    w uniform (0, 1] (a ratio of uniforms: Cauchy-like tails)
    delays:         nan one time in ten, else (u % 100000) / 1000 seconds"""
    x = seed
    pred, lab, dl = [], [], []
    for _ in range(n):
        if task == 0:
            x = xorshift(x)
            y = 1 if (x >> 11) % 10 < 3 else 0
            x = xorshift(x)
            p = ((x >> 11) % 701 + 300 * y) / 1000.0
        else:
            x = xorshift(x)
            y = float((x >> 11) - (1 << 52)) / float(1 << 52)
            x = xorshift(x)
            v = float((x >> 11) - (1 << 52)) / float(1 << 52)
            x = xorshift(x)
            w = float((x >> 11) + 1) / float(1 << 53)
            p = y + v / w
        x = xorshift(x)
        r = x >> 11
        d = NAN if r % 10 == 0 else (r % 100000) / 1000.0
        pred.append(p)
        lab.append(float(y))
        dl.append(d)
    return np.array(pred), np.array(lab), np.array(dl)


def undefined_or(metric, y, yhat):
    a = metric(y, yhat, zero_division=0)
    b = metric(y, yhat, zero_division=1)
    return float(a) if a == b else NAN


def expected(task, thr, pred, lab, dl):
    valid = np.isfinite(pred) & np.isfinite(lab)
    if task == 0:
        valid &= (lab == 0) | (lab == 1)
    invalid = int((~valid).sum())
    p, y, d = pred[valid], lab[valid], dl[valid]
    n = len(p)
    acc = prec = rec = f1 = ll = auc = mae = rmse = NAN
    if task == 0 and n > 0:
        y = y.astype(int)
        yhat = (p >= thr).astype(int)
        acc = float(accuracy_score(y, yhat))
        prec = undefined_or(precision_score, y, yhat)
        rec = undefined_or(recall_score, y, yhat)
        f1 = undefined_or(f1_score, y, yhat)
        if np.all((p >= 0) & (p <= 1)):
            ll = float(log_loss(y, p, eps=1e-15, labels=[0, 1]))
        if 0 < y.sum() < n:
            auc = float(roc_auc_score(y, p))
    elif task == 1 and n > 0:
        mae = float(mean_absolute_error(y, p))
        rmse = float(np.sqrt(mean_squared_error(y, p)))
    known = d[np.isfinite(d)]
    med = p95 = NAN
    if len(known):
        med, p95 = (float(v) for v in np.quantile(known, [0.5, 0.95]))
    return [n, invalid, acc, prec, rec, f1, ll, auc, mae, rmse, med, p95]


def fmt(v):
    return " ".join(repr(float(x)) for x in v)


def fmtn(v):
    return " ".join(str(x) if isinstance(x, int) else repr(float(x)) for x in v)


lines = []


def case(task, thr, pred, lab, dl):
    pred, lab, dl = (np.asarray(a, dtype=float) for a in (pred, lab, dl))
    assert len(pred) == len(lab) == len(dl) >= 1
    e = expected(task, thr, pred, lab, dl)
    lines.append(f"{task} {thr!r} 0 {len(pred)} | {fmt(pred)} | {fmt(lab)} | {fmt(dl)} | "
                 f"{fmtn(e)}")


def synth_case(task, thr, seed, n):
    e = expected(task, thr, *synth(task, seed, n))
    lines.append(f"{task} {thr!r} {seed} {n} | - | - | - | {fmtn(e)}")


def scores_for(rng, y, decimals, sep=1.0):
    """Scores in [0, 1] that lean towards the label, rounded (ties)."""
    s = 1 / (1 + np.exp(-(rng.normal(size=len(y)) + sep * (2 * y - 1))))
    return np.round(s, decimals)


def delays_for(rng, n, nan_share=0.2):
    d = np.round(rng.exponential(30, n), 3)
    d[rng.random(n) < nan_share] = NAN
    return d


rng = np.random.default_rng(20240611)

# n = 1 and 2
case(0, 0.5, [0.7], [1], [3.5])
case(0, 0.5, [0.2], [1], [NAN])
case(0, 0.5, [0.2], [0], [0.0])              # one true negative: precision, recall, f1 nan
case(1, 0.5, [2.5], [-1.0], [12.0])
case(0, 0.5, [0.4, 0.4], [0, 1], [1.0, 2.0])  # a single tie: AUC 1/2

# Random scores with ties, the same pairs at three thresholds
for dec, n in [(1, 200), (2, 1000)]:
    y = (rng.random(n) < 0.4).astype(float)
    s = scores_for(rng, y, dec)
    d = delays_for(rng, n)
    for thr in (0.3, 0.5, 0.7):
        case(0, thr, s, y, d)

# A larger window with injected invalid pairs (NaN/inf prediction, inf/NaN label, labels 2, 0.5,
# -1) and 20% unknown delays
n = 5000
y = (rng.random(n) < 0.3).astype(float)
s = scores_for(rng, y, 2, sep=0.7)
d = delays_for(rng, n)
bad = rng.choice(n, 12, replace=False)
for i, (pv, lv) in zip(bad, [(NAN, None), (math.inf, None), (-math.inf, None), (None, math.inf),
                             (None, NAN), (None, 2.0), (None, 0.5), (None, -1.0), (NAN, NAN),
                             (None, -math.inf), (None, 1.0000000000000002), (None, 3.0)]):
    if pv is not None:
        s[i] = pv
    if lv is not None:
        y[i] = lv
case(0, 0.5, s, y, d)

# Perfectly separated (AUC 1), perfectly reversed (AUC 0)
y = np.array([0.0] * 150 + [1.0] * 150)
rng.shuffle(y)
s = np.where(y == 1, rng.uniform(0.6, 1.0, 300), rng.uniform(0.0, 0.4, 300))
case(0, 0.5, s, y, delays_for(rng, 300))
case(0, 0.5, 1 - s, y, delays_for(rng, 300))

# All one class: AUC nan
case(0, 0.5, np.round(rng.random(50), 2), np.ones(50), delays_for(rng, 50))
case(0, 0.5, np.round(rng.random(50), 2), np.zeros(50), delays_for(rng, 50))
# All negatives, all predicted negative: accuracy 1, precision/recall/f1 nan
case(0, 0.5, np.round(rng.random(40) * 0.4, 2), np.zeros(40), delays_for(rng, 40))

# Class predictions 0/1 instead of scores (log-loss from the clipped extremes)
n = 1000
y = (rng.random(n) < 0.5).astype(float)
yhat = np.where(rng.random(n) < 0.85, y, 1 - y)
case(0, 0.5, yhat, y, delays_for(rng, n))
# ...all of them right: the log-loss is -log(1 - 1e-15) per pair
case(0, 0.5, y[:100], y[:100], delays_for(rng, 100))

# Scores at exactly 0 and 1 among others, thresholds at a score
n = 400
y = (rng.random(n) < 0.5).astype(float)
s = scores_for(rng, y, 1)
s[rng.choice(n, 40, replace=False)] = 0.0
s[rng.choice(n, 40, replace=False)] = 1.0
for thr in (0.3, 0.7):
    case(0, thr, s, y, delays_for(rng, n, 0.0))

# Decision scores (margins) outside [0, 1]: log-loss nan, the rest defined; threshold 0
n = 700
y = (rng.random(n) < 0.5).astype(float)
m = np.round(rng.normal(size=n) + (2 * y - 1), 2)
case(0, 0.0, m, y, delays_for(rng, n))

# Every score tied: AUC 1/2; no known delay at all
case(0, 0.5, np.full(60, 0.5), (rng.random(60) < 0.5).astype(float), np.full(60, NAN))

# Regression: heavy tails (Student t with 1.5 and 1 degrees of freedom), lognormal scales,
# invalid pairs and unknown delays
n = 3000
y = rng.standard_t(1.5, n) * 10
p = y + rng.standard_t(1.5, n)
d = delays_for(rng, n, 0.3)
p[rng.choice(n, 3, replace=False)] = [NAN, math.inf, -math.inf]
y[rng.choice(n, 2, replace=False)] = [NAN, math.inf]
case(1, 0.5, p, y, d)
n = 1000
y = rng.standard_cauchy(n)
case(1, 0.5, y + rng.standard_cauchy(n), y, delays_for(rng, n))
n = 2000
y = rng.lognormal(5, 2, n)
case(1, 0.5, y * rng.lognormal(0, 0.5, n), y, delays_for(rng, n, 0.0))
case(1, 0.5, [1.0, 2.0, 3.0], [1.0, 2.0, 3.0], [NAN, NAN, 4.0])  # exact: MAE = RMSE = 0

# Large windows from the shared xorshift64 streams
synth_case(0, 0.5, 2463534242, 100000)
synth_case(0, 0.7, 1234567, 20000)
synth_case(1, 0.5, 987654321, 100000)

with open(os.path.join(HERE, "prequential.txt"), "w") as f:
    f.write("\n".join(lines) + "\n")
print(f"{len(lines)} cases written to {os.path.join(HERE, 'prequential.txt')}")
