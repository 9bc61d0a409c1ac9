"""The collapse rule: when a run's labeling has failed rather than found fewer classes."""

from __future__ import annotations

from fractions import Fraction

import numpy as np

#: A run has collapsed when it leaves at least half its K clusters empty: the methods'
#: objectives reward using all K, so a run using so few has failed (step sizes against the
#: feature scale, see docs/algorithm.md#collapsed-runs), not found fewer classes.
MAX_USED_FRACTION_COLLAPSED = 0.5
#: ... or when one cluster holds this many times its fair share 1/K of the samples ...
FAIR_SHARE_MULTIPLE_COLLAPSED = 3
#: ... and more than this fraction of them: at small K (2, 3) three fair shares is all the
#: samples, and an uneven split such as 70/30 is data, not a collapse.
MAJORITY_COLLAPSED = Fraction(1, 2)


def clusters_used(labels: np.ndarray) -> int:
    """How many distinct clusters ``labels`` (n,) uses."""
    return int(np.unique(labels).size)


def most_clusters_of_collapsed(num_classes: int) -> int:
    """The most clusters of K = ``num_classes`` a collapsed run uses (K // 2)."""
    return int(num_classes * MAX_USED_FRACTION_COLLAPSED)


def largest_share_of_collapsed(num_classes: int) -> Fraction:
    """The share of the samples that, exceeded by one cluster, makes a run collapsed:
    max(1/2, 3/K), exact."""
    return max(MAJORITY_COLLAPSED, Fraction(FAIR_SHARE_MULTIPLE_COLLAPSED, num_classes))


def collapsed(labels: np.ndarray, num_classes: int) -> bool:
    """Whether a run with hard labels ``labels`` (n,) of its labelled samples, cluster ids
    in [0, ``num_classes``), has collapsed: it uses at most K // 2 of the K clusters, or its
    largest cluster holds more than max(1/2, 3/K) of the samples. A degenerate run (one
    cluster, or no samples) is collapsed too.
    """
    sizes = np.unique(labels, return_counts=True)[1]  # (n_used,)
    if sizes.size <= most_clusters_of_collapsed(num_classes):
        return True
    return Fraction(int(sizes.max()), len(labels)) > largest_share_of_collapsed(num_classes)
