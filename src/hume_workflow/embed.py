"""Batched feature extraction with a frozen backbone: uint8 images (N, H, W, C) -> (N, d).

The images are served by a ``torch.utils.data.DataLoader`` over :class:`ImageBatches` (whole
contiguous batches, from memory or read lazily from the dataset's HDF5 file in each worker),
run through the backbone under ``torch.inference_mode()`` (on CUDA: pinned memory, optional
autocast, channels_last for conv nets), and, in :func:`embed_dataset`, written to the HDF5
``features`` dataset chunk by chunk as the batches arrive, inside ``atomic_path``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import math
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import torch
from sklearn.decomposition import PCA
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from hume_workflow.backbones import Backbone, build_backbone
from hume_workflow.datasets import TRAIN, read_dataset
from hume_workflow.errors import InputError
from hume_workflow.features import SAMPLES_SHA256
from hume_workflow.io import (
    atomic_path,
    h5_reader,
    open_h5,
    package_versions,
    read_h5,
    temp_prefix,
)

log = logging.getLogger(__name__)

#: Datasets whose images take at most this many bytes are read into memory at once;
#: larger ones are read batch by batch from the HDF5 file (in the DataLoader workers).
IN_MEMORY_MAX_BYTES = 512 * 2**20

#: ``precision`` -> autocast dtype (None: float32, no autocast). Applied on CUDA only.
PRECISIONS: dict[str, torch.dtype | None] = {
    "fp32": None,
    "bf16": torch.bfloat16,
    "fp16": torch.float16,
}

#: Spec keys that configure extraction/post-processing, not the backbone itself.
EXTRACTION_KEYS = (
    "kind",
    "batch_size",
    "num_workers",
    "precision",
    "pca_dim",
    "l2_normalize",
    "float16",
)

_CHUNK_BYTES = 512 * 2**10  # target size of one HDF5 chunk of features


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


def reduce_dimension(
    features: np.ndarray, fit_mask: np.ndarray, dim: int
) -> tuple[np.ndarray, dict]:
    """PCA of (N, d) features to (N, dim), fitted on the rows where ``fit_mask`` is True.

    Returns:
        The float32 (N, dim) projection and a provenance dict (dim, explained variance).
    """
    if not 0 < dim <= min(features.shape[1], int(fit_mask.sum())):
        raise InputError(
            f"pca_dim={dim}: expected at most min(feature dim {features.shape[1]}, "
            f"train samples {int(fit_mask.sum())}); lower pca_dim"
        )
    pca = PCA(n_components=dim, random_state=0).fit(features[fit_mask])
    explained = float(pca.explained_variance_ratio_.sum())
    log.info("PCA to %d dims keeps %.1f%% of the variance", dim, 100 * explained)
    info = {"pca_dim": dim, "pca_fitted_on": "train split", "pca_explained_variance": explained}
    return pca.transform(features).astype(np.float32), info


def l2_normalize(features: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    """(N, d) rows scaled to unit L2 norm (all-zero rows stay zero)."""
    norms = np.linalg.norm(features, axis=1, keepdims=True)
    return (features / np.maximum(norms, eps)).astype(features.dtype, copy=False)


@dataclasses.dataclass(frozen=True)
class EmbedSettings:
    """Extraction and post-processing options of a backbone spec (schema ``backbones``).

    ``precision`` maps to an autocast dtype on CUDA only (CPU runs in float32).
    Post-processing order: PCA (fitted on the train split), then L2 normalisation, then the
    storage cast (float16 or float32).
    """

    batch_size: int = 64
    num_workers: int = 0
    precision: str = "fp32"
    pca_dim: int | None = None
    l2_normalize: bool = False
    float16: bool = False

    @classmethod
    def from_spec(cls, spec: dict, name: str = "backbone") -> EmbedSettings:
        """The settings in ``spec`` (missing keys: the defaults above).

        Raises:
            InputError: naming ``config backbones.<name>.<key>``.
        """
        fields = {f.name for f in dataclasses.fields(cls)}
        settings = cls(**{k: v for k, v in spec.items() if k in fields and v is not None})
        key = f"config backbones.{name}"
        if settings.precision not in PRECISIONS:
            raise InputError(
                f"{key}.precision={settings.precision!r}: expected one of {list(PRECISIONS)}"
            )
        if settings.batch_size < 1 or settings.num_workers < 0:
            raise InputError(
                f"{key}: batch_size={settings.batch_size}, num_workers={settings.num_workers}; "
                "expected batch_size >= 1 and num_workers >= 0"
            )
        return settings

    @property
    def storage_dtype(self) -> type[np.floating]:
        return np.float16 if self.float16 else np.float32

    def autocast_dtype(self, device: str) -> torch.dtype | None:
        """The autocast dtype on ``device``: ``precision`` on CUDA, None (float32) elsewhere."""
        return PRECISIONS[self.precision] if torch.device(device).type == "cuda" else None


def _chunk_rows(num_rows: int, dim: int, itemsize: int) -> int:
    """Rows per HDF5 chunk of (num_rows, dim) features: about _CHUNK_BYTES per chunk."""
    return max(1, min(num_rows, _CHUNK_BYTES // max(1, dim * itemsize)))


def write_feature_batches(
    f: h5py.File,
    batches: Iterable[tuple[int, np.ndarray]],
    num_rows: int,
    *,
    dtype: type[np.floating] = np.float32,
    normalize: bool = False,
    name: str = "features",
    what: str = "features",
    key: str = "backbone",
) -> h5py.Dataset:
    """Write (start, (B, d) float32) batches into a chunked (num_rows, d) dataset as they come.

    The dataset is created on the first batch (its d); each batch is checked to be finite,
    optionally L2-normalised, cast to ``dtype`` (checked finite again: float16 overflow) and
    slice-assigned.

    Raises:
        InputError: non-finite values (the message names ``what``, the image range and the
            config ``key`` of the backbone to fix), or no batches.
    """
    dset: h5py.Dataset | None = None
    for start, feats in batches:
        stop = start + len(feats)
        _check_finite(
            feats,
            f"{what} of images {start}..{stop - 1}",
            f"check the weights of {key}, or set {key}.precision: fp32 (fp16/bf16 can overflow)",
        )
        if normalize:
            feats = l2_normalize(feats)
        stored = feats.astype(dtype, copy=False)
        if dtype is not np.float32:
            _check_finite(
                stored,
                f"{what} of images {start}..{stop - 1} cast to {dtype.__name__}",
                f"the features overflow {dtype.__name__}: set {key}.float16: false "
                f"(or {key}.l2_normalize: true)",
            )
        if dset is None:
            dim = feats.shape[1]
            rows = _chunk_rows(num_rows, dim, np.dtype(dtype).itemsize)
            dset = f.create_dataset(name, shape=(num_rows, dim), dtype=dtype, chunks=(rows, dim))
        dset[start:stop] = stored
    if dset is None:
        raise InputError(f"{what}: no images to embed; expected a dataset with images")
    return dset


def _check_finite(array: np.ndarray, what: str, fix: str) -> None:
    bad = ~np.isfinite(array)
    if bad.any():
        raise InputError(f"{what}: {int(bad.sum())} non-finite values (NaN/Inf); {fix}")


def _array_blocks(array: np.ndarray, rows: int) -> Iterator[tuple[int, np.ndarray]]:
    for start in range(0, len(array), rows):
        yield start, array[start : start + rows]


def _write_attrs(f: h5py.File, attrs: dict[str, Any]) -> None:
    """As io.write_h5: values that are not str/int/float/bool are stored as JSON strings."""
    for key, value in attrs.items():
        ok = isinstance(value, str | int | float | bool | np.integer | np.floating)
        f.attrs[key] = value if ok else json.dumps(value, sort_keys=True)


def _image_source(dataset_path: str | os.PathLike) -> np.ndarray | Path:
    """The dataset's images in memory if they take at most IN_MEMORY_MAX_BYTES, else its path."""
    with open_h5(dataset_path) as f:
        images = f["images"]
        nbytes = images.size * images.dtype.itemsize
        if nbytes <= IN_MEMORY_MAX_BYTES:
            return images[()]
    log.info("images take %.1f GiB: read batch by batch from %s", nbytes / 2**30, dataset_path)
    return Path(dataset_path)


