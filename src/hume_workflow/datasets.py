"""Datasets prepared into one HDF5 format: images (N, H, W, C) uint8, labels, train/test split."""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from hume_workflow.io import read_h5, write_h5

TRAIN, TEST = 0, 1
UNLABELLED = -1


@dataclass
class ImageDataset:
    """Images with optional labels and a train/test split.

    images: (N, H, W, C) uint8; labels: (N,) int64, -1 where unknown; split: (N,) uint8,
    0 = train, 1 = test.
    """

    name: str
    images: np.ndarray
    labels: np.ndarray
    split: np.ndarray
    class_names: list[str]

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


def random_split(n: int, test_fraction: float, seed: int) -> np.ndarray:
    """(n,) uint8 split with round(test_fraction * n) test samples drawn uniformly."""
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction={test_fraction}: expected a value in (0, 1)")
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
    return ImageDataset(
        dataset.name,
        dataset.images[keep],
        dataset.labels[keep],
        dataset.split[keep],
        dataset.class_names,
    )


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
    )


SOURCES = {"sklearn_digits": load_sklearn_digits}


def prepare_dataset(
    source: str,
    test_fraction: float = 0.2,
    split_seed: int = 0,
    max_samples: int | None = None,
) -> ImageDataset:
    """Load a dataset by source name, optionally subsampled (for tests and quick demos)."""
    if source not in SOURCES:
        raise ValueError(f"dataset source {source!r}: expected one of {sorted(SOURCES)}")
    dataset = SOURCES[source](test_fraction=test_fraction, split_seed=split_seed)
    return subsample(dataset, max_samples, split_seed)


def write_dataset(path: str | os.PathLike, dataset: ImageDataset) -> None:
    """Write the prepared dataset to HDF5 (atomically)."""
    write_h5(
        path,
        {"images": dataset.images, "labels": dataset.labels, "split": dataset.split},
        {"name": dataset.name, "class_names": dataset.class_names},
    )


def read_dataset(path: str | os.PathLike, with_images: bool = True) -> ImageDataset:
    """Read a dataset written by :func:`write_dataset`."""
    names = ["images", "labels", "split"] if with_images else ["labels", "split"]
    arrays, attrs = read_h5(path, names)
    return ImageDataset(
        name=attrs["name"],
        images=arrays.get("images", np.empty((0, 0, 0, 0), np.uint8)),
        labels=arrays["labels"],
        split=arrays["split"],
        class_names=list(attrs["class_names"]),
    )


def setting_indices(split: np.ndarray, setting: str) -> tuple[np.ndarray, np.ndarray]:
    """Indices (fit, evaluate) of the samples a run trains on and the samples it labels.

    inductive: fit on the train split, label the test split; transductive: both are the pool.
    """
    if setting == "inductive":
        return np.flatnonzero(split == TRAIN), np.flatnonzero(split == TEST)
    if setting == "transductive":
        pool = np.arange(len(split))
        return pool, pool
    raise ValueError(f"setting={setting!r}: expected 'inductive' or 'transductive'")
