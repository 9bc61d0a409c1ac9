"""MNIST and Fashion-MNIST from their raw idx files (optionally gzipped)."""

from __future__ import annotations

import gzip
import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from hume_workflow.data.archives import fetch_torchvision, one_line, require_folder, verify_files
from hume_workflow.data.sample_ids import array_sample_ids
from hume_workflow.errors import InputError
from hume_workflow.formats.dataset import TEST, TRAIN, ImageDataset

if TYPE_CHECKING:
    pass

_IDX_FIX = "delete it and copy or download the official file again"
_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


# --- MNIST / Fashion-MNIST (idx files) ---------------------------------------------------------


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """The array in an idx file (gzipped or not): e.g. (N, 28, 28) images or (N,) labels.

    Format: two zero bytes, a dtype code, the number of dims, each dim as a big-endian uint32,
    then the big-endian data. A truncated or malformed file raises a one-line InputError.
    """
    path = Path(path)
    try:
        with open(path, "rb") as f:
            gzipped = f.read(2) == b"\x1f\x8b"
        with (gzip.open if gzipped else open)(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as error:
        raise InputError(
            f"{path}: cannot read the idx file ({one_line(error)}); truncated? {_IDX_FIX}"
        ) from error
    if len(raw) < 4 or raw[:2] != b"\0\0" or raw[2] not in _IDX_DTYPES:
        raise InputError(
            f"{path}: bad magic number {raw[:4].hex()}, expected an idx file; {_IDX_FIX}"
        )
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise InputError(
            f"{path}: {len(raw)} bytes, shorter than its idx header ({header}); {_IDX_FIX}"
        )
    shape = tuple(int(d) for d in np.frombuffer(raw, ">u4", count=ndim, offset=4))
    dtype = np.dtype(_IDX_DTYPES[raw[2]])
    expected = header + int(np.prod(shape)) * dtype.itemsize
    if len(raw) != expected:
        raise InputError(
            f"{path}: {len(raw)} bytes, expected {expected} for shape {shape} (truncated?); "
            f"{_IDX_FIX}"
        )
    return np.frombuffer(raw, dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


IDX_STEMS = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)


def _find_idx(folder: Path, stem: str) -> Path:
    """``folder/stem.gz`` if present, else ``folder/stem``; one-line error when neither is."""
    for candidate in (folder / f"{stem}.gz", folder / stem):
        if candidate.is_file():
            return candidate
    raise InputError(
        f"{folder / stem}[.gz]: file not found; expected the idx files {', '.join(IDX_STEMS)} "
        f"(each optionally .gz) in {folder}"
    )


def idx_files(folder: str | os.PathLike) -> list[Path]:
    """The four idx files of ``folder`` that :func:`_load_idx_set` reads (each ``.gz`` if
    present, else uncompressed).

    Raises:
        InputError: one of them is in neither form.
    """
    return [_find_idx(Path(folder), stem) for stem in IDX_STEMS]


def _load_idx_set(folder: Path, name: str, class_names: list[str]) -> ImageDataset:
    """MNIST-layout idx files in ``folder``: train-*, then t10k-*; images (N, 28, 28, 1)."""
    images, labels, split = [], [], []
    for part, prefix in ((TRAIN, "train"), (TEST, "t10k")):
        x = read_idx(_find_idx(folder, f"{prefix}-images-idx3-ubyte"))
        y = read_idx(_find_idx(folder, f"{prefix}-labels-idx1-ubyte")).astype(np.int64)
        if x.ndim != 3 or y.ndim != 1 or len(x) != len(y):
            raise InputError(
                f"{folder}: {prefix} images {x.shape}, labels {y.shape}; expected (N, H, W) "
                f"and (N,): {_IDX_FIX}"
            )
        images.append(x.astype(np.uint8)[..., None])
        labels.append(y)
        split.append(np.full(len(y), part, dtype=np.uint8))
    labels_all = np.concatenate(labels)
    ids = array_sample_ids(name, len(labels_all))
    return ImageDataset(
        name, np.concatenate(images), labels_all, np.concatenate(split), class_names, sample_ids=ids
    )


def _load_mnist_like(
    tv_class: type, name: str, root: Path, download: bool, local_root: Path | None
) -> ImageDataset:
    if local_root is not None:  # raw idx files (e.g. Debian's dataset-fashion-mnist): offline
        expected = f"the idx files {', '.join(IDX_STEMS)} (each optionally .gz)"
        require_folder("dataset.local_root", local_root, local_root, expected)
        return _load_idx_set(local_root, name, list(tv_class.classes))
    fetch_torchvision(tv_class, root, download, train=True)
    raw_folder = root / tv_class.__name__ / "raw"
    names = [file_name for file_name, _ in tv_class.resources]  # the .gz files torchvision keeps
    require_folder(
        "dataset.root",
        root,
        raw_folder,
        f"{tv_class.__name__}/raw/ with {', '.join(names)}; set dataset.download: true to "
        "fetch them, or dataset.local_root to a folder of raw idx files",
    )
    verify_files(raw_folder, tv_class.resources)
    return _load_idx_set(raw_folder, name, list(tv_class.classes))


def load_mnist(
    root: str | os.PathLike, download: bool = False, local_root: str | os.PathLike | None = None
) -> ImageDataset:
    """MNIST: 60,000 train + 10,000 test images (N, 28, 28, 1), K = 10."""
    from torchvision.datasets import MNIST

    local = Path(local_root) if local_root is not None else None
    return _load_mnist_like(MNIST, "mnist", Path(root), download, local)


def load_fashion_mnist(
    root: str | os.PathLike, download: bool = False, local_root: str | os.PathLike | None = None
) -> ImageDataset:
    """Fashion-MNIST: 60,000 train + 10,000 test images (N, 28, 28, 1), K = 10."""
    from torchvision.datasets import FashionMNIST

    local = Path(local_root) if local_root is not None else None
    return _load_mnist_like(FashionMNIST, "fashion_mnist", Path(root), download, local)
