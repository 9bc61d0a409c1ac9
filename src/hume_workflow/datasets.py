"""Datasets prepared into one HDF5 format: images (N, H, W, C) uint8, labels, train/test split."""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, replace
from typing import Any, Protocol

import h5py
import numpy as np

from hume_workflow.io import atomic_path, read_h5, write_h5

logger = logging.getLogger(__name__)

TRAIN, TEST = 0, 1
UNLABELLED = -1


class LazyImages(Protocol):
    """Images on disk (N, H, W, C) uint8, decoded by chunks (image_sources.ImageFiles)."""

    shape: tuple[int, int, int, int]

    def __len__(self) -> int: ...
    def __getitem__(self, index: np.ndarray) -> LazyImages: ...
    def read(self, start: int, stop: int) -> np.ndarray: ...
    def write_to(self, out: h5py.Dataset, desc: str) -> None: ...


@dataclass
class ImageDataset:
    """Images with optional labels and a train/test split.

    images: (N, H, W, C) uint8, C in {1, 3} (or LazyImages of that shape, decoded when written);
    labels: (N,) int64, -1 where unknown; split: (N,) uint8, 0 = train, 1 = test.
    declared_num_classes: K for unlabelled data (no class_names); None means len(class_names).
    """

    name: str
    images: np.ndarray | LazyImages
    labels: np.ndarray
    split: np.ndarray
    class_names: list[str]
    declared_num_classes: int | None = None

    @property
    def num_classes(self) -> int:
        if self.declared_num_classes is not None:
            return self.declared_num_classes
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
    return replace(
        dataset,
        images=dataset.images[keep],
        labels=dataset.labels[keep],
        split=dataset.split[keep],
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


def _attrs(dataset: ImageDataset) -> dict[str, Any]:
    attrs: dict[str, Any] = {"name": dataset.name, "class_names": dataset.class_names}
    if dataset.declared_num_classes is not None:
        attrs["num_classes"] = dataset.declared_num_classes
    return attrs


def write_dataset(path: str | os.PathLike, dataset: ImageDataset) -> None:
    """Write the prepared dataset to HDF5 (atomically).

    In-memory images are written at once; LazyImages are decoded and written chunk by chunk
    into a dataset of known shape, with a progress bar, so they never all sit in memory.
    """
    if isinstance(dataset.images, np.ndarray):
        arrays = {"images": dataset.images, "labels": dataset.labels, "split": dataset.split}
        write_h5(path, arrays, _attrs(dataset))
        return
    images = dataset.images
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        out = f.create_dataset(
            "images", shape=images.shape, dtype=np.uint8, chunks=(1, *images.shape[1:])
        )
        images.write_to(out, desc=f"{dataset.name} images")
        f.create_dataset("labels", data=dataset.labels)
        f.create_dataset("split", data=dataset.split)
        for key, value in _attrs(dataset).items():
            f.attrs[key] = value if isinstance(value, str | int) else json.dumps(value)


def read_dataset(path: str | os.PathLike, with_images: bool = True) -> ImageDataset:
    """Read a dataset written by :func:`write_dataset` (files without num_classes too)."""
    names = ["images", "labels", "split"] if with_images else ["labels", "split"]
    arrays, attrs = read_h5(path, names)
    return ImageDataset(
        name=attrs["name"],
        images=arrays.get("images", np.empty((0, 0, 0, 0), np.uint8)),
        labels=arrays["labels"],
        split=arrays["split"],
        class_names=list(attrs["class_names"]),
        declared_num_classes=attrs.get("num_classes"),
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
