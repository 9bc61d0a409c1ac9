"""Two ways to give new samples the labels a pair's vote found (docs/algorithm.md, "Labelling
new images").

- ``probe``: a multinomial logistic regression on phi2, trained on the voted samples with the
  vote's labels (optionally weighted by their agreement), predicts the new samples; the
  confidence is its largest class probability.
- ``encoders``: every voting run's task encoder labels the new samples in phi1
  (argmax of phi1 theta^T, as the run labels its own samples); each run's cluster ids are
  mapped onto the vote's by the Hungarian alignment of its labels to the vote on the samples
  both labelled; the new label is the majority of the mapped labels and the confidence the
  fraction of runs that give it.
"""

from __future__ import annotations

import warnings
from typing import Literal, get_args

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from hume_workflow.aggregate.vote import alignment
from hume_workflow.errors import InputError

PredictMethod = Literal["encoders", "probe"]
PREDICT_METHODS: tuple[PredictMethod, ...] = get_args(PredictMethod)


def probe_labels(
    phi2: np.ndarray,
    votes: np.ndarray,
    new_phi2: np.ndarray,
    weights: np.ndarray | None = None,
    max_iter: int = 1000,
) -> tuple[np.ndarray, np.ndarray]:
    """Labels and confidences of ``new_phi2`` (m, d2) from a linear probe on phi2.

    Args:
        phi2: (n, d2) features of the voted samples; votes: (n,) their voted labels.
        weights: (n,) sample weights (e.g. the vote's agreement); None weighs all alike.

    Returns:
        labels (m,) int64 in the vote's ids, confidence (m,) float: the largest probability.
    """
    if phi2.shape[1] != new_phi2.shape[1]:
        raise InputError(
            f"new samples have {new_phi2.shape[1]} phi2 dimensions; the pair's have {phi2.shape[1]}"
        )
    classes = np.unique(votes)
    if len(classes) == 1:
        return np.full(len(new_phi2), classes[0], np.int64), np.ones(len(new_phi2))
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=max_iter))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(phi2, votes, logisticregression__sample_weight=weights)
    probabilities = model.predict_proba(new_phi2)
    best = probabilities.argmax(axis=1)
    return model.classes_[best].astype(np.int64), probabilities.max(axis=1)


def encoder_labels(
    thetas: list[np.ndarray],
    run_labels: list[np.ndarray],
    votes: np.ndarray,
    new_phi1: np.ndarray,
    num_classes: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Labels and confidences of ``new_phi1`` (m, d1) from the voting runs' task encoders.

    Args:
        thetas: per voting run, its task encoder (K, d1).
        run_labels: per voting run, its labels (n,) of the voted samples, in the vote's order.
        votes: (n,) the vote's labels of those samples.

    Returns:
        labels (m,) int64 in the vote's ids (ties: the smallest id), confidence (m,): the
        fraction of runs that give the label.
    """
    if not thetas:
        raise InputError("no voting run: expected the task encoders of at least one run")
    counts = np.zeros((len(new_phi1), num_classes))
    for theta, labels in zip(thetas, run_labels, strict=True):
        if theta.shape[1] != new_phi1.shape[1]:
            raise InputError(
                f"new samples have {new_phi1.shape[1]} phi1 dimensions; the task encoders "
                f"have {theta.shape[1]}"
            )
        lookup = alignment(labels, votes, num_classes)
        own = (new_phi1 @ theta.T).argmax(axis=1)
        counts[np.arange(len(new_phi1)), lookup[own]] += 1
    labels = counts.argmax(axis=1)
    return labels.astype(np.int64), counts.max(axis=1) / len(thetas)
