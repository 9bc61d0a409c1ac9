"""Batched feature extraction with a frozen backbone: uint8 images (N, H, W, C) -> (N, d).

The images are served by a ``torch.utils.data.DataLoader`` over :class:`ImageBatches` (whole
contiguous batches, from memory or read lazily from the dataset's HDF5 file in each worker),
run through the backbone under ``torch.inference_mode()`` (on CUDA: pinned memory, optional
autocast, channels_last for conv nets), and, in :func:`embed_dataset`, written to the HDF5
``features`` dataset chunk by chunk as the batches arrive, inside ``atomic_path``.
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Iterator
from pathlib import Path

import h5py
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from hume_workflow.formats.io import (
    h5_reader,
    open_h5,
)
from hume_workflow.models.base import Backbone

#: Datasets whose images take at most this many bytes are read into memory at once;
#: larger ones are read batch by batch from the HDF5 file (in the DataLoader workers).
IN_MEMORY_MAX_BYTES = 512 * 2**20

#: ``precision`` -> autocast dtype (None: float32, no autocast). Applied on CUDA only.
AUTOCAST_DTYPES: dict[str, torch.dtype | None] = {
    "fp32": None,
    "bf16": torch.bfloat16,
    "fp16": torch.float16,
}


class ImageBatches(Dataset):
    """Consecutive batches of uint8 images, item b = images[b * batch_size : (b + 1) * batch_size].

    Meant for ``DataLoader(dataset, batch_size=None)``: each item is already a batch, a uint8
    tensor (B, H, W, C) (grayscale (N, H, W) arrays get C = 1), so an HDF5 source costs one
    contiguous slice read per batch. An HDF5 file is opened lazily, once per worker process.

    Args:
        source: uint8 images (N, H, W, C) / (N, H, W), or the path of an HDF5 file.
        batch_size: images per item.
        key: the HDF5 dataset holding the images.
    """

    def __init__(
        self, source: np.ndarray | str | os.PathLike, batch_size: int, key: str = "images"
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size={batch_size}: expected a positive integer")
        self.batch_size = int(batch_size)
        self.key = key
        self.array: np.ndarray | None = None
        self.path: Path | None = None
        self._file: h5py.File | None = None
        if isinstance(source, np.ndarray):
            self.array = source
            shape, dtype, where = source.shape, source.dtype, "images"
        else:
            self.path = Path(source)
            with open_h5(self.path) as f:
                shape, dtype, where = f[key].shape, f[key].dtype, f"{self.path}:{key}"
        if dtype != np.uint8 or len(shape) not in (3, 4):
            raise ValueError(f"{where}: expected uint8 (N, H, W, C) images, got {dtype} {shape}")
        self.num_images = int(shape[0])
        self.image_shape: tuple[int, int, int] = (*shape[1:3], shape[3] if len(shape) == 4 else 1)

    def __len__(self) -> int:
        return math.ceil(self.num_images / self.batch_size)

    def __getitem__(self, index: int) -> torch.Tensor:
        """uint8 (B, H, W, C) batch number ``index``."""
        start = index * self.batch_size
        stop = min(start + self.batch_size, self.num_images)
        if self.array is not None:
            batch = self.array[start:stop]
        else:
            if self._file is None:
                self._file = h5_reader(self.path)
            batch = self._file[self.key][start:stop]
        if batch.ndim == 3:
            batch = batch[..., None]
        return torch.from_numpy(np.ascontiguousarray(batch))

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_file"] = None  # an open HDF5 handle does not travel to (spawned) workers
        return state


def iter_features(
    images: np.ndarray | ImageBatches,
    backbone: Backbone,
    batch_size: int = 64,
    device: str = "cpu",
    *,
    num_workers: int = 0,
    autocast_dtype: torch.dtype | None = None,
    channels_last: bool | None = None,
    progress: bool = True,
) -> Iterator[tuple[int, np.ndarray]]:
    """Yield (start, float32 (B, d) features of images[start : start + B]) batch by batch.

    Args:
        images: uint8 (N, H, W, C) / (N, H, W), or an :class:`ImageBatches` (its own
            batch size is used).
        backbone: moved to ``device`` and put in eval mode.
        device: e.g. "cpu" or "cuda"; on CUDA the loader pins memory.
        num_workers: DataLoader worker processes (0 reads in this process).
        autocast_dtype: run the backbone under autocast with this dtype; None: float32.
        channels_last: channels_last memory format; None: on CUDA for conv nets.
        progress: show a tqdm progress bar.
    """
    data = images if isinstance(images, ImageBatches) else ImageBatches(images, batch_size)
    dev = torch.device(device)
    backbone = backbone.to(dev).eval()
    if channels_last is None:
        channels_last = dev.type == "cuda" and backbone.prefers_channels_last
    if channels_last:
        backbone = backbone.to(memory_format=torch.channels_last)
    loader = DataLoader(
        data,
        batch_size=None,
        shuffle=False,
        num_workers=num_workers,
        pin_memory=dev.type == "cuda",
    )
    amp = (
        torch.autocast(dev.type, dtype=autocast_dtype)
        if autocast_dtype is not None
        else contextlib.nullcontext()
    )
    bar = tqdm(
        total=data.num_images,
        desc=f"features [{backbone.name}]",
        unit="img",
        disable=not progress,
    )
    start = 0
    with bar:
        for batch in loader:
            with torch.inference_mode(), amp:
                x = backbone.preprocess(batch.to(dev, non_blocking=True))
                if channels_last and x.ndim == 4:
                    x = x.contiguous(memory_format=torch.channels_last)
                feats = backbone.forward_features(x).float().cpu().numpy()
            yield start, feats
            start += len(batch)
            bar.update(len(batch))


def extract_features(
    images: np.ndarray,
    backbone: Backbone,
    batch_size: int = 64,
    device: str = "cpu",
    progress: bool = True,
    autocast_dtype: torch.dtype | None = None,
    num_workers: int = 0,
) -> np.ndarray:
    """Features of every image, in order.

    Args:
        images: uint8 (N, H, W, C) with C in {1, 3}, or (N, H, W) for grayscale.
        backbone: the feature extractor; it is moved to ``device`` and put in eval mode.
        batch_size: images per forward pass.
        device: torch device string, e.g. "cpu" or "cuda".
        progress: show a tqdm progress bar.
        autocast_dtype: e.g. torch.bfloat16 to run under autocast on ``device`` (meant for
            CUDA); None runs in float32.
        num_workers: DataLoader worker processes.

    Returns:
        float32 (N, d) features.
    """
    data = ImageBatches(images, batch_size)
    out: np.ndarray | None = None
    for start, feats in iter_features(
        data,
        backbone,
        device=device,
        num_workers=num_workers,
        autocast_dtype=autocast_dtype,
        progress=progress,
    ):
        if out is None:
            out = np.empty((data.num_images, feats.shape[1]), dtype=np.float32)
        out[start : start + len(feats)] = feats
    if out is None:
        return np.empty((0, backbone.output_dim(data.image_shape)), dtype=np.float32)
    return out


def autocast_dtype(precision: str, device: str) -> torch.dtype | None:
    """The autocast dtype of ``precision`` (a PRECISIONS value) on ``device``: on CUDA only,
    None (float32) elsewhere."""
    return AUTOCAST_DTYPES[precision] if torch.device(device).type == "cuda" else None
