"""scikit-learn's handwritten digits, the dataset of the demo and the tests."""

from __future__ import annotations

import numpy as np

from hume_workflow.data.sample_ids import array_sample_ids
from hume_workflow.data.subsets import random_split
from hume_workflow.formats.dataset import ImageDataset


def load_sklearn_digits(test_fraction: float = 0.2, split_seed: int = 0) -> ImageDataset:
    """scikit-learn's 1,797 8x8 handwritten digits (values 0..16 scaled to 0..255), K = 10.

    The dataset has no official split: a random ``test_fraction`` is held out.
    """
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = np.clip(digits.images * 16, 0, 255).astype(np.uint8)[..., None]  # (N, 8, 8, 1)
    return ImageDataset(
        name="digits",
        images=images,
        labels=digits.target.astype(np.int64),
        split=random_split(len(images), test_fraction, split_seed),
        class_names=[str(d) for d in range(10)],
        sample_ids=array_sample_ids("sklearn_digits", len(images)),
    )
