"""data.h5, the prepared dataset: images (N, H, W, C) uint8, labels, train/test split, sample ids.

Its record (:class:`ImageDataset`), writer (:func:`write_dataset`) and readers
(:func:`read_dataset`, :func:`read_sample_ids`); the loaders that make the record are in
data/.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

import h5py
import numpy as np

from hume_workflow.formats.embeddings import SAMPLES_SHA256
from hume_workflow.formats.io import atomic_path, open_h5, read_h5, write_attrs, write_h5

TRAIN, TEST = 0, 1
UNLABELLED = -1
IDENTITY_ATTR = "dataset_config"  # data.h5's record of the config it was made from
SAMPLE_IDS = "sample_ids"  # data.h5's (N,) UTF-8 strings: the samples' identities, in order


class LazyImages(Protocol):
    """Images on disk (N, H, W, C) uint8, decoded by chunks (data/images.py ImageFiles)."""

    shape: tuple[int, int, int, int]

    def __len__(self) -> int: ...
    def __getitem__(self, index: np.ndarray) -> LazyImages: ...
    def read(self, start: int, stop: int) -> np.ndarray: ...
    def write_to(self, out: h5py.Dataset, desc: str) -> dict[int, dict[str, str]]: ...


@dataclass
class ImageDataset:
    """Images with optional labels and a train/test split.

    images: (N, H, W, C) uint8, C in {1, 3} (or LazyImages of that shape, decoded when written);
    None for a dataset without images (features_only: its samples are rows of feature files);
    labels: (N,) int64, -1 where unknown; split: (N,) uint8, 0 = train, 1 = test.
    sample_ids: (N,) identities of the samples, in order (see :func:`samples_sha256`); None
    when unknown (a data.h5 written before it stored them).
    """

    name: str
    images: np.ndarray | LazyImages | None
    labels: np.ndarray
    split: np.ndarray
    class_names: list[str]
    sample_ids: list[str] | None = None

    @property
    def num_classes(self) -> int:
        """The number of classes its labels name (0 for unlabelled data: K is the config's)."""
        return len(self.class_names)


def select(dataset: ImageDataset, keep: np.ndarray) -> ImageDataset:
    """The samples at the sorted indices ``keep`` (K,): images, labels, split and sample_ids."""
    ids = dataset.sample_ids
    return replace(
        dataset,
        images=None if dataset.images is None else dataset.images[keep],
        labels=dataset.labels[keep],
        split=dataset.split[keep],
        sample_ids=None if ids is None else [ids[i] for i in keep],
    )


def samples_sha256(sample_ids: Sequence[str], split: np.ndarray) -> str:
    """Hex SHA-256 of the ordered samples: equal hashes mean the same samples, order and split.

    One UTF-8 line per sample, ``<sample id>\t<split>\n`` (split 0 = train, 1 = test), in the
    dataset's order. Sample ids (no pixels are hashed): ``<source>:<index>`` for in-memory
    sources, the index in the source's own order (train, then test) before subsampling, e.g.
    ``cifar10:50001``; for image files the path relative to ``dataset.root``, e.g.
    ``train/n01440764/n01440764_10026.JPEG``.
    """
    pairs = zip(sample_ids, split.tolist(), strict=True)
    lines = (f"{sample_id}\t{part}\n" for sample_id, part in pairs)
    return hashlib.sha256("".join(lines).encode()).hexdigest()


def _attrs(
    dataset: ImageDataset, bad_images: list[dict[str, str]], identity: dict | None
) -> dict[str, Any]:
    attrs: dict[str, Any] = {
        "name": dataset.name,
        "class_names": dataset.class_names,
        "num_samples": len(dataset.labels),
        "bad_images": bad_images,
    }
    if dataset.sample_ids is not None:
        attrs[SAMPLES_SHA256] = samples_sha256(dataset.sample_ids, dataset.split)
    if identity is not None:
        attrs[IDENTITY_ATTR] = identity
    return attrs


def write_dataset(
    path: str | os.PathLike, dataset: ImageDataset, identity: dict | None = None
) -> None:
    """Write the prepared dataset to HDF5 (atomically).

    In-memory images are written at once; LazyImages are decoded and written chunk by chunk
    into a dataset of known shape, with a progress bar, so they never all sit in memory.
    Images that LazyImages skip as undecodable are dropped with their labels and split.

    Datasets: ``images`` (absent for a dataset without images), ``labels``, ``split`` and,
    when ``dataset.sample_ids`` is known, ``sample_ids`` ((N,) variable-length UTF-8 strings,
    :func:`read_sample_ids`).

    Attributes: ``name``, ``class_names``, ``num_samples``,
    ``samples_sha256`` (:func:`samples_sha256`; absent without sample_ids) and ``bad_images``
    (JSON list of the skipped images' ``{"path", "error"}``, paths relative to the root);
    ``dataset_config`` (JSON): ``identity``, the config keys that made these samples
    (:func:`~hume_workflow.plan.dataset.dataset_identity`), when given.
    """
    if dataset.images is None or isinstance(dataset.images, np.ndarray):  # None: no images
        arrays = {"labels": dataset.labels, "split": dataset.split}
        if dataset.images is not None:
            arrays = {"images": dataset.images, **arrays}
        if dataset.sample_ids is not None:
            arrays[SAMPLE_IDS] = _ids_array(dataset.sample_ids)
        write_h5(path, arrays, _attrs(dataset, [], identity))
        return
    images = dataset.images
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        out = f.create_dataset(
            "images",
            shape=images.shape,
            maxshape=images.shape,
            dtype=np.uint8,
            chunks=(1, *images.shape[1:]),
        )
        skipped = images.write_to(out, desc=f"{dataset.name} images")
        if skipped:
            dataset = select(dataset, np.setdiff1d(np.arange(len(images)), list(skipped)))
        f.create_dataset("labels", data=dataset.labels)
        f.create_dataset("split", data=dataset.split)
        if dataset.sample_ids is not None:
            f.create_dataset(SAMPLE_IDS, data=_ids_array(dataset.sample_ids))
        write_attrs(f, _attrs(dataset, list(skipped.values()), identity))


def _ids_array(sample_ids: Sequence[str]) -> np.ndarray:
    """Sample ids as an array HDF5 stores as variable-length UTF-8 strings."""
    return np.array(list(sample_ids), dtype=h5py.string_dtype("utf-8"))


def read_dataset(path: str | os.PathLike, with_images: bool = True) -> ImageDataset:
    """Read a dataset written by :func:`write_dataset` (older files without attributes or
    ``sample_ids`` too: ``sample_ids`` None)."""
    with open_h5(path) as f:
        with_images = with_images and "images" in f  # a dataset without images: none to read
    names = ["images", "labels", "split"] if with_images else ["labels", "split"]
    arrays, attrs = read_h5(path, names)
    return ImageDataset(
        name=attrs["name"],
        images=arrays.get("images", np.empty((0, 0, 0, 0), np.uint8)),
        labels=arrays["labels"],
        split=arrays["split"],
        class_names=list(attrs["class_names"]),
        sample_ids=read_sample_ids(path),
    )


def read_sample_ids(path: str | os.PathLike) -> list[str] | None:
    """The ``sample_ids`` of a data.h5 (:func:`write_dataset`); None in a file written
    before data.h5 held them, or made without them."""
    with open_h5(path) as f:
        if SAMPLE_IDS not in f:
            return None
        return f[SAMPLE_IDS].asstr()[()].tolist()
