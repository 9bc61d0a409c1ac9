"""Agreement of a labeling with the truth: ACC (Hungarian-matched), ARI, NMI."""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score


def match_labels(labels: np.ndarray, reference: np.ndarray) -> dict[int, int]:
    """The one-to-one map of the cluster ids of ``labels`` onto ids of ``reference`` that
    maximises overlap.

    Args:
        labels, reference: (n_samples,) integer labelings.

    Returns:
        {label id: reference id}; ids left unmatched (more clusters than reference
        classes) are absent.
    """
    label_ids, label_idx = np.unique(labels, return_inverse=True)
    ref_ids, ref_idx = np.unique(reference, return_inverse=True)
    cells = label_idx * len(ref_ids) + ref_idx
    overlap = np.bincount(cells, minlength=len(label_ids) * len(ref_ids))
    rows, cols = linear_sum_assignment(overlap.reshape(len(label_ids), -1), maximize=True)
    return {int(label_ids[r]): int(ref_ids[c]) for r, c in zip(rows, cols, strict=True)}


def cluster_accuracy(labels: np.ndarray, truth: np.ndarray) -> float:
    """Fraction of samples correct after the best one-to-one matching of clusters to classes."""
    ids, inverse = np.unique(labels, return_inverse=True)
    mapping = match_labels(labels, truth)  # unmatched clusters (more than classes) count wrong
    matched = np.array([mapping.get(int(cluster), -1) for cluster in ids])
    return float((matched[inverse] == truth).sum() / len(truth))


def compute_metrics(labels: np.ndarray, truth: np.ndarray) -> dict[str, float | None]:
    """ACC, ARI and NMI of ``labels`` (n_samples,) against ``truth`` (n_samples,).

    Samples whose true label is unknown (negative) are left out; with no known label at
    all, every metric is None (an unlabelled dataset).
    """
    known = truth >= 0
    if not known.any():
        return {"acc": None, "ari": None, "nmi": None}
    labels, truth = labels[known], truth[known]
    return {
        "acc": cluster_accuracy(labels, truth),
        "ari": float(adjusted_rand_score(truth, labels)),
        "nmi": float(normalized_mutual_info_score(truth, labels)),
    }
