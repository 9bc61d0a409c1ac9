"""Aggregation of HUME runs: top-n by generalisation score, then a Hungarian-aligned vote."""

from __future__ import annotations

from typing import Literal, get_args

import numpy as np

from hume_workflow.aggregate.metrics import match_labels
from hume_workflow.errors import InputError
from hume_workflow.hume.config import check_choice

# How much each selected run counts in the vote (config aggregation.weights): "uniform" is the
# paper's plain majority; "score" weighs a run by its generalisation score; "kappa" by its
# chance-corrected score, max(kappa, KAPPA_FLOOR), so a run no better than chance counts
# (almost) nothing.
VoteWeights = Literal["uniform", "score", "kappa"]
VOTE_WEIGHTS: tuple[VoteWeights, ...] = get_args(VoteWeights)
#: The weight of a run at or below chance under "kappa": tiny, so any run above chance
#: outvotes it, yet equal, so runs that are all at chance still vote as a plain majority. A
#: run's weight depends on the run alone, so a vote of any subset of runs weighs it the same.
KAPPA_FLOOR = 1e-6


def select_top(scores: dict[int, float], top_n: int | None) -> list[int]:
    """Seeds ranked by decreasing score (ties: smaller seed first), the first ``top_n`` kept.

    ``top_n=None`` keeps every run, as the paper reports.
    """
    ranked = sorted(scores, key=lambda seed: (-scores[seed], seed))
    if top_n is not None:
        if top_n < 1:
            raise InputError(
                f"config aggregation.top_n={top_n}: expected a positive integer or null"
            )
        ranked = ranked[:top_n]
    return ranked


def alignment(labels: np.ndarray, reference: np.ndarray, num_classes: int) -> np.ndarray:
    """(num_classes,) lookup taking each cluster id of ``labels`` (n_samples,) to the id of the
    most-overlapping cluster of ``reference``; clusters without a partner take the unused ids
    in order, those of ``labels`` first, then the absent ones."""
    mapping = match_labels(labels, reference)
    free = iter(sorted(set(range(num_classes)) - set(mapping.values())))
    present = [int(c) for c in np.unique(labels)]
    for cluster in present + [c for c in range(num_classes) if c not in present]:
        if cluster not in mapping:
            mapping[cluster] = next(free)
    return np.array([mapping[cluster] for cluster in range(num_classes)], dtype=np.int64)


def align_to(labels: np.ndarray, reference: np.ndarray, num_classes: int) -> np.ndarray:
    """Relabel ``labels`` (n_samples,) so its clusters carry the ids of the most-overlapping
    clusters of ``reference`` (:func:`alignment`)."""
    return alignment(labels, reference, num_classes)[labels]


def run_weights(scores: np.ndarray, kappas: np.ndarray, weights: VoteWeights) -> np.ndarray:
    """(n_runs,) non-negative vote weights of runs with these ``scores`` and ``kappas``.

    "kappa" weighs by max(kappa, :data:`KAPPA_FLOOR`).
    """
    check_choice("aggregation.weights", weights, VOTE_WEIGHTS)
    if weights == "uniform":
        return np.ones(len(scores))
    if weights == "score":
        return np.asarray(scores, dtype=np.float64).copy()
    kappas = np.asarray(kappas, dtype=np.float64)  # "kappa"
    if np.isnan(kappas).any():
        raise InputError(
            "config aggregation.weights='kappa': a run file has no kappa (written before "
            "runs recorded it); expected runs of this version, or weights uniform or score"
        )
    return np.maximum(kappas, KAPPA_FLOOR)


def majority_vote(
    labelings: np.ndarray, num_classes: int, weights: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Per-sample (weighted) majority vote of runs aligned to the first (best-scoring) one.

    Args:
        labelings: (n_runs, n_samples) hard labels in [0, num_classes), best-scoring run first.
        weights: (n_runs,) non-negative weight of each run's vote (:func:`run_weights`);
            None counts every run once.

    Returns:
        (votes, agreement): votes (n_samples,) int64 in the first run's ids; agreement
        (n_samples,) float, the (unweighted) fraction of runs whose aligned label equals the
        vote. Ties go to the first run's label when it is among the tied, else to the
        smallest id.
    """
    labelings = np.asarray(labelings, dtype=np.int64)
    reference = labelings[0]
    aligned = np.stack(
        [reference] + [align_to(lab, reference, num_classes) for lab in labelings[1:]]
    )
    votes = weighted_votes(aligned, num_classes, weights)
    return votes, (aligned == votes).mean(axis=0)


def weighted_votes(
    aligned: np.ndarray, num_classes: int, weights: np.ndarray | None = None
) -> np.ndarray:
    """(n_samples,) the label with the largest total weight per sample, of runs ``aligned``
    (n_runs, n_samples) to a common reference, the first row; ties as :func:`majority_vote`."""
    n_runs, n_samples = aligned.shape
    weights = np.ones(n_runs) if weights is None else np.asarray(weights, dtype=np.float64)
    cells = (np.arange(n_samples) * num_classes + aligned).ravel()  # run-major, like weights
    counts = np.bincount(cells, weights.repeat(n_samples), n_samples * num_classes)
    return tie_broken_argmax(counts.reshape(n_samples, num_classes), aligned[0])


def tie_broken_argmax(counts: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """(n_samples,) the column of the largest of ``counts`` (n_samples, K) per row; among tied
    columns the ``reference`` (n_samples,) label when it is one, else the smallest."""
    tied = counts >= counts.max(axis=1, keepdims=True) * (1 - 1e-12)
    rows = np.arange(len(counts))
    return np.where(tied[rows, reference], reference, tied.argmax(axis=1))
