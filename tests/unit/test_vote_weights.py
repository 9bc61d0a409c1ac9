"""The weighted vote (aggregation.weights): run weights, and the vote checked against a
brute-force loop over every sample (alignment by trying every permutation of the ids)."""

from itertools import permutations

import numpy as np
import pytest
from fake_runs import write_fake_run

from hume_workflow.aggregate.alignment import majority_vote
from hume_workflow.aggregate.selected_vote import vote_selected
from hume_workflow.aggregate.selection import select_runs
from hume_workflow.aggregate.weights import KAPPA_FLOOR, VOTE_WEIGHTS, run_weights
from hume_workflow.errors import InputError
from hume_workflow.formats.run import LABELS, read_runs

# ---- brute force ------------------------------------------------------------------------------


def best_permutation(labels: np.ndarray, reference: np.ndarray, k: int) -> np.ndarray:
    """The lookup (k,) of the id permutation of ``labels`` that agrees most with ``reference``,
    found by trying all k! of them; the test data must make it unique."""
    agree = {p: int((np.array(p)[labels] == reference).sum()) for p in permutations(range(k))}
    best = max(agree.values())
    winners = [p for p, a in agree.items() if a == best]
    assert len(winners) == 1, "test data must align unambiguously"
    return np.array(winners[0])


def brute_aligned(labelings: np.ndarray, k: int) -> np.ndarray:
    """(R, N): every run relabelled by its best permutation onto the first run."""
    reference = labelings[0]
    return np.stack([best_permutation(lab, reference, k)[lab] for lab in labelings])


def brute_votes(aligned: np.ndarray, weights, k: int) -> np.ndarray:
    """Per sample: the label with the largest summed weight of the runs voting it; among tied
    labels the first run's, if tied, else the smallest id."""
    votes = []
    for s in range(aligned.shape[1]):
        totals = [0.0] * k
        for r in range(aligned.shape[0]):
            totals[aligned[r, s]] += float(weights[r])
        best = max(totals)
        tied = [c for c in range(k) if np.isclose(totals[c], best, rtol=1e-9, atol=1e-12)]
        first = int(aligned[0, s])
        votes.append(first if first in tied else tied[0])
    return np.array(votes)


