"""Calibration by simulation: on clustered data with a known truth, sumprobe's nominal 95%
intervals cover it 93-97% of the time, the old row-wise bootstrap does not (so this fails if
resampling by rows comes back), and the cluster sign-flip test keeps its false-positive rate.

Data: documents with 1-8 records each (uniform, or skewed towards 1), a document effect and row
noise of equal variance, as when the masks of one post or the comparisons of one TL;DR post
share a document. Pure numpy; about 10 seconds in all. The coverage window allows for the
Monte Carlo error of 800 simulated data sets (standard error about 0.8 points).
"""

from __future__ import annotations

import numpy as np
import pytest

from sumprobe.core.stats import mean_ci, paired_mean_difference, unpaired_difference

SIMULATIONS = 800
DOCUMENTS = 40
RESAMPLES = 600


def uniform_sizes(rng, k):
    return rng.integers(1, 9, size=k)


def skewed_sizes(rng, k):
    return np.minimum(rng.geometric(0.35, size=k), 8)  # half the documents have one record


def clustered(rng, sizes, effect: float):
    """Values (effect + document effect + noise) and the document of each."""
    documents = np.repeat(np.arange(DOCUMENTS), sizes(rng, DOCUMENTS))
    shared = rng.normal(size=DOCUMENTS)[documents]
    return effect + shared + rng.normal(size=len(documents)), documents


def coverage(estimate_of, truth: float, seed: int) -> float:
    rng = np.random.default_rng(seed)
    hits = 0
    for i in range(SIMULATIONS):
        found = estimate_of(rng, i)
        hits += found.low <= truth <= found.high
    return hits / SIMULATIONS


@pytest.mark.parametrize("sizes", [uniform_sizes, skewed_sizes], ids=["uniform", "skewed"])
def test_intervals_resampled_by_document_cover_the_truth(sizes):
    def by_document(rng, i):
        values, documents = clustered(rng, sizes, 0.3)
        return mean_ci(values, documents, n_resamples=RESAMPLES, seed=i)

    assert 0.93 <= coverage(by_document, 0.3, seed=11) <= 0.97


@pytest.mark.parametrize("sizes", [uniform_sizes, skewed_sizes], ids=["uniform", "skewed"])
def test_intervals_resampled_by_row_are_too_narrow_on_the_same_data(sizes):
    def by_row(rng, i):
        values, _ = clustered(rng, sizes, 0.3)
        return mean_ci(values, n_resamples=RESAMPLES, seed=i)

    assert coverage(by_row, 0.3, seed=11) < 0.88


def test_paired_differences_cover_a_known_effect():
    def paired(rng, i):
        a, documents = clustered(rng, uniform_sizes, 0.5)
        b = rng.normal(size=len(a))  # the other side, centred on 0
        return paired_mean_difference(a, b, documents, n_resamples=RESAMPLES, seed=i)

    assert 0.93 <= coverage(paired, 0.5, seed=12) <= 0.97


def test_paired_differences_of_sparse_hits_cover_and_agree_with_their_test():
    # The probe's case: a mask is filled with one summary and not the other in a few pairs
    # (+1 with 0.2, -1 with 0.1, else 0). A percentile bootstrap printed intervals above 0
    # beside sign-flip p = 0.25 here; the inverted test cannot, and still covers.
    def sparse_hits(rng, i):
        documents = np.repeat(np.arange(DOCUMENTS), rng.integers(1, 4, size=DOCUMENTS))
        u = rng.random(len(documents))
        d = np.where(u < 0.2, 1.0, np.where(u < 0.3, -1.0, 0.0))
        found = paired_mean_difference(d, np.zeros_like(d), documents, n_resamples=RESAMPLES,
                                       seed=i)
        if not found.note:
            assert (found.low > 0 or found.high < 0) == (found.p_value <= 0.05)
        return found

    assert 0.93 <= coverage(sparse_hits, 0.1, seed=15) <= 0.98


def test_unpaired_differences_over_shared_documents_cover_a_known_effect():
    def unpaired(rng, i):
        values, documents = clustered(rng, uniform_sizes, 0.0)
        in_a = rng.random(len(values)) < 0.5  # groups mixed within documents (axis data)
        values = values + 0.4 * in_a
        return unpaired_difference(values[in_a], values[~in_a], documents[in_a],
                                   documents[~in_a], n_resamples=RESAMPLES, seed=i)

    assert 0.93 <= coverage(unpaired, 0.4, seed=13) <= 0.97


def test_the_sign_flip_test_keeps_its_false_positive_rate_under_no_effect():
    rng = np.random.default_rng(14)
    rejected = 0
    for i in range(SIMULATIONS):
        a, documents = clustered(rng, skewed_sizes, 0.0)
        b = rng.normal(size=len(a))
        rejected += paired_mean_difference(a, b, documents, n_resamples=RESAMPLES,
                                           seed=i).p_value < 0.05
    assert rejected / SIMULATIONS <= 0.065  # 5% and its Monte Carlo error
