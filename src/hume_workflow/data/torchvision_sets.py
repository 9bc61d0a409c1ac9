"""CIFAR-10, CIFAR-100 (20 superclasses) and STL-10, parsed from their official files."""

from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from hume_workflow.data.archives import (
    expected_torchvision_files,
    fetch_torchvision,
    one_line,
    require_folder,
    verify_files,
)
from hume_workflow.data.sample_ids import array_sample_ids
from hume_workflow.errors import InputError
from hume_workflow.formats.dataset import TEST, TRAIN, ImageDataset

if TYPE_CHECKING:
    pass


# --- CIFAR (official python pickle batches) ----------------------------------------------------


def _read_cifar_pickle(path: Path) -> dict[bytes, object]:
    """One official CIFAR batch/meta file as a dict with bytes keys.

    Reading pickle is only done on the official CIFAR files, after their md5 check;
    nothing here writes pickle.
    """
    try:
        with open(path, "rb") as f:
            return pickle.load(f, encoding="bytes")
    except (OSError, EOFError, pickle.UnpicklingError, ValueError) as error:
        raise InputError(
            f"{path}: cannot read the CIFAR python batch ({one_line(error)}); expected an "
            "official cifar-*-python file: delete it and prepare again"
        ) from error


def _cifar_images(batch: dict[bytes, object], path: Path) -> np.ndarray:
    """(N, 32, 32, 3) uint8 from a batch's (N, 3072) row-major CHW ``data``."""
    data = np.asarray(batch[b"data"], dtype=np.uint8)
    if data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        raise InputError(
            f"{path}: data has shape {data.shape}, expected (N, 3072); delete it and prepare again"
        )
    return data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)


def _load_cifar(
    tv_class: type, root: Path, download: bool, label_key: bytes, names_key: bytes, name: str
) -> ImageDataset:
    """CIFAR-10/100 from ``root/<base_folder>``: train batches, then the test batch."""
    fetch_torchvision(tv_class, root, download, train=True)
    folder = root / tv_class.base_folder
    meta = tv_class.meta
    files = [*tv_class.train_list, *tv_class.test_list, (meta["filename"], meta["md5"])]
    expected = expected_torchvision_files(tv_class, [file_name for file_name, _ in files])
    require_folder("dataset.root", root, folder, expected)
    verify_files(folder, files)
    images, labels, split = [], [], []
    for part, files in ((TRAIN, tv_class.train_list), (TEST, tv_class.test_list)):
        for file_name, _ in files:
            batch = _read_cifar_pickle(folder / file_name)
            if label_key not in batch:
                raise InputError(
                    f"{folder / file_name}: no {label_key.decode()!r} key; expected an official "
                    "CIFAR batch: delete it and prepare again"
                )
            images.append(_cifar_images(batch, folder / file_name))
            labels.append(np.asarray(batch[label_key], dtype=np.int64))
            split.append(np.full(len(labels[-1]), part, dtype=np.uint8))
    names = _read_cifar_pickle(folder / meta["filename"])[names_key]
    class_names = [n.decode() if isinstance(n, bytes) else str(n) for n in names]
    labels_all = np.concatenate(labels)
    ids = array_sample_ids(name, len(labels_all))
    return ImageDataset(
        name, np.concatenate(images), labels_all, np.concatenate(split), class_names, sample_ids=ids
    )


def load_cifar10(root: str | os.PathLike, download: bool = False) -> ImageDataset:
    """CIFAR-10: 50,000 train + 10,000 test images (N, 32, 32, 3), K = 10."""
    from torchvision.datasets import CIFAR10

    return _load_cifar(CIFAR10, Path(root), download, b"labels", b"label_names", "cifar10")


def load_cifar100_20(root: str | os.PathLike, download: bool = False) -> ImageDataset:
    """CIFAR-100 with its 20 superclasses (``coarse_labels``): 50,000 + 10,000, K = 20."""
    from torchvision.datasets import CIFAR100

    return _load_cifar(
        CIFAR100, Path(root), download, b"coarse_labels", b"coarse_label_names", "cifar100_20"
    )


# --- STL-10 (binary files) ---------------------------------------------------------------------


def _read_stl10_images(path: Path) -> np.ndarray:
    """(N, 96, 96, 3) uint8 from an STL-10 ``*_X.bin`` (per image: C, then column-major W x H)."""
    raw = np.fromfile(path, dtype=np.uint8)
    if raw.size % (3 * 96 * 96):
        raise InputError(
            f"{path}: {raw.size} bytes, expected a multiple of 3*96*96 (truncated?); "
            "delete it and prepare again"
        )
    return np.ascontiguousarray(raw.reshape(-1, 3, 96, 96).transpose(0, 3, 2, 1))


def load_stl10(root: str | os.PathLike, download: bool = False) -> ImageDataset:
    """STL-10's labelled splits: 5,000 train + 8,000 test images (N, 96, 96, 3), K = 10."""
    from torchvision.datasets import STL10

    root = Path(root)
    fetch_torchvision(STL10, root, download, split="test")
    folder = root / STL10.base_folder
    files = [STL10.train_list[0], STL10.train_list[1], *STL10.test_list]  # not unlabeled_X
    expected = expected_torchvision_files(STL10, [file_name for file_name, _ in files])
    require_folder("dataset.root", root, folder, expected)
    verify_files(folder, files)
    images, labels, split = [], [], []
    for part, prefix in ((TRAIN, "train"), (TEST, "test")):
        x = _read_stl10_images(folder / f"{prefix}_X.bin")
        y = np.fromfile(folder / f"{prefix}_y.bin", dtype=np.uint8).astype(np.int64) - 1
        if len(x) != len(y):
            raise InputError(
                f"{folder / f'{prefix}_y.bin'}: {len(y)} labels for {len(x)} images; "
                "expected one per image: delete the STL-10 files and prepare again"
            )
        images.append(x)
        labels.append(y)
        split.append(np.full(len(y), part, dtype=np.uint8))
    names_file = folder / STL10.class_names_file
    class_names = names_file.read_text().split() if names_file.is_file() else STL10_CLASSES
    labels_all = np.concatenate(labels)
    ids = array_sample_ids("stl10", len(labels_all))
    return ImageDataset(
        "stl10",
        np.concatenate(images),
        labels_all,
        np.concatenate(split),
        class_names,
        sample_ids=ids,
    )


STL10_CLASSES = "airplane bird car cat deer dog horse monkey ship truck".split()
