"""Hungarian alignment of runs' clusters to a reference run, and their (weighted) majority
vote per sample."""

from __future__ import annotations

import numpy as np

from hume_workflow.aggregate.metrics import match_labels


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


def majority_vote(
    labelings: np.ndarray, num_classes: int, weights: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Per-sample (weighted) majority vote of runs aligned to the first (best-scoring) one.

    Args:
        labelings: (n_runs, n_samples) hard labels in [0, num_classes), best-scoring run first.
        weights: (n_runs,) non-negative weight of each run's vote
            (:func:`~hume_workflow.aggregate.weights.run_weights`); None counts every run once.

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


#: Totals of weights within this relative distance of a sample's largest are tied.
TIE_TOLERANCE = 1e-12


def tie_broken_argmax(counts: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """(n_samples,) the column of the largest of ``counts`` (n_samples, K) per row; among tied
    columns (:data:`TIE_TOLERANCE`) the ``reference`` (n_samples,) label when it is one, else
    the smallest."""
    tied = counts >= counts.max(axis=1, keepdims=True) * (1 - TIE_TOLERANCE)
    rows = np.arange(len(counts))
    return np.where(tied[rows, reference], reference, tied.argmax(axis=1))
