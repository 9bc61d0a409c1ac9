"""The bootstrap's votes over per-sample label groups against the plain dense computation:
the same votes, ties included, and the same intervals, bit for bit."""

import numpy as np
import pytest
from reference_bootstrap import reference_replicates

from hume_workflow.aggregate.alignment import tie_broken_argmax, weighted_votes
from hume_workflow.aggregate.vote_groups import VoteGroups
from hume_workflow.report import bootstrap_work
from hume_workflow.report.bootstrap_work import FULL_BAND_CLASSES, band_points
from hume_workflow.report.uncertainty import Bootstrap, PairRuns, bootstrap_replicates


def noisy_runs(rng, n_runs, n_samples, k, noise=0.3):
    """(truth, (R, N) labels): the truth under a random permutation per run, a share of the
    labels replaced at random."""
    truth = rng.integers(k, size=n_samples)
    labels = np.stack([rng.permutation(k)[truth] for _ in range(n_runs)])
    replaced = rng.random(labels.shape) < noise
    labels[replaced] = rng.integers(k, size=int(replaced.sum()))
    return truth, labels


@pytest.mark.parametrize("weights", ["uniform", "tied", "score"])
def test_group_votes_equal_dense_votes(weights):
    rng = np.random.default_rng(1)
    _, aligned = noisy_runs(rng, 9, 400, 6, noise=0.6)
    runs = rng.integers(9, size=7)  # repeats, as a resample draws
    w = {
        "uniform": np.ones(7),
        "tied": np.array([0.1, 0.2, 0.3, 0.3, 0.1, 0.2, 0.6]),  # 0.1 + 0.2 against 0.3
        "score": rng.uniform(0.2, 0.9, 7),
    }[weights]
    groups = VoteGroups.of(aligned, reference=int(runs[0]))
    dense = weighted_votes(aligned[runs], 6, w)
    voted = groups.vote(runs, w)
    assert np.array_equal(groups.labels(voted), dense)
    assert np.array_equal(groups.agreeing(runs, voted), (aligned[runs] == dense).sum(0))
    for n, (vote, agreeing) in enumerate(groups.votes_by_n(runs, w), start=1):
        totals = np.zeros((400, 6))
        for i, run in enumerate(runs[:n]):  # the same order of additions as bincount
            totals[np.arange(400), aligned[run]] += w[i]
        expected = tie_broken_argmax(totals, aligned[runs[0]])
        assert np.array_equal(groups.labels(vote), expected), n
        assert np.array_equal(agreeing, (aligned[runs[:n]] == expected).sum(0)), n


def test_groups_number_labels_in_increasing_order():
    aligned = np.array([[5, 0], [2, 0], [5, 1], [9, 1]])
    groups = VoteGroups.of(aligned, reference=0)
    assert groups.group[:, 0].tolist() == [1, 0, 1, 2]
    assert groups.label[0].tolist() == [2, 5, 9]  # as many groups as the most a sample has
    assert groups.label[1].tolist() == [0, 1, -1]
    assert groups.reference.tolist() == [1, 0]


CASES = {
    "uniform, every sample known": dict(k=4, weights="uniform", top_n=None, unknown=0.0),
    "score, top 3, some unknown": dict(k=5, weights="score", top_n=3, unknown=0.3),
    "kappa": dict(k=3, weights="kappa", top_n=None, unknown=0.0),
    "no truth": dict(k=4, weights="uniform", top_n=None, unknown=1.0),
    "many clusters: the band thinned": dict(
        k=FULL_BAND_CLASSES + 20, weights="uniform", top_n=None, unknown=0.0
    ),
}


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_bootstrap_equals_the_dense_reference(case):
    spec = CASES[case]
    rng = np.random.default_rng(7)
    n_runs, n_samples, k = 14, 30 * spec["k"], spec["k"]
    truth, labels = noisy_runs(rng, n_runs, n_samples, k, noise=0.5)
    truth[rng.random(n_samples) < spec["unknown"]] = -1
    scores = np.sort(rng.uniform(0.3, 0.9, n_runs))[::-1]
    scores[3] = scores[4]  # a tie in the ranking
    runs = PairRuns(labels, scores, scores - 0.2, k, spec["top_n"], spec["weights"])
    run_acc = None if spec["unknown"] == 1 else rng.uniform(0.3, 0.9, n_runs)
    setup = Bootstrap(resamples=30, seed=3)
    found = bootstrap_replicates(runs, truth, run_acc, setup)
    point, point_curve, values, by_n = reference_replicates(
        runs, truth, run_acc, setup.resamples, setup.curve_resamples, setup.seed
    )
    assert found.point.keys() == point.keys()
    for name in point:  # NaN where undefined on both sides
        assert np.array_equal(found.point[name], point[name], equal_nan=True), name
        assert np.array_equal(found.values[name], values[name], equal_nan=True), name
    assert np.array_equal(found.point_curve, point_curve, equal_nan=True)
    at = band_points(n_runs, k)
    assert np.array_equal(found.by_n[:, at], by_n[:, at], equal_nan=True)
    assert np.isnan(found.by_n[:, ~at, 0]).all()  # ACC left out between the band's points
    assert np.array_equal(found.by_n[:, ~at, 1], by_n[:, ~at, 1])  # agreement everywhere


def test_band_points():
    assert band_points(24, 10).all()
    at = band_points(100, 1000)
    assert at[:10].all() and at[-1]
    assert 15 <= at.sum() <= 30
    assert band_points(5, 1000).all()


def test_a_total_passing_the_largest_by_rounding_stays_tied():
    # 0.1 + 0.2 passes 0.3 by one ulp: tied within the tolerance, so the reference's label
    aligned = np.array([[0, 2, 1], [1, 1, 0], [1, 0, 0]])
    weights = np.array([0.3, 0.1, 0.2])
    runs = np.arange(3)
    groups = VoteGroups.of(aligned, reference=0)
    last = [groups.labels(vote).copy() for vote, _ in groups.votes_by_n(runs, weights)][-1]
    dense = weighted_votes(aligned, 3, weights)
    assert dense[0] == 0  # the tie the case is about
    assert np.array_equal(last, dense)
    assert np.array_equal(groups.labels(groups.vote(runs, weights)), dense)


def test_workers_share_the_resamples_without_changing_a_number(monkeypatch):
    rng = np.random.default_rng(5)
    truth, labels = noisy_runs(rng, 10, 300, 4, noise=0.5)
    scores = np.sort(rng.uniform(0.3, 0.9, 10))[::-1]
    runs = PairRuns(labels, scores, scores - 0.2, 4, None, "score")
    setup = Bootstrap(resamples=25, seed=2)
    alone = bootstrap_replicates(runs, truth, scores, setup)
    monkeypatch.setattr(bootstrap_work, "VOTES_PER_WORKER", 1)  # two workers however small
    shared = bootstrap_replicates(runs, truth, scores, setup, workers=2)
    for name, values in alone.values.items():
        assert np.array_equal(shared.values[name], values, equal_nan=True), name
    assert np.array_equal(shared.by_n, alone.by_n, equal_nan=True)


def test_small_bootstraps_use_one_process():
    assert bootstrap_work.bootstrap_workers(2, 1000, 24, 1797) == 1  # the demo's
    assert bootstrap_work.bootstrap_workers(2, 1000, 100, 50000) == 2  # ImageNet's
    assert bootstrap_work.bootstrap_workers(1, 1000, 100, 50000) == 1
