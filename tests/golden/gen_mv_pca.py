#!/usr/bin/python3
"""Golden numbers for the PCA reconstruction-error operator, from scikit-learn (run with Debian's
python3, which has numpy, scipy and sklearn).

The reference is what NannyML's DataReconstructionDriftCalculator computes (without its imputer:
these rows have no missing value): StandardScaler().fit(ref), PCA(n_components=variance) fitted
on the scaled reference, and per chunk the mean over rows of
    np.linalg.norm(Xs - pca.inverse_transform(pca.transform(Xs)), axis=1)
with Xs = scaler.transform(X).
The thresholds are mean -/+ 3 * np.std (ddof=0, NannyML's StandardDeviationThreshold) of the
reference's own chunk errors (consecutive chunks of CHUNK rows).

Writes mv_pca.txt, next to this script, one block per case:
  case NAME d variance nref chunk k
  ref   the reference rows, row-major (nref * d values)
  refchunks e_1 .. e_c | mean std lower upper
  chunk NAME rows x (row-major) | error | feature_sq_1 .. feature_sq_d | drifted
where feature_sq_j is the mean over rows of the squared residual of feature j and drifted is 1 when
error > upper or error < lower. The chunks of every case are, in this order:
  same   fresh rows from the reference's distribution
  flip   the same rows with one feature reflected around (about) its own mean: every per-feature
         mean and variance is (nearly) unchanged, its correlations with the others change sign
  shift  fresh rows with a mean shift of 1.5 standard deviations on one feature
Values are multiples of 1e-4 printed with 4 decimals, and sklearn sees exactly the doubles the C
test reads. The script checks that each case is well posed (cumulative ratio not within 1e-6 of
`variance`, a clear gap after the kept eigenvalues) so the component count is not a rounding
accident, and that the flip chunk is caught.
Regenerate with: /usr/bin/python3 tests/golden/gen_mv_pca.py
"""
import os

import numpy as np
from sklearn.decomposition import PCA
from sklearn.preprocessing import StandardScaler

HERE = os.path.dirname(os.path.abspath(__file__))
K_STD = 3.0   # NannyML's default multiplier
ROWS = 200    # rows per analysis chunk


def fmt(v):
    return " ".join(repr(float(x)) for x in v)


def units(x):
    """Rounds to multiples of 1e-4, kept as integers so reflections stay exact."""
    return np.round(np.asarray(x) * 1e4).astype(np.int64)


def text(u):
    return " ".join("%.4f" % (v / 1e4) for v in u.ravel())


def draw(rng, n, w, noise, scale, mu):
    """Correlated Gaussian rows: factors times loadings plus independent noise (z @ A)."""
    d = w.shape[1]
    z = rng.normal(size=(n, w.shape[0] + d))
    a = np.vstack([w, np.diag(noise)])
    return units((z @ a) * scale + mu)


def recon(scaler, pca, xu):
    xs = scaler.transform(xu / 1e4)
    r = xs - pca.inverse_transform(pca.transform(xs))
    return np.linalg.norm(r, axis=1).mean(), (r ** 2).mean(axis=0)


def case(f, name, seed, variance, d, nref, chunk, w, noise, flip, shift, const=None):
    rng = np.random.default_rng(seed)
    scale = np.round(rng.uniform(0.5, 20.0, d), 2)
    mu = np.round(rng.uniform(-50.0, 50.0, d), 1)
    ref = draw(rng, nref, w, noise, scale, mu)
    if const is not None:
        ref[:, const] = units(3.7)
    x = ref / 1e4
    scaler = StandardScaler().fit(x)
    pca = PCA(n_components=variance).fit(scaler.transform(x))
    k = int(pca.n_components_)

    # Well posed: the rule's decision is not within rounding of `variance`, and the kept subspace
    # is separated from the rest by a clear eigenvalue gap.
    full = PCA().fit(scaler.transform(x))
    cum = np.cumsum(full.explained_variance_ratio_)
    assert np.min(np.abs(cum - variance)) > 1e-6, (name, cum)
    ev = full.explained_variance_
    if k < len(ev):
        assert (ev[k - 1] - ev[k]) / ev[0] > 1e-3, (name, ev)

    ref_err = [recon(scaler, pca, ref[i:i + chunk])[0] for i in range(0, nref, chunk)]
    mean, std = float(np.mean(ref_err)), float(np.std(ref_err))
    lower, upper = mean - K_STD * std, mean + K_STD * std

    same = draw(rng, ROWS, w, noise, scale, mu)
    flipped = same.copy()
    c = int(np.round(flipped[:, flip].mean()))
    flipped[:, flip] = 2 * c - flipped[:, flip]
    shifted = draw(rng, ROWS, w, noise, scale, mu)
    shifted[:, shift] += units(1.5 * np.std(x[:, shift]))
    if const is not None:
        same[:, const] = flipped[:, const] = shifted[:, const] = units(3.7)

    f.write(f"case {name} {d} {variance!r} {nref} {chunk} {k}\n")
    f.write(f"ref {text(ref)}\n")
    f.write(f"refchunks {fmt(ref_err)} | {fmt([mean, std, lower, upper])}\n")
    for cname, rows in [("same", same), ("flip", flipped), ("shift", shifted)]:
        err, fsq = recon(scaler, pca, rows)
        drifted = int(err > upper or err < lower)
        if cname == "flip":
            assert drifted, (name, err, upper)
        f.write(f"chunk {cname} {len(rows)} {text(rows)} | {err!r} | {fmt(fsq)} | {drifted}\n")
    print(f"{name}: d={d} variance={variance} k={k} ref chunk errors {mean:.4f} +- {std:.4f}")


def loadings(rng, nf, d, strength):
    return rng.normal(size=(nf, d)) * strength


with open(os.path.join(HERE, "mv_pca.txt"), "w") as f:
    f.write("# generated by gen_mv_pca.py; see there for the format\n")
    g = np.random.default_rng(7)
    # d = 3, one strong factor: feature 0 flips against the other two.
    case(f, "d3", 101, 0.65, 3, 1000, 100,
         w=np.array([[1.0, 0.9, 0.8]]), noise=np.array([0.4, 0.5, 0.6]), flip=0, shift=2)
    # d = 5, two factors, 90% of the variance.
    case(f, "d5", 202, 0.9, 5, 1000, 100,
         w=np.array([[1.0, 0.8, 0.9, 0.0, 0.1], [0.0, 0.3, -0.2, 1.0, 0.9]]),
         noise=np.full(5, 0.35), flip=1, shift=4)
    # d = 12, three random factors, NannyML's default 0.65.
    case(f, "d12", 303, 0.65, 12, 1000, 100,
         w=loadings(g, 3, 12, 1.0), noise=np.full(12, 0.5), flip=2, shift=7)
    # d = 8, random factors, 0.9 (more components than factors: noise directions kept too).
    case(f, "d8", 404, 0.9, 8, 1000, 125,
         w=loadings(g, 2, 8, 1.2), noise=np.linspace(0.3, 0.8, 8), flip=5, shift=0)
    # d = 5 with a constant feature (index 2): left out of the model, contributes nothing.
    case(f, "const", 505, 0.65, 5, 1000, 100,
         w=np.array([[1.0, 0.9, 0.0, 0.8, 0.7]]), noise=np.full(5, 0.5), flip=0, shift=4,
         const=2)
