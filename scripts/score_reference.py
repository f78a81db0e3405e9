#!/usr/bin/python3
"""The computation `driftd score` does on numeric columns, in Python with numpy and scipy: the
baseline that scripts/bench times it against. Reads two CSV files with a header row (all columns
numeric), and for every column computes ks_2samp, cramervonmises_2samp, anderson_ksamp,
wasserstein_distance, and PSI/KL/JS/Hellinger on 10 bins from the reference quantiles. Prints one JSON line with the dataset summary.

Usage: /usr/bin/python3 scripts/score_reference.py REF.csv CUR.csv
"""
import json
import sys
import warnings

import numpy as np
from scipy import stats
from scipy.spatial.distance import jensenshannon


def main():
    ref = np.loadtxt(sys.argv[1], delimiter=",", skiprows=1, ndmin=2)
    cur = np.loadtxt(sys.argv[2], delimiter=",", skiprows=1, ndmin=2)
    drifted = 0
    for j in range(ref.shape[1]):
        a, b = ref[:, j], cur[:, j]
        a, b = a[~np.isnan(a)], b[~np.isnan(b)]
        ks = stats.ks_2samp(a, b)
        stats.wasserstein_distance(a, b)
        stats.cramervonmises_2samp(a, b)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # p-value capped/floored notices
            stats.anderson_ksamp([a, b])
        edges = np.unique(np.quantile(a, np.arange(1, 10) / 10))
        hr = np.bincount(np.searchsorted(edges, a, side="right"), minlength=len(edges) + 1)
        hc = np.bincount(np.searchsorted(edges, b, side="right"), minlength=len(edges) + 1)
        rs, cs = hr / hr.sum(), hc / hc.sum()
        re, ce = np.where(rs == 0, 1e-4, rs), np.where(cs == 0, 1e-4, cs)
        np.sum((ce - re) * np.log(ce / re))
        np.sum(ce * np.log(ce / re))
        jensenshannon(cs, rs, base=2)
        np.sqrt(np.sum((np.sqrt(cs) - np.sqrt(rs)) ** 2) / 2)
        drifted += ks.pvalue < 0.05
    print(json.dumps({"features": ref.shape[1], "drifted": int(drifted)}))


if __name__ == "__main__":
    main()
