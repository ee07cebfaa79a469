"""Coverage of nominal 95% intervals on simulated clustered data, old procedure against new.

Old: a percentile bootstrap over rows (sumprobe 0.1). New: a percentile bootstrap over documents
widened by sqrt(k/(k-1)) t(k-1)/z (sumprobe 0.2). Data: documents with 1-8 records (uniform or
skewed towards 1), a document effect and row noise of equal variance, a known mean of 0.3; and
the false-positive rate of the cluster sign-flip test under no effect; and, on sparse paired
hits (the probe's chosen - rejected: +1 with 0.2, -1 with 0.1, else 0), the percentile bootstrap
sumprobe 0.2 printed for paired differences against the inverted sign-flip test it prints now:
coverage, and how often the interval and the test's p disagree about 0.
Run: python benchmarks/calibration.py [--simulations 2000]
"""

from __future__ import annotations

import argparse

import numpy as np

from sumprobe.core.resampling import bootstrap_ratio, cluster_codes, interval
from sumprobe.core.stats import mean_ci, paired_mean_difference


def sizes(kind: str, rng, k: int):
    if kind == "uniform 1-8":
        return rng.integers(1, 9, size=k)
    return np.minimum(rng.geometric(0.35, size=k), 8)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--simulations", type=int, default=2000)
    parser.add_argument("--resamples", type=int, default=1000)
    args = parser.parse_args()
    print(f"{'records per document':<22}{'documents':>10}{'old (rows)':>12}{'new (documents)':>17}")
    for kind in ("uniform 1-8", "skewed 1-8"):
        for k in (10, 20, 40, 80):
            rng = np.random.default_rng(k)
            old = new = 0
            for i in range(args.simulations):
                documents = np.repeat(np.arange(k), sizes(kind, rng, k))
                values = 0.3 + rng.normal(size=k)[documents] + rng.normal(size=len(documents))
                rows = mean_ci(values, n_resamples=args.resamples, seed=i)
                clustered = mean_ci(values, documents, n_resamples=args.resamples, seed=i)
                old += rows.low <= 0.3 <= rows.high
                new += clustered.low <= 0.3 <= clustered.high
            print(f"{kind:<22}{k:>10}{100 * old / args.simulations:>11.1f}%"
                  f"{100 * new / args.simulations:>16.1f}%")
    rng = np.random.default_rng(0)
    rejected = 0
    for i in range(args.simulations):
        documents = np.repeat(np.arange(40), sizes("skewed 1-8", rng, 40))
        a = rng.normal(size=40)[documents] + rng.normal(size=len(documents))
        rejected += paired_mean_difference(a, rng.normal(size=len(a)), documents,
                                           n_resamples=args.resamples, seed=i).p_value < 0.05
    print(f"\nsign-flip test by document, no effect, 40 documents: rejects "
          f"{100 * rejected / args.simulations:.1f}% at p < 0.05")
    print(f"\n{'sparse paired hits':<22}{'documents':>10}{'bootstrap':>12}{'disagrees':>11}"
          f"{'inverted test':>15}{'disagrees':>11}")
    for k in (8, 13, 40, 200):
        rng = np.random.default_rng(k)
        covered, disagree = np.zeros(2), np.zeros(2)
        for i in range(args.simulations):
            documents = np.repeat(np.arange(k), rng.integers(1, 4, size=k))
            u = rng.random(len(documents))
            d = np.where(u < 0.2, 1.0, np.where(u < 0.3, -1.0, 0.0))
            new = paired_mean_difference(d, np.zeros_like(d), documents,
                                         n_resamples=args.resamples, seed=i)
            codes = cluster_codes(documents, len(d))
            draws = bootstrap_ratio(d, np.ones_like(d), codes, n_resamples=args.resamples,
                                    seed=i)
            old = interval(draws, 0.95, float(d.mean()), k, (d.min(), d.max()))[:2]
            for j, (low, high) in enumerate((old, (new.low, new.high))):
                # No interval (too few documents or no spread) covers nothing, disagrees never.
                covered[j] += low <= 0.1 <= high
                disagree[j] += (low > 0 or high < 0) != (new.p_value <= 0.05) and low == low
        old_cov, new_cov = 100 * covered / args.simulations
        old_dis, new_dis = 100 * disagree / args.simulations
        print(f"{'+1: 0.2, -1: 0.1':<22}{k:>10}{old_cov:>11.1f}%{old_dis:>10.1f}%"
              f"{new_cov:>14.1f}%{new_dis:>10.1f}%")
    print(f"({args.simulations} simulated data sets per row; Monte Carlo SE about "
          f"{100 * (0.95 * 0.05 / args.simulations) ** 0.5:.1f} points)")


if __name__ == "__main__":
    main()
