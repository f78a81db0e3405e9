#!/usr/bin/python3
"""Golden numbers for the online linear learners (operators/learners/logistic.c: "logistic" and
"linear"; operators/learners/rls.c: "rls").

A plain numpy reference of the update rules, written from their definitions one row (or one
mini-batch) at a time with dense matrices; it shares no code or structure with the C.
Produced with Debian 12's /usr/bin/python3 3.11, numpy 1.24.2 (python3-numpy).
Regenerate with: /usr/bin/python3 tests/golden/gen_learners.py

The data: N = 300 rows, D = 4 features of very different offsets and scales (x0 ~ N(100, 20),
x1 ~ U(0, 1), x2 ~ N(-5, 0.1), x3 ~ N(0, 3)), rounded to 1e-6; a few features missing (nan,
+inf, -inf) and a few labels not finite (those rows are skipped). ylog is 0/1 drawn from a
logistic model, ylin a linear function plus N(0, 0.5) noise.

Conventions (what the C must do):
  rows     only rows with a finite label are learnt from, in order ("learnable rows")
  z        standardised row; a missing feature (nan, +-inf) is 0. Modes:
             raw    z = x
             fixed  z = (x - center) / scale (the "ref" line)
             online z_j = (x_j - mean_j) / sd_j with the mean and the sample standard deviation
                    (ddof = 1) of the finite values of feature j in the learnable rows BEFORE
                    this one; 0 when there are fewer than 2 of them or sd <= 1e-12
  predict  t = w.z + b; logistic p = 1/(1 + exp(-t)), linear p = t
  loss     logistic -log(clip(p, 1e-15, 1-1e-15)) for y = 1, -log(1 - clip(p)) for y = 0;
           linear (p - y)^2. Summed over all learnable rows, each predicted BEFORE the step that
           uses it.
  blocks   consecutive blocks of B learnable rows; every row of a block is predicted with the
           weights before the block; one step with g = mean_i((p_i - y_i) z_i),
           g_b = mean_i(p_i - y_i). A last incomplete block is predicted (its loss counts) but
           no step is taken (it waits for more rows).
  sgd      w -= lr (g + l2 w); b -= lr g_b
  adagrad  g' = g + l2 w; G += g'^2; w -= lr g' / sqrt(G + 1e-8); bias likewise without l2
  ftrl     McMahan et al. 2013, algorithm 1, per coordinate: sigma = (sqrt(n + g^2) - sqrt(n))
           / alpha; z += g - sigma w; n += g^2; w = 0 if |z| <= l1 else
           -(z - sign(z) l1) / ((beta + sqrt(n)) / alpha + l2); the bias is a coordinate with
           l1 = l2 = 0
  rls      x = (z, 1); P0 = I / delta; per row k = P x / (f + x'P x); w += k (y - w'x);
           P = (P - k x'P) / f; with f < 1 each diagonal P_jj > 1/delta is brought back to 1/delta
           by P <- D P D, D_jj = sqrt((1/delta) / P_jj) (the wind-up guard)
  weights  published in the original feature space: w_j / s_j, b - sum w_j c_j / s_j with
           (c, s) the fixed center/scale, or in online mode the mean and sd of all learnable rows
           (a feature whose sd is 0 has weight 0); raw: as they are

golden file learners.txt:
  data N D
  row | x_0 .. x_{D-1} | ylog | ylin                 (N lines)
  ref | center_0 .. | scale_0 ..
  case task opt batch mode lr l2 l1 alpha beta | w_0 .. | bias | loss | learnt
      task 0 logistic, 1 linear; opt 0 sgd, 1 adagrad, 2 ftrl; mode 0 raw, 1 fixed, 2 online
  rls forget delta mode | w_0 .. | bias | loss | learnt | ls_w_0 .. | ls_bias
      ls_*: for forget = 1, the closed-form ridge solution numpy.linalg.lstsq([Z 1; sqrt(delta) I],
      [y; 0]) on the same standardised rows, mapped back like the weights (what P0 = I/delta
      implies); "nan" for forget < 1
"""
import math
import os

import numpy as np

assert np.__version__ == "1.24.2", \
    f"goldens were made with numpy 1.24.2, this is {np.__version__}: check the conventions in " \
    "the docstring, then update this line"

