"""HUME's generalisation score: how well a linear model on phi2 predicts a labeling.

docs/algorithm.md, "Generalisation score": 10-fold shuffled cross-validated accuracy of an
unregularised multinomial logistic regression fitted on phi2 with a run's hard labels as
targets. Higher is better. Runs are ranked by it; it never sees the ground truth.
Beside it, the same held-out predictions give Cohen's kappa: the accuracy corrected for the
agreement expected by chance from the two label distributions, comparable across K.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import cohen_kappa_score
from sklearn.model_selection import KFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from hume_workflow.choices import SCORE_BACKENDS, check_choice
from hume_workflow.hume.score_torch import held_out_predictions_torch


@dataclass(frozen=True)
class Score:
    """A run's generalisation score and what it says about the labeling's clusters."""

    score: float  # accuracy of all held-out predictions, in [0, 1]; 0.0 when degenerate
    kappa: float  # Cohen's kappa of the same predictions, in [-1, 1]; 0.0 when degenerate
    n_clusters: int  # clusters that received at least one sample
    min_cluster_size: int
    degenerate: bool  # fewer than two non-empty clusters: nothing to generalise


def generalisation_score(
    phi2: np.ndarray,
    labels: np.ndarray,
    n_folds: int = 10,
    max_iter: int = 100,
    fold_seed: int = 0,
    backend: str = "sklearn",
    device: str = "cpu",
) -> Score:
    """Cross-validated accuracy of unregularised multinomial logistic regression on ``phi2``.

    Features are standardised inside each fold (the unregularised optimum is invariant to
    that; it only helps the solver converge). Folds are shuffled with ``fold_seed``, the
    same for every run so that scores are comparable.

    Edge cases, by definition:
    - a labeling with fewer than two non-empty clusters is degenerate and scores 0.0, so it
      ranks below every real labeling;
    - a fold whose training part holds a single class predicts that class;
    - tiny clusters need no special care: a class absent from a training fold is simply
      never predicted in that fold.

    Args:
        phi2: (n_samples, d2) features.
        labels: (n_samples,) hard labels of one run.
        backend: "sklearn" fits the folds one by one with scikit-learn; "torch" fits them all
            at once with a batched L-BFGS on ``device``
            (:func:`hume_workflow.hume.score_torch.generalisation_score_torch`; within 0.5
            accuracy points of scikit-learn's score in the tests).

    Raises:
        InputError: an unknown ``backend`` (config ``score.backend``).
    """
    check_choice("score.backend", backend, SCORE_BACKENDS)
    labels = np.asarray(labels)
    if phi2.shape[0] != labels.shape[0]:
        raise ValueError(f"phi2 has {phi2.shape[0]} samples but labels has {labels.shape[0]}")
    sizes = np.unique(labels, return_counts=True)[1]
    if len(sizes) < 2:
        return Score(0.0, 0.0, len(sizes), int(sizes.min()) if len(sizes) else 0, True)
    if backend == "torch":
        predicted = held_out_predictions_torch(phi2, labels, n_folds, max_iter, device, fold_seed)
    else:
        predicted = held_out_predictions(phi2, labels, n_folds, max_iter, fold_seed)
    accuracy = float((predicted == labels).mean())
    kappa = float(cohen_kappa_score(labels, predicted))
    return Score(accuracy, kappa, len(sizes), int(sizes.min()), False)


def held_out_predictions(
    phi2: np.ndarray, labels: np.ndarray, n_folds: int, max_iter: int, fold_seed: int
) -> np.ndarray:
    """(N,) each sample's label predicted by the scikit-learn model of the fold that held it
    out (shuffled ``KFold``; a training part with one class predicts that class)."""
    folds = KFold(n_splits=min(n_folds, len(labels)), shuffle=True, random_state=fold_seed)
    predicted = np.empty_like(labels)
    for train, test in folds.split(phi2):
        train_classes = np.unique(labels[train])
        if len(train_classes) == 1:
            predicted[test] = train_classes[0]
            continue
        model = make_pipeline(StandardScaler(), LogisticRegression(C=np.inf, max_iter=max_iter))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)  # separable data: expected
            model.fit(phi2[train], labels[train])
        predicted[test] = model.predict(phi2[test])
    return predicted