def embed_dataset(
    dataset_path: str | os.PathLike,
    output_path: str | os.PathLike,
    backbone_name: str,
    spec: dict,
    device: str = "cpu",
) -> None:
    """Embed every image of a prepared dataset and write the features to HDF5 (atomically).

    The file holds ``features`` (N, d) float32 (float16 with ``float16``; d = ``pca_dim``
    with PCA), ``labels`` (N,) (-1 where unknown), ``split`` (N,), and attributes recording
    the backbone, its preprocessing, the extraction settings, the post-processing, the
    dataset, the split, the package versions, ``num_samples`` (N) and data.h5's
    ``samples_sha256`` (the sample order; copied when data.h5 has it). Without PCA the
    features are written chunk by chunk as the batches arrive; with PCA the raw features go
    to a temporary file first (PCA needs all of them; it is fitted on the train split).
    Either way the output only appears under its name once complete (``atomic_path``).

    Args:
        spec: the backbone's config entry: ``kind``, the extraction and post-processing keys
            (``batch_size``, ``num_workers``, ``precision``, ``pca_dim``, ``l2_normalize``,
            ``float16``; see :class:`EmbedSettings`) and the backbone's options.
    """
    settings = EmbedSettings.from_spec(spec, backbone_name)
    meta = read_dataset(dataset_path, with_images=False)
    sample_order = read_h5(dataset_path, [])[1].get(SAMPLES_SHA256)
    options = {k: v for k, v in spec.items() if k not in EXTRACTION_KEYS}
    key = f"backbones.{backbone_name}"
    backbone = build_backbone(spec["kind"], config_key=key, **options)
    data = ImageBatches(_image_source(dataset_path), settings.batch_size)
    n = data.num_images
    autocast_dtype = settings.autocast_dtype(device)
    channels_last = torch.device(device).type == "cuda" and backbone.prefers_channels_last
    if settings.precision != "fp32" and autocast_dtype is None:
        log.info(
            "precision=%s applies on CUDA only: running in fp32 on %s", settings.precision, device
        )
    log.info("embedding %d images of %s with %s on %s", n, meta.name, backbone_name, device)
    batches = iter_features(
        data,
        backbone,
        device=device,
        num_workers=settings.num_workers,
        autocast_dtype=autocast_dtype,
        channels_last=channels_last,
    )
    what = f"{backbone_name} features"
    postprocessing: dict[str, Any] = {}
    with atomic_path(output_path) as tmp, h5py.File(tmp, "w") as f:
        if settings.pca_dim is None:
            dset = write_feature_batches(
                f,
                batches,
                n,
                dtype=settings.storage_dtype,
                normalize=settings.l2_normalize,
                what=what,
                key=key,
            )
        else:
            features, postprocessing = _pca_features(
                batches, n, meta.split, settings.pca_dim, what, Path(output_path), key
            )
            rows = _chunk_rows(n, features.shape[1], 4)
            dset = write_feature_batches(
                f,
                _array_blocks(features, rows),
                n,
                dtype=settings.storage_dtype,
                normalize=settings.l2_normalize,
                what=f"{what} after PCA",
                key=key,
            )
        f.create_dataset("labels", data=meta.labels)
        f.create_dataset("split", data=meta.split)
        postprocessing.update(
            {
                "l2_normalize": settings.l2_normalize,
                "storage_dtype": np.dtype(settings.storage_dtype).name,
                "order": "pca (train split) -> l2_normalize -> storage cast",
            }
        )
        extraction = {
            "batch_size": settings.batch_size,
            "num_workers": settings.num_workers,
            "precision": settings.precision,
            "autocast": "none" if autocast_dtype is None else str(autocast_dtype),
            "channels_last": channels_last,
            "device": device,
            "images_in_memory": data.array is not None,
        }
        attrs = {
            "backbone": backbone_name,
            "postprocessing": postprocessing,
            "extraction": extraction,
            "backbone_spec": spec,
            "preprocessing": backbone.describe(),
            "dataset": meta.name,
            "split_encoding": "0 = train, 1 = test",
            "device": device,
            "versions": package_versions(),
            "num_samples": n,
        }
        if sample_order is not None:
            attrs[SAMPLES_SHA256] = sample_order
        _write_attrs(f, attrs)
        shape = dset.shape
    log.info("wrote %s: features %s %s", output_path, shape, np.dtype(settings.storage_dtype))


def _pca_features(
    batches: Iterable[tuple[int, np.ndarray]],
    num_rows: int,
    split: np.ndarray,
    pca_dim: int,
    what: str,
    output_path: Path,
    key: str = "backbone",
) -> tuple[np.ndarray, dict]:
    """Raw features written chunked to a hidden temporary HDF5 file beside ``output_path``
    (removed after, or by the next write of ``output_path`` if killed), read back, reduced.

    Returns:
        float32 (N, pca_dim) features and the PCA provenance.
    """
    prefix = temp_prefix(output_path)
    fd, raw_path = tempfile.mkstemp(dir=output_path.parent, prefix=prefix, suffix=".raw.tmp.part")
    os.close(fd)
    try:
        with h5py.File(raw_path, "w") as raw:
            write_feature_batches(raw, batches, num_rows, what=what, key=key)
        with open_h5(raw_path) as raw:
            features = raw["features"][()]
    finally:
        os.remove(raw_path)
    return reduce_dimension(features, split == TRAIN, pca_dim)
