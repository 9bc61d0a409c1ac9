"""The batched torch generalisation score agrees with sklearn's per-fold reference."""

from functools import cache

import numpy as np
import pytest
import torch
from sklearn.cluster import KMeans
from sklearn.datasets import load_digits
from sklearn.model_selection import KFold
from threadpoolctl import threadpool_limits

from hume_workflow.hume.score import generalisation_score
from hume_workflow.hume.score_torch import generalisation_score_torch

TOLERANCE = 0.005  # half an accuracy point


@cache
def digits() -> tuple[np.ndarray, np.ndarray]:
    """(1797, 64) features and their true digit classes."""
    return load_digits(return_X_y=True)


def mixture() -> tuple[np.ndarray, np.ndarray]:
    """(6000, 128) float32 Gaussian-mixture features, 10 classes, 10 % of labels random."""
    rng = np.random.default_rng(1)
    truth = rng.integers(0, 10, 6000)
    x = (rng.normal(size=(10, 128)) * 0.3)[truth] + rng.normal(size=(6000, 128))
    noisy = np.where(rng.random(6000) < 0.1, rng.integers(0, 10, 6000), truth)
    return x.astype(np.float32), noisy


def singleton() -> tuple[np.ndarray, np.ndarray]:
    """Digits with one sample relabelled to a class of its own (absent from a training fold)."""
    x, y = digits()
    labels = y.copy()
    labels[0] = 42
    return x, labels


CASES = {
    "digits, true labels": digits,
    "digits, k-means labels": lambda: (
        digits()[0],
        KMeans(10, random_state=0).fit_predict(digits()[0]),
    ),
    "digits, random labels": lambda: (
        digits()[0],
        np.random.default_rng(0).integers(0, 10, 1797),
    ),
    "mixture, noisy labels": mixture,
    "digits, two clusters (binomial model)": lambda: (digits()[0], digits()[1] < 5),
    "digits, a class of one sample": singleton,
}


@cache
def case(name: str) -> tuple[np.ndarray, np.ndarray, float]:
    """Features, labels and sklearn's score of one case, computed once.

    sklearn runs single-threaded: its OpenMP loss loops crawl when the cores are shared.
    """
    x, labels = CASES[name]()
    with threadpool_limits(1):
        return x, labels, generalisation_score(x, labels).score


@pytest.mark.parametrize("name", CASES)
def test_agrees_with_sklearn(name):
    x, labels, expected = case(name)
    assert generalisation_score_torch(x, labels) == pytest.approx(expected, abs=TOLERANCE)


@pytest.mark.parametrize("name", ["digits, true labels", "mixture, noisy labels"])
def test_float32_agrees_with_sklearn(name):
    x, labels, expected = case(name)
    score = generalisation_score_torch(x, labels, dtype=torch.float32)
    assert score == pytest.approx(expected, abs=TOLERANCE)


def test_one_cluster_scores_zero():
    x, _ = digits()
    assert generalisation_score_torch(x, np.full(len(x), 3)) == 0.0


def test_a_fold_with_one_training_class_predicts_it():
    x = np.arange(20, dtype=float)[:, None]
    labels = np.zeros(20, dtype=int)
    _, test = next(KFold(10, shuffle=True, random_state=0).split(x))
    labels[test] = 1  # that fold trains on class 0 alone; the others fit a binomial model
    expected = generalisation_score(x, labels).score
    assert generalisation_score_torch(x, labels) == pytest.approx(expected, abs=1e-12)


def test_mismatched_lengths_are_rejected():
    with pytest.raises(ValueError, match="samples"):
        generalisation_score_torch(np.zeros((5, 2)), np.zeros(4, dtype=int))


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_agrees_with_sklearn():
    x, labels, expected = case("mixture, noisy labels")
    assert generalisation_score_torch(x, labels, device="cuda") == pytest.approx(
        expected, abs=TOLERANCE
    )
