"""The embedding file (HDF5): one per dataset and backbone, the features of one space.

Datasets: ``features`` (N, d) float32 or float16, ``labels`` (N,) and ``split`` (N,) of the
dataset, for a backbone with ``pca_dim``, the PCA it was projected with (``pca_mean``
(d_in,), ``pca_components`` (d, d_in): :func:`write_pca`, :func:`read_pca`), and
``constant_rows`` (M,) int64: the rows (samples, in data.h5's order) whose raw features, before
PCA, L2 normalisation and the storage cast, are all equal (all zero: a failed extraction
upstream), never exported as reliable (:func:`write_constant_rows`,
:func:`read_constant_rows`; a file written before it stored them reads as none). Attributes
(:func:`write_embedding_attrs`, the one writer): the backbone, its config entry, how the
features were made (preprocessing, extraction, post-processing), the dataset, the split
encoding, the device, the package versions, ``num_samples`` (N) and ``samples_sha256``,
copied from data.h5 (a hash of the ordered sample identities).

The embedding files are written by embed/pipeline.py (images), embed/precomputed.py (the
user's features) and predict/feature_batches.py (a batch of new samples' features); they are
read here with checks: spaces made from a different sample order than data.h5, or than each
other, are refused before any training.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import h5py
import numpy as np

from hume_workflow.errors import InputError
from hume_workflow.formats.io import (
    decode_attr,
    open_h5,
    package_versions,
    read_h5,
    write_attrs,
)

log = logging.getLogger(__name__)

#: Attribute of data.h5 and of the embedding files: sha256 (hex) of the ordered sample ids.
SAMPLES_SHA256 = "samples_sha256"
#: The ``split_encoding`` attribute: the codes of the ``split`` dataset.
SPLIT_ENCODING = "0 = train, 1 = test"
#: Datasets of an embedding file that hold its PCA, so that new samples get the same projection.
PCA_MEAN, PCA_COMPONENTS = "pca_mean", "pca_components"
Projection = tuple[np.ndarray, np.ndarray]  # mean (d_in,), components (d, d_in)
#: Dataset of an embedding file: (M,) int64, the rows whose raw features are constant.
CONSTANT_ROWS = "constant_rows"
#: Storage dtypes accepted for ``features``.
FEATURE_DTYPES = (np.float16, np.float32, np.float64)
_BLOCK_BYTES = 64 * 2**20  # features are read and checked this many bytes at a time


def write_embedding_attrs(
    f: h5py.File,
    *,
    backbone: str,
    spec: dict[str, Any],
    dataset: str | None,
    num_samples: int,
    samples_sha256: str | None,
    preprocessing: dict[str, Any],
    postprocessing: dict[str, Any],
    extraction: dict[str, Any],
    device: str = "cpu",
) -> None:
    """The attributes of an embedding file being written (see the module's docstring).

    Args:
        backbone, spec: the backbone's name and config entry.
        dataset: the name of the dataset (data.h5's ``name``) the features are of.
        samples_sha256: data.h5's ``samples_sha256``; None (a data.h5 without it): absent.
        preprocessing: how the inputs were read (the model's transform, the source files).
        postprocessing: the PCA, the L2 normalisation and the storage dtype.
        extraction: how the features were computed (batch size, precision, rows matched).
        device: where they were computed.
    """
    attrs: dict[str, Any] = {
        "backbone": backbone,
        "postprocessing": postprocessing,
        "extraction": extraction,
        "backbone_spec": spec,
        "preprocessing": preprocessing,
        "dataset": dataset,
        "split_encoding": SPLIT_ENCODING,
        "device": device,
        "versions": package_versions(),
        "num_samples": num_samples,
    }
    if samples_sha256 is not None:
        attrs[SAMPLES_SHA256] = samples_sha256
    write_attrs(f, attrs)


def write_pca(f: h5py.File, pca: Projection) -> None:
    """Store ``pca`` in an embedding file being written (:func:`read_pca` reads it)."""
    f.create_dataset(PCA_MEAN, data=pca[0])
    f.create_dataset(PCA_COMPONENTS, data=pca[1])


def read_pca(embedding_path: str | os.PathLike) -> Projection:
    """The (mean (d_in,), components (d, d_in)) an embedding file was projected with.

    Raises:
        InputError: the file holds no PCA (written before it was stored, or without pca_dim).
    """
    with open_h5(embedding_path) as f:
        if PCA_MEAN not in f or PCA_COMPONENTS not in f:
            raise InputError(
                f"{embedding_path}: no {PCA_MEAN}/{PCA_COMPONENTS}; expected the PCA of a "
                "backbone with pca_dim (an embedding file made before it was stored: delete "
                "it and extract again)"
            )
        return f[PCA_MEAN][()], f[PCA_COMPONENTS][()]


def write_constant_rows(f: h5py.File, rows: np.ndarray) -> None:
    """Store the (M,) indices of the constant rows in an embedding file being written (empty
    where none is constant); :func:`read_constant_rows` reads them."""
    f.create_dataset(CONSTANT_ROWS, data=np.asarray(rows, dtype=np.int64).reshape(-1))


def read_constant_rows(
    embedding_path: str | os.PathLike, num_samples: int | None = None
) -> np.ndarray:
    """The (M,) int64 sorted rows of an embedding file whose raw features are constant; empty
    for a file written before it stored them.

    Args:
        num_samples: the dataset's N, which every row must be below (None: not checked).

    Raises:
        InputError: a row outside 0..N-1 (the file of another dataset).
    """
    with open_h5(embedding_path) as f:
        if CONSTANT_ROWS not in f:
            return np.empty(0, np.int64)
        rows = np.unique(f[CONSTANT_ROWS][()].astype(np.int64))
    if num_samples is not None and rows.size and not 0 <= rows[0] <= rows[-1] < num_samples:
        bad = rows[0] if rows[0] < 0 else rows[-1]
        raise InputError(
            f"{embedding_path}: {CONSTANT_ROWS} {bad} is outside the dataset's {num_samples} "
            "samples; expected rows 0..N-1 of data.h5 (an embedding of another dataset? re-run "
            "extract_embeddings)"
        )
    return rows


def features_dataset(f: h5py.File, path: str | os.PathLike) -> h5py.Dataset:
    """The (N, d) ``features`` of an open embedding file, its layout checked (nothing read).

    Raises:
        InputError: no ``features`` dataset, or not a 2-D float16/float32/float64 array.
    """
    dset = f.get("features")
    if not isinstance(dset, h5py.Dataset):
        raise InputError(f"{path}: no 'features' dataset; it holds {sorted(f)}")
    if dset.ndim != 2 or dset.dtype not in FEATURE_DTYPES:
        raise InputError(
            f"{path}: features are {dset.dtype} {dset.shape}; "
            "expected a 2-D float16/float32/float64 (N, d) array"
        )
    return dset


def read_features(
    path: str | os.PathLike,
    expect_samples: int | None = None,
    expect_sha256: str | None = None,
    *,
    reference: str = "the dataset",
    rows: np.ndarray | None = None,
) -> np.ndarray:
    """The float32 (N, d) ``features`` of an embedding file, checked; with ``rows`` (n,),
    only those rows, (n, d) in that order (only they are read and checked for NaN/Inf).

    Args:
        expect_samples: the dataset's N (None: not checked).
        expect_sha256: the dataset's ``samples_sha256`` (None: not checked); a file without
            the attribute (an older one) is read with a warning.
        reference: where the expectations come from (a path), named in the messages.

    Raises:
        InputError: one line naming ``path``: missing, truncated or foreign file; no 2-D
            float ``features``; N or sample order differing from ``reference``; NaN/Inf.
    """
    with open_h5(path) as f:
        dset = features_dataset(f, path)
        if expect_samples is not None and dset.shape[0] != expect_samples:
            raise InputError(
                f"{path}: features hold {dset.shape[0]} samples but {reference} has "
                f"{expect_samples}; re-run extract_embeddings"
            )
        if expect_sha256 is not None:
            found = decode_attr(f.attrs.get(SAMPLES_SHA256))
            if found is None:
                log.warning(
                    "%s has no %s attribute (an older file): its sample order is not checked "
                    "against %s",
                    path,
                    SAMPLES_SHA256,
                    reference,
                )
            elif found != expect_sha256:
                raise InputError(
                    f"{path}: made from a different dataset sample order than {reference} "
                    f"({SAMPLES_SHA256} {found[:12]}… vs {expect_sha256[:12]}…); "
                    "re-run extract_embeddings"
                )
        if rows is None:
            return _read_finite(dset, path)
        wanted, order = np.unique(rows, return_inverse=True)  # h5py reads increasing rows
        picked = np.asarray(dset[wanted], dtype=np.float32)[order]
        bad = ~np.isfinite(picked)
        if bad.any():
            row, column = np.argwhere(bad)[0]
            raise non_finite_error(path, int(bad.sum()), int(rows[row]), int(column))
        return picked


def read_spaces(
    data_path: str | os.PathLike,
    feature_paths: list[str | os.PathLike],
    rows: np.ndarray | None = None,
) -> list[np.ndarray]:
    """The float32 (N, d_i) features of each file, checked against data.h5 and each other;
    with ``rows`` (n,), only those rows of each, (n, d_i) (:func:`read_features`).

    Every space must hold data.h5's N samples and carry its ``samples_sha256``; when data.h5
    lacks the attribute (an older file), a warning is logged and the spaces are compared with
    the first one that has it.
    """
    arrays, attrs = read_h5(data_path, ["split"])
    n, sha, reference = len(arrays["split"]), attrs.get(SAMPLES_SHA256), str(data_path)
    if sha is None:
        log.warning(
            "%s has no %s attribute (an older file): sample order checked between spaces only",
            data_path,
            SAMPLES_SHA256,
        )
    spaces = []
    for path in feature_paths:
        spaces.append(read_features(path, n, sha, reference=reference, rows=rows))
        if sha is None:
            sha, reference = read_h5(path, [])[1].get(SAMPLES_SHA256), str(path)
    return spaces


def _read_finite(dset: h5py.Dataset, path: str | os.PathLike) -> np.ndarray:
    """(N, d) ``dset`` as float32, read block by block; NaN/Inf raise with count and place."""
    n, d = dset.shape
    out = np.empty((n, d), dtype=np.float32)
    rows = max(1, _BLOCK_BYTES // max(1, d * dset.dtype.itemsize))
    count, first = 0, None
    for start in range(0, n, rows):
        block = out[start : start + rows]
        block[...] = dset[start : start + rows]
        bad = ~np.isfinite(block)
        if bad.any():
            count += int(bad.sum())
            if first is None:
                row, column = np.argwhere(bad)[0]
                first = (start + int(row), int(column))
    if first is not None:
        raise non_finite_error(path, count, *first)
    return out


def non_finite_error(path: str | os.PathLike, count: int, row: int, column: int) -> InputError:
    """The one-line error of features holding ``count`` NaN/Inf, the first at (row, column)."""
    return InputError(
        f"{path}: features hold {count} non-finite values (NaN/Inf), "
        f"first at row {row}, column {column}; delete the file and re-run "
        "extract_embeddings; if it recurs, check the backbone's weights or set its "
        "precision: fp32"
    )
