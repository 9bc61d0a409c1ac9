"""The generalisation score: a cross-validated accuracy, robust to degenerate labelings."""

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import KFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from hume_workflow.hume.score import generalisation_score


@pytest.fixture
def blobs():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 150)
    x = rng.normal(size=(3, 5))[y] * 4 + rng.normal(size=(150, 5))
    return x, y


def test_score_is_the_pooled_cross_validated_accuracy(blobs):
    x, y = blobs
    noisy = np.where(np.random.default_rng(1).random(150) < 0.2, (y + 1) % 3, y)
    correct = 0
    for train, test in KFold(10, shuffle=True, random_state=0).split(x):
        model = make_pipeline(StandardScaler(), LogisticRegression(C=np.inf, max_iter=100))
        correct += (model.fit(x[train], noisy[train]).predict(x[test]) == noisy[test]).sum()
    assert generalisation_score(x, noisy).score == pytest.approx(correct / 150)


def test_separable_labels_score_higher_than_random(blobs):
    x, y = blobs
    random = np.random.default_rng(2).integers(0, 3, 150)
    assert generalisation_score(x, y).score > 0.95 > 0.6 > generalisation_score(x, random).score


def test_one_cluster_is_degenerate_and_scores_zero(blobs):
    x, _ = blobs
    s = generalisation_score(x, np.zeros(150, dtype=int))
    assert (s.score, s.n_clusters, s.min_cluster_size, s.degenerate) == (0.0, 1, 150, True)


def test_tiny_clusters_do_not_crash(blobs):
    x, y = blobs
    labels = y.copy()
    labels[0] = 7  # a cluster of one sample: absent from the training part of one fold
    s = generalisation_score(x, labels)
    assert s.min_cluster_size == 1 and s.n_clusters == 4 and not s.degenerate
    assert 0.9 < s.score < 1.0  # the singleton is never predicted right


def test_a_fold_with_one_training_class_predicts_it():
    x = np.arange(20, dtype=float)[:, None]
    labels = np.zeros(20, dtype=int)
    labels[:2] = 1  # two samples: with 2 folds, a training part may lack them
    s = generalisation_score(x, labels, n_folds=10)
    assert 0.0 < s.score <= 1.0


def test_torch_backend_scores_like_sklearn():
    """score.backend: torch goes through the same Score, within 0.5 accuracy points."""
    phi2, truth = load_digits(return_X_y=True)
    labels = (truth + (np.arange(len(truth)) % 7 == 0)) % 10  # some noise on the labels
    reference = generalisation_score(phi2, labels, n_folds=5, max_iter=50)
    batched = generalisation_score(phi2, labels, n_folds=5, max_iter=50, backend="torch")
    assert abs(batched.score - reference.score) <= 0.005
    assert (batched.n_clusters, batched.min_cluster_size, batched.degenerate) == (
        reference.n_clusters,
        reference.min_cluster_size,
        False,
    )
    assert generalisation_score(phi2, np.zeros(len(truth)), backend="torch").degenerate