def brute_vote(labelings: np.ndarray, weights, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(votes, agreement): the brute-force vote and the unweighted share of runs equal to it."""
    aligned = brute_aligned(labelings, k)
    votes = brute_votes(aligned, weights, k)
    return votes, np.array([(aligned[:, s] == votes[s]).mean() for s in range(len(votes))])


def noisy_runs(seed: int, k: int, n_runs: int, n: int = 40, noise: float = 0.4) -> np.ndarray:
    """(n_runs, n) random labelings using all k ids: copies of one random labeling, each with
    a share ``noise`` of samples redrawn at random, under a random id permutation."""
    rng = np.random.default_rng(seed)
    base = rng.integers(k, size=n)
    runs = []
    for _ in range(n_runs):
        labels = base.copy()
        redrawn = rng.random(n) < noise
        labels[redrawn] = rng.integers(k, size=redrawn.sum())
        runs.append(rng.permutation(k)[labels])
    runs = np.stack(runs)
    assert all(len(np.unique(r)) == k for r in runs)
    return runs


# ---- the vote against the brute force ---------------------------------------------------------


@pytest.mark.parametrize("weights", VOTE_WEIGHTS)
@pytest.mark.parametrize("k", [2, 3, 4])
@pytest.mark.parametrize("seed", range(4))
def test_weighted_vote_equals_a_brute_force_loop(seed, k, weights):
    """The vote and its agreement are the per-sample weighted majority of the aligned runs."""
    n_runs = 3 + seed  # 3..6 runs
    labelings = noisy_runs(100 * k + seed, k, n_runs)
    rng = np.random.default_rng(seed)
    scores = rng.uniform(0.2, 1.0, n_runs)
    kappas = rng.uniform(-0.3, 0.8, n_runs)  # some clipped to 0
    w = run_weights(scores, kappas, weights)
    votes, agreement = majority_vote(labelings, k, w)
    expected_votes, expected_agreement = brute_vote(labelings, w, k)
    np.testing.assert_array_equal(votes, expected_votes)
    np.testing.assert_allclose(agreement, expected_agreement, rtol=0, atol=1e-12)
    assert votes.dtype == np.int64


def designed_ties() -> tuple[np.ndarray, list[tuple[list[float], list[int]]]]:
    """Four runs of K=3 agreeing on 18 samples (so each aligns by identity) and disagreeing on
    the last 4 as designed; with the weights and the votes expected on those 4."""
    common = np.tile([0, 1, 2], 6)
    tail = np.array(
        [
            [0, 0, 0, 0],  # run 0
            [1, 1, 1, 2],  # run 1
            [1, 2, 2, 1],  # run 2
            [2, 0, 2, 0],  # run 3
        ]
    )
    labelings = np.hstack([np.tile(common, (4, 1)), tail])
    cases = [
        # equal weights: sample 18 has 0:1, 1:2, 2:1 -> 1; 19: 0:2 (runs 0, 3), 1:1, 2:1 -> 0;
        # 20: 0:1, 1:1, 2:2 -> 2; 21: 0:2 vs 1:1, 2:1 -> 0
        ([1, 1, 1, 1], [1, 0, 2, 0]),
        # run 0 weighs as much as runs 1 and 2 together on sample 18: 1.0 vs 0.5 + 0.5, a tie
        # that the first run's label wins; 19: 0 has 1 + 0 = 1, 1 has 0.5, 2 has 0.5 -> 0;
        # 20: 0:1, 1:0.5, 2:0.5 -> 0; 21: the same -> 0
        ([1.0, 0.5, 0.5, 0.0], [0, 0, 0, 0]),
        # a zero-weight first run: 18: 1 has 1.5, 2 has 0.25 -> 1; 19: 0 has 0.25, 1 has 0.75,
        # 2 has 0.75 -> tie of 1 and 2 without the first run's label: the smaller, 1;
        # 20: 1 has 0.75, 2 has 0.75 + 0.25 -> 2; 21: 0 has 0.25, 1 has 0.75, 2 has 0.75 -> 1
        ([0.0, 0.75, 0.75, 0.25], [1, 1, 2, 1]),
        # no weight at all: every label tied, the first run's wins
        ([0.0, 0.0, 0.0, 0.0], [0, 0, 0, 0]),
    ]
    return labelings, cases


def test_designed_exact_ties_follow_the_tie_rule():
    """Exact ties go to the first run's label when it is tied, else to the smallest id."""
    labelings, cases = designed_ties()
    for weights, expected_tail in cases:
        votes, _ = majority_vote(labelings, 3, np.array(weights))
        brute, _ = brute_vote(labelings, weights, 3)
        np.testing.assert_array_equal(votes[18:], expected_tail)
        np.testing.assert_array_equal(votes, brute)
        np.testing.assert_array_equal(votes[:18], labelings[0, :18])


def test_two_equal_runs_disagreeing_tie_to_the_first():
    """Two runs of equal weight disagreeing: the first run's label wins, whichever it is."""
    a = np.array([0, 0, 1, 1, 2, 2, 0, 1])
    b = np.array([0, 0, 1, 1, 2, 2, 1, 2])
    for weights in (None, np.array([0.7, 0.7])):
        np.testing.assert_array_equal(majority_vote(np.stack([a, b]), 3, weights)[0], a)
        np.testing.assert_array_equal(majority_vote(np.stack([b, a]), 3, weights)[0], b)


@pytest.mark.parametrize("seed", range(4))
def test_no_weights_is_uniform_is_one_vote_each(seed):
    """weights=None, all ones and any equal weights give the plain count-once majority."""
    k = 2 + seed % 3
    labelings = noisy_runs(seed, k, 5, n=80, noise=0.4)
    plain, plain_agreement = majority_vote(labelings, k)
    for weights in (np.ones(5), np.full(5, 3.7), run_weights(np.zeros(5), np.zeros(5), "uniform")):
        votes, agreement = majority_vote(labelings, k, weights)
        np.testing.assert_array_equal(votes, plain)
        np.testing.assert_array_equal(agreement, plain_agreement)
    # the old unweighted semantics: count each aligned label once
    aligned = brute_aligned(labelings, k)
    counted = []
    for column in aligned.T:
        counts = np.bincount(column, minlength=k)
        tied = np.flatnonzero(counts == counts.max())
        counted.append(column[0] if column[0] in tied else tied[0])
    np.testing.assert_array_equal(plain, counted)


# ---- run_weights ------------------------------------------------------------------------------


def test_run_weights_uniform_and_score():
    """uniform is all ones; score is the scores themselves (a copy)."""
    scores = np.array([0.9, 0.4, 0.0, 0.65])
    kappas = np.array([0.5, -0.2, np.nan, 0.1])  # unused by these two
    np.testing.assert_array_equal(run_weights(scores, kappas, "uniform"), np.ones(4))
    weights = run_weights(scores, kappas, "score")
    np.testing.assert_array_equal(weights, scores)
    weights[0] = 5.0
    assert scores[0] == 0.9


def test_run_weights_kappa_clips_at_a_tiny_equal_floor():
    """kappa weights are max(kappa, KAPPA_FLOOR): a run at or below chance weighs the floor,
    so runs all at chance vote as a plain majority (equal weights)."""
    scores = np.array([0.9, 0.8, 0.7, 0.6])
    np.testing.assert_array_equal(
        run_weights(scores, np.array([0.4, -0.2, 0.0, 0.25]), "kappa"),
        [0.4, KAPPA_FLOOR, KAPPA_FLOOR, 0.25],
    )
    np.testing.assert_array_equal(
        run_weights(scores, np.array([-0.1, 0.0, -0.5, -1e-9]), "kappa"), np.full(4, KAPPA_FLOOR)
    )
    labels = np.array([[0, 1, 2, 0], [0, 1, 1, 1], [1, 1, 1, 0]])
    at_chance = run_weights(scores[:3], np.array([-0.1, 0.0, -0.3]), "kappa")
    np.testing.assert_array_equal(
        majority_vote(labels, 3, at_chance)[0], majority_vote(labels, 3)[0]
    )


def test_run_weights_kappa_without_kappa_is_an_input_error():
    """A run without kappa (NaN, a file written before kappa) cannot vote by kappa."""
    with pytest.raises(InputError, match=r"aggregation\.weights"):
        run_weights(np.array([0.9, 0.8]), np.array([0.3, np.nan]), "kappa")
    kappas = np.array([0.3, None], dtype=np.float64)  # how evaluate builds them
    with pytest.raises(InputError, match=r"aggregation\.weights"):
        run_weights(np.array([0.9, 0.8]), kappas, "kappa")


def test_run_weights_unknown_name_is_an_input_error():
    """An unknown weighting names the config key and the value."""
    with pytest.raises(InputError, match=r"aggregation\.weights='median'") as info:
        run_weights(np.ones(2), np.ones(2), "median")
    assert all(name in str(info.value) for name in VOTE_WEIGHTS)


def test_vote_selected_by_kappa_refuses_run_files_without_kappa(tmp_path):
    """From the files: runs written without kappa, voted by kappa, raise naming the key."""
    rng = np.random.default_rng(0)
    paths = []
    for seed in range(3):
        labels = rng.integers(0, 3, 12)
        paths.append(write_fake_run(tmp_path / f"seed{seed}.h5", seed, labels, 0.5 + seed / 10))
    manifest = select_runs(read_runs(paths, LABELS), None, 3, weights="kappa")
    with pytest.raises(InputError, match=r"aggregation\.weights"):
        vote_selected(manifest, paths, 3)


# ---- what a weight can and cannot do ----------------------------------------------------------


@pytest.mark.parametrize("seed", range(5))
def test_a_zero_weight_run_cannot_change_the_vote(seed):
    """Voting with a run of weight 0 (not the first, which sets the ids) equals voting without
    it."""
    k = 3 + seed % 2
    labelings = noisy_runs(50 + seed, k, 6, n=80, noise=0.4)
    rng = np.random.default_rng(seed)
    weights = rng.uniform(0.1, 1.0, 6)
    for silent in range(1, 6):
        w = weights.copy()
        w[silent] = 0.0
        with_it, _ = majority_vote(labelings, k, w)
        keep = np.arange(6) != silent
        without, _ = majority_vote(labelings[keep], k, w[keep])
        np.testing.assert_array_equal(with_it, without)
        np.testing.assert_array_equal(with_it, brute_vote(labelings[keep], w[keep], k)[0])


@pytest.mark.parametrize("seed", range(3))
def test_a_heavy_run_decides_every_sample(seed):
    """A run weighing more than all others together decides every sample, first or not."""
    k = 3
    labelings = noisy_runs(70 + seed, k, 5, n=80, noise=0.4)
    aligned = brute_aligned(labelings, k)
    for heavy in range(5):
        weights = np.ones(5)
        weights[heavy] = 10.0
        votes, _ = majority_vote(labelings, k, weights)
        np.testing.assert_array_equal(votes, aligned[heavy])
        disagree = aligned[heavy] != majority_vote(labelings, k)[0]
        assert heavy == 0 or disagree.any()  # it did overrule the plain majority somewhere


@pytest.mark.parametrize("weights", VOTE_WEIGHTS)
def test_agreement_is_the_unweighted_share_of_runs_equal_to_the_vote(weights):
    """Agreement counts runs, not weights, however the vote was weighed."""
    labelings = noisy_runs(7, 3, 5, n=80, noise=0.4)
    w = run_weights(
        np.array([1.0, 0.05, 0.05, 0.9, 0.3]), np.array([0.9, -1, 0.1, 0, 0.2]), weights
    )
    votes, agreement = majority_vote(labelings, 3, w)
    aligned = brute_aligned(labelings, 3)
    np.testing.assert_array_equal(agreement, (aligned == votes).sum(axis=0) / 5)
    assert set(np.round(agreement * 5, 9)) <= {1.0, 2.0, 3.0, 4.0, 5.0}