HERE = os.path.dirname(os.path.abspath(__file__))
N, D = 300, 4
CENTER = np.array([100.0, 0.5, -5.0, 0.0])
SCALE = np.array([20.0, 0.3, 0.1, 3.0])


def make_data():
    rng = np.random.default_rng(20240611)
    X = np.column_stack([rng.normal(100, 20, N), rng.uniform(0, 1, N), rng.normal(-5, 0.1, N),
                         rng.normal(0, 3, N)])
    X = np.round(X, 6)
    zt = (X - CENTER) / SCALE
    ylog = (rng.uniform(0, 1, N) < 1 / (1 + np.exp(-(1.5 * zt[:, 0] - 2 * zt[:, 1]
                                                       + 0.8 * zt[:, 2] + 0.3)))).astype(float)
    ylin = np.round(0.1 * X[:, 0] - 3 * X[:, 1] + 4 * X[:, 2] + 7 + rng.normal(0, 0.5, N), 6)
    for i in rng.choice(N, 10, replace=False):
        X[i, 2] = math.nan
    X[17, 3] = math.inf
    X[123, 3] = -math.inf
    X[0, 1] = math.nan  # the very first value of a feature missing
    ylog[[5, 77, 200]] = math.nan
    ylin[5] = math.inf
    ylin[150] = -math.inf
    ylin[201] = math.nan
    return X, ylog, ylin


def standardised_rows(X, y, mode):
    """Z for the learnable rows (prequential statistics in online mode), and the final (c, s)
    the weights are mapped back with (s = 0: the feature does not standardise)."""
    rows = [i for i in range(len(y)) if np.isfinite(y[i])]
    Z = np.zeros((len(rows), D))
    for r, i in enumerate(rows):
        x = X[i]
        ok = np.isfinite(x)
        if mode == 0:
            Z[r] = np.where(ok, x, 0)
        elif mode == 1:
            Z[r] = np.where(ok, (x - CENTER) / SCALE, 0)
        else:
            c, s = stats(X[rows[:r]])
            Z[r] = np.where(ok & (s > 0), (x - c) / np.where(s > 0, s, 1), 0)
    if mode == 0:
        c, s = np.zeros(D), np.ones(D)
    elif mode == 1:
        c, s = CENTER, SCALE
    else:
        c, s = stats(X[rows])
    return rows, Z, c, s


def stats(Xs):
    c, s = np.zeros(D), np.zeros(D)
    for j in range(D):
        v = Xs[:, j][np.isfinite(Xs[:, j])] if len(Xs) else np.zeros(0)
        if len(v) >= 2:
            c[j] = np.mean(v)
            sd = np.std(v, ddof=1)
            s[j] = sd if sd > 1e-12 else 0
        elif len(v) == 1:
            c[j] = v[0]
    return c, s


def original_space(w, b, c, s):
    wo = np.where(s > 0, w / np.where(s > 0, s, 1), 0)
    return wo, b - np.sum(np.where(s > 0, w * c / np.where(s > 0, s, 1), 0))


def sigmoid(t):
    return 1 / (1 + np.exp(-t))


def losses(task, p, y):
    if task == 1:
        return (p - y) ** 2
    pc = np.clip(p, 1e-15, 1 - 1e-15)
    return np.where(y > 0.5, -np.log(pc), -np.log(1 - pc))


def ftrl_w(z, n, alpha, beta, l1, l2):
    return np.where(np.abs(z) <= l1, 0.0, -(z - np.sign(z) * l1) / ((beta + np.sqrt(n)) / alpha + l2))


def run_linear(task, opt, batch, mode, X, y, lr, l2, l1, alpha, beta):
    rows, Z, c, s = standardised_rows(X, y, mode)
    yl = y[rows]
    w, b = np.zeros(D), 0.0
    G = np.zeros(D + 1)
    zf, nf = np.zeros(D + 1), np.zeros(D + 1)
    loss = 0.0
    for start in range(0, len(rows), batch):
        Zb, yb = Z[start:start + batch], yl[start:start + batch]
        t = Zb @ w + b
        p = sigmoid(t) if task == 0 else t
        loss += np.sum(losses(task, p, yb))
        if len(yb) < batch:
            break  # an incomplete block waits for more rows
        r = p - yb
        g = Zb.T @ r / batch
        gb = np.mean(r)
        if opt == 0:
            w = w - lr * (g + l2 * w)
            b = b - lr * gb
        elif opt == 1:
            gg = np.append(g + l2 * w, gb)
            G += gg ** 2
            step = lr * gg / np.sqrt(G + 1e-8)
            w, b = w - step[:D], b - step[D]
        else:
            gg = np.append(g, gb)
            wa = np.append(w, b)
            sigma = (np.sqrt(nf + gg ** 2) - np.sqrt(nf)) / alpha
            zf += gg - sigma * wa
            nf += gg ** 2
            w = ftrl_w(zf[:D], nf[:D], alpha, beta, l1, l2)
            b = float(ftrl_w(zf[D:], nf[D:], alpha, beta, 0, 0)[0])
    wo, bo = original_space(w, b, c, s)
    return wo, bo, loss, len(rows)


