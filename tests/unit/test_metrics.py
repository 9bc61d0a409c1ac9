"""ACC (Hungarian) agrees with a brute force over all permutations; ARI/NMI are sklearn's."""

import itertools

import numpy as np
import pytest

from hume_workflow.aggregate.metrics import cluster_accuracy, compute_metrics, match_labels


def brute_force_acc(labels, truth, k):
    best = 0
    for perm in itertools.permutations(range(k)):
        best = max(best, int((np.array(perm)[labels] == truth).sum()))
    return best / len(truth)


@pytest.mark.parametrize("seed", range(20))
def test_acc_equals_brute_force(seed):
    rng = np.random.default_rng(seed)
    k = int(rng.integers(2, 6))
    truth = rng.integers(0, k, size=30)
    labels = np.where(rng.random(30) < 0.6, (truth + 1) % k, rng.integers(0, k, size=30))
    assert cluster_accuracy(labels, truth) == pytest.approx(brute_force_acc(labels, truth, k))


def test_acc_with_missing_clusters():
    truth = np.array([0, 0, 1, 1, 2, 2])
    labels = np.array([1, 1, 1, 1, 1, 1])  # one cluster used of three
    assert cluster_accuracy(labels, truth) == pytest.approx(2 / 6)


def test_permuted_labels_are_perfect():
    truth = np.array([0, 1, 2, 2, 1, 0, 3])
    m = compute_metrics((truth + 2) % 4, truth)
    assert m == {"acc": 1.0, "ari": 1.0, "nmi": pytest.approx(1.0)}


def test_match_labels():
    labels = np.array([5, 5, 7, 7, 7])
    reference = np.array([1, 1, 0, 0, 1])
    assert match_labels(labels, reference) == {5: 1, 7: 0}
