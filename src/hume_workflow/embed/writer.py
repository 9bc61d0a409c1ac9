"""Features written to HDF5 batch by batch as they are extracted: checked, normalised, cast;
the rows whose raw features are constant found on the way (:class:`ConstantRows`)."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence

import h5py
import numpy as np

from hume_workflow.embed.settings import EmbedSettings
from hume_workflow.errors import InputError
from hume_workflow.formats.embeddings import CONSTANT_ROWS, write_constant_rows

log = logging.getLogger(__name__)

#: How many constant rows the warning names.
_NAMED = 5


def l2_normalize(features: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    """(N, d) rows scaled to unit L2 norm (all-zero rows stay zero)."""
    norms = np.linalg.norm(features, axis=1, keepdims=True)
    return (features / np.maximum(norms, eps)).astype(features.dtype, copy=False)


def check_finite(array: np.ndarray, what: str, fix: str) -> None:
    bad = ~np.isfinite(array)
    if bad.any():
        raise InputError(f"{what}: {int(bad.sum())} non-finite values (NaN/Inf); {fix}")


_CHUNK_BYTES = 512 * 2**10  # target size of one HDF5 chunk of features


def chunk_rows(num_rows: int, dim: int, itemsize: int) -> int:
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
        check_finite(
            feats,
            f"{what} of images {start}..{stop - 1}",
            f"check the weights of {key}, or set {key}.precision: fp32 (fp16/bf16 can overflow)",
        )
        if normalize:
            feats = l2_normalize(feats)
        stored = feats.astype(dtype, copy=False)
        if dtype is not np.float32:
            check_finite(
                stored,
                f"{what} of images {start}..{stop - 1} cast to {dtype.__name__}",
                f"the features overflow {dtype.__name__}: set {key}.float16: false "
                f"(or {key}.l2_normalize: true)",
            )
        if dset is None:
            dim = feats.shape[1]
            rows = chunk_rows(num_rows, dim, np.dtype(dtype).itemsize)
            dset = f.create_dataset(name, shape=(num_rows, dim), dtype=dtype, chunks=(rows, dim))
        dset[start:stop] = stored
    if dset is None:
        raise InputError(f"{what}: no images to embed; expected a dataset with images")
    return dset


def array_blocks(array: np.ndarray, rows: int) -> Iterator[tuple[int, np.ndarray]]:
    for start in range(0, len(array), rows):
        yield start, array[start : start + rows]


def write_space(
    f: h5py.File,
    blocks: Iterable[tuple[int, np.ndarray]],
    num_rows: int,
    settings: EmbedSettings,
    labels: np.ndarray,
    split: np.ndarray,
    what: str,
    key: str,
) -> tuple[h5py.Dataset, dict]:
    """The arrays of an embedding file: ``features`` from ``blocks`` (normalised and cast as
    ``settings`` say), ``labels`` (N,) and ``split`` (N,) of the dataset.

    Returns:
        The features dataset and the post-processing record (L2, storage dtype, order).
    """
    dset = write_feature_batches(
        f,
        blocks,
        num_rows,
        dtype=settings.storage_dtype,
        normalize=settings.l2_normalize,
        what=what,
        key=key,
    )
    f.create_dataset("labels", data=labels)
    f.create_dataset("split", data=split)
    postprocessing = {
        "l2_normalize": settings.l2_normalize,
        "storage_dtype": np.dtype(settings.storage_dtype).name,
        "order": "pca (train split) -> l2_normalize -> storage cast",
    }
    return dset, postprocessing


def constant_rows(features: np.ndarray) -> np.ndarray:
    """(M,) int64 indices of the rows of (N, d) ``features`` whose values are all equal (all
    zero included); rows holding NaN are not (they are refused as non-finite)."""
    if features.shape[0] == 0 or features.shape[1] == 0:
        return np.arange(features.shape[0], dtype=np.int64)
    spread = np.max(features, axis=1) - np.min(features, axis=1)
    return np.flatnonzero(spread == 0).astype(np.int64)


class ConstantRows:
    """The rows whose raw features are constant, gathered from ``(start, (B, d))`` batches as
    they pass (:meth:`watch`), before PCA, L2 normalisation or the storage cast."""

    def __init__(self) -> None:
        self._found: list[np.ndarray] = []

    def watch(self, batches: Iterable[tuple[int, np.ndarray]]) -> Iterator[tuple[int, np.ndarray]]:
        """``batches`` unchanged, each one's constant rows noted."""
        for start, feats in batches:
            self._found.append(start + constant_rows(feats))
            yield start, feats

    @property
    def rows(self) -> np.ndarray:
        """(M,) int64 sorted indices of the constant rows seen so far."""
        return np.sort(np.concatenate([np.empty(0, np.int64), *self._found]))


def record_constant_rows(
    f: h5py.File,
    rows: np.ndarray,
    num_rows: int,
    sample_ids: Sequence[str] | None,
    key: str,
) -> None:
    """Store the (M,) constant ``rows`` in the embedding file being written and, where there
    are any, name them in one warning: their count and the first few samples.

    ``sample_ids``: data.h5's (N,) ids, to name them by; None: by their row in data.h5.
    """
    write_constant_rows(f, rows)
    if not rows.size:
        return
    named = ", ".join(
        repr(sample_ids[i]) if sample_ids is not None else f"row {i}" for i in rows[:_NAMED]
    )
    more = ", ..." if rows.size > _NAMED else ""
    log.warning(
        "%s: %d of %d samples have constant raw features (all values equal; all zero: a "
        "failed extraction upstream?): %s%s; they cannot be told apart in this space, so "
        "they are stored as %s and never exported as reliable",
        key,
        rows.size,
        num_rows,
        named,
        more,
        CONSTANT_ROWS,
    )
