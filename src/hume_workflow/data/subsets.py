"""Subsets of a dataset's samples: a random train/test split, a uniform subsample (torch-free)."""

from __future__ import annotations

import numpy as np

from hume_workflow.errors import InputError
from hume_workflow.formats.dataset import TEST, TRAIN, ImageDataset, select


def random_split(n: int, test_fraction: float, seed: int) -> np.ndarray:
    """(n,) uint8 split with round(test_fraction * n) test samples drawn uniformly."""
    if not 0 < test_fraction < 1:
        raise InputError(
            f"config dataset.test_fraction={test_fraction}: expected a value in (0, 1)"
        )
    split = np.full(n, TRAIN, dtype=np.uint8)
    test = np.random.default_rng(seed).permutation(n)[: round(test_fraction * n)]
    split[test] = TEST
    return split


def subsample(dataset: ImageDataset, max_samples: int | None, seed: int) -> ImageDataset:
    """A uniform random subset of at most ``max_samples`` samples, in the original order."""
    n = len(dataset.labels)
    if max_samples is None or max_samples >= n:
        return dataset
    keep = np.sort(np.random.default_rng(seed).choice(n, size=max_samples, replace=False))
    return select(dataset, keep)