def run_rls(forget, delta, mode, X, y):
    rows, Z, c, s = standardised_rows(X, y, mode)
    yl = y[rows]
    A = np.column_stack([Z, np.ones(len(rows))])
    P = np.eye(D + 1) / delta
    w = np.zeros(D + 1)
    loss = 0.0
    for x, yy in zip(A, yl):
        e = yy - w @ x
        loss += e * e
        k = P @ x / (forget + x @ P @ x)
        w = w + k * e
        P = (P - np.outer(k, x @ P)) / forget
        if forget < 1:
            dg = np.diag(P)
            sc = np.where(dg > 1 / delta, np.sqrt((1 / delta) / dg), 1.0)
            P = P * np.outer(sc, sc)
    wo, bo = original_space(w[:D], w[D], c, s)
    if forget == 1:
        Aa = np.vstack([A, math.sqrt(delta) * np.eye(D + 1)])
        ya = np.concatenate([yl, np.zeros(D + 1)])
        wl = np.linalg.lstsq(Aa, ya, rcond=None)[0]
        lw, lb = original_space(wl[:D], wl[D], c, s)
    else:
        lw, lb = np.full(D, math.nan), math.nan
    return wo, bo, loss, len(rows), lw, lb


def fmt(v):
    return " ".join(repr(float(x)) for x in np.atleast_1d(v))


def main():
    X, ylog, ylin = make_data()
    out = [f"data {N} {D}"]
    for i in range(N):
        out.append(f"row | {fmt(X[i])} | {fmt(ylog[i])} | {fmt(ylin[i])}")
    out.append(f"ref | {fmt(CENTER)} | {fmt(SCALE)}")
    # (lr, l2, l1, alpha, beta) per optimizer
    hyper = {0: (0.05, 1e-3, 0.0, 0.1, 1.0), 1: (0.1, 1e-3, 0.0, 0.1, 1.0),
             2: (0.05, 0.01, 0.01, 0.1, 1.0)}
    cases = [(t, o, b, m) for t in (0, 1) for o in (0, 1, 2) for b in (1, 8) for m in (1, 2)]
    cases += [(1, 1, 1, 0), (0, 2, 8, 0), (1, 0, 3, 2)]
    for t, o, b, m in cases:
        lr, l2, l1, alpha, beta = hyper[o]
        y = ylog if t == 0 else ylin
        w, bias, loss, learnt = run_linear(t, o, b, m, X, y, lr, l2, l1, alpha, beta)
        assert np.all(np.isfinite(w)) and math.isfinite(bias) and math.isfinite(loss)
        out.append(f"case {t} {o} {b} {m} {lr!r} {l2!r} {l1!r} {alpha!r} {beta!r} | {fmt(w)} | "
                   f"{fmt(bias)} | {fmt(loss)} | {learnt}")
    for forget, delta, m in [(1.0, 1e-6, 1), (1.0, 1e-6, 2), (1.0, 1.0, 1), (0.98, 1.0, 1),
                             (0.9, 1.0, 2)]:
        w, bias, loss, learnt, lw, lb = run_rls(forget, delta, m, X, ylin)
        if forget == 1:
            assert np.allclose(w, lw, rtol=1e-6, atol=1e-8), (w, lw)
        out.append(f"rls {forget!r} {delta!r} {m} | {fmt(w)} | {fmt(bias)} | {fmt(loss)} | "
                   f"{learnt} | {fmt(lw)} | {fmt(lb)}")
    with open(os.path.join(HERE, "learners.txt"), "w") as f:
        f.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
