"""The generalisation score's chance-corrected kappa, against Cohen's kappa computed by hand,
and the torch backend's held-out predictions against scikit-learn's."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from fake_runs import blobs
from threadpoolctl import threadpool_limits

from hume_workflow.hume.score import generalisation_score, held_out_predictions
from hume_workflow.hume.score_torch import held_out_predictions_torch

torch.set_num_threads(1)


def kappa_by_hand(a: np.ndarray, b: np.ndarray) -> float:
    """Cohen's kappa (p_o - p_e) / (1 - p_e) from the confusion matrix of a against b."""
    classes = np.union1d(a, b)
    confusion = np.array([[np.sum((a == i) & (b == j)) for j in classes] for i in classes])
    confusion = confusion / len(a)
    p_o = np.trace(confusion)
    p_e = confusion.sum(1) @ confusion.sum(0)
    return (p_o - p_e) / (1 - p_e)


# ---- kappa of the generalisation score --------------------------------------------------------


def test_score_kappa_is_cohens_kappa_of_the_held_out_predictions():
    x, y = blobs(sep=1.5)  # overlapping blobs, some labels flipped: kappa well below 1
    labels = np.where(np.random.default_rng(3).random(len(y)) < 0.15, (y + 1) % 3, y)
    with threadpool_limits(1):
        score = generalisation_score(x, labels, n_folds=10, max_iter=100, fold_seed=0)
        predicted = held_out_predictions(x, labels, 10, 100, 0)
    assert score.kappa == pytest.approx(kappa_by_hand(labels, predicted), abs=1e-12)
    assert score.score == pytest.approx(np.mean(predicted == labels))
    assert 0.2 < score.kappa < score.score < 0.95  # chance agreement taken out


def test_one_cluster_has_kappa_zero():
    x, _ = blobs()
    s = generalisation_score(x, np.full(len(x), 3))
    assert (s.kappa, s.score, s.degenerate) == (0.0, 0.0, True)


def test_kappa_is_near_zero_for_random_labels_and_high_for_separable_ones():
    x, y = blobs(n=600, sep=6.0, seed=4)
    noise = np.random.default_rng(5).normal(size=x.shape)
    random = np.random.default_rng(6).integers(0, 3, len(x))
    with threadpool_limits(1):
        chance = generalisation_score(noise, random)
        separable = generalisation_score(x, y)
    assert abs(chance.kappa) < 0.1 < 0.25 < chance.score  # accuracy about 1/3, kappa about 0
    assert separable.kappa > 0.97


# ---- torch held-out predictions ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("sep", "kappa_range"),
    [(2.0, (0.999, 1.0)), (1.0, (0.8, 0.95))],
    ids=["separable", "overlapping"],
)
def test_torch_held_out_predictions_agree_with_sklearn(sep, kappa_range):
    x, y = blobs(n=500, k=4, d=8, sep=sep, seed=7)
    with threadpool_limits(1):
        reference = held_out_predictions(x, y, 10, 100, 0)
        batched = held_out_predictions_torch(x, y, 10, 100, "cpu", 0)
        kappa_sklearn = generalisation_score(x, y).kappa
        kappa_torch = generalisation_score(x, y, backend="torch").kappa
    assert batched.shape == reference.shape and batched.dtype == reference.dtype
    assert np.mean(batched == reference) >= 0.99
    assert kappa_range[0] <= kappa_sklearn <= kappa_range[1]
    assert kappa_torch == pytest.approx(kappa_sklearn, abs=0.01)
