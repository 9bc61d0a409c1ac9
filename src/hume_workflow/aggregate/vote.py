"""Aggregation of HUME runs: top-n by generalisation score, then a Hungarian-aligned vote."""

from __future__ import annotations

import numpy as np

from hume_workflow.aggregate.metrics import match_labels
from hume_workflow.errors import InputError


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


def majority_vote(labelings: np.ndarray, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-sample majority vote of runs aligned to the first (best-scoring) one.

    Args:
        labelings: (n_runs, n_samples) hard labels in [0, num_classes), best-scoring run first.

    Returns:
        (votes, agreement): votes (n_samples,) int64 in the first run's ids; agreement
        (n_samples,) float, the fraction of runs whose aligned label equals the vote.
        Ties go to the first run's label when it is among the tied, else to the smallest id.
    """
    labelings = np.asarray(labelings, dtype=np.int64)
    reference = labelings[0]
    aligned = np.stack(
        [reference] + [align_to(lab, reference, num_classes) for lab in labelings[1:]]
    )
    n_runs, n_samples = aligned.shape
    counts = np.zeros((n_samples, num_classes), dtype=np.float64)
    for row in aligned:
        counts[np.arange(n_samples), row] += 1
    counts[np.arange(n_samples), reference] += 0.5  # breaks ties only: counts are integers
    votes = counts.argmax(axis=1)
    agreement = (aligned == votes).sum(axis=0) / n_runs
    return votes, agreement
