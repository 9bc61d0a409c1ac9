"""The embedding file of a ``precomputed`` backbone: the user's features, aligned and checked.

The rows of the user's files (data/feature_config.py) are matched to data.h5's samples by id
(data/sample_ids.py), checked (numbers, 2-D, finite, one row per sample, each in its split's
file), then post-processed as every other kind is (PCA fitted on the train split, L2
normalisation, the storage cast) and written as the standard embedding file
(formats/embeddings.py), with the attributes
:func:`~hume_workflow.formats.embeddings.read_features` checks (``num_samples``,
``samples_sha256``). No model, no images, no torch (the PCA: embed/pca.py).
"""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from hume_workflow.data.feature_config import FeatureFiles
from hume_workflow.data.sample_ids import SPLIT_PARTS, WHOLE, SourceSamples, align_rows
from hume_workflow.data.sources import SOURCES
from hume_workflow.embed.pca import reduce_dimension
from hume_workflow.embed.settings import EmbedSettings
from hume_workflow.embed.writer import (
    array_blocks,
    chunk_rows,
    constant_rows,
    record_constant_rows,
    write_space,
)
from hume_workflow.errors import InputError
from hume_workflow.formats.dataset import IDENTITY_ATTR, TRAIN, read_dataset
from hume_workflow.formats.embeddings import SAMPLES_SHA256, write_embedding_attrs, write_pca
from hume_workflow.formats.io import atomic_path, read_h5

log = logging.getLogger(__name__)


def embed_precomputed(
    dataset_path: str | os.PathLike,
    output_path: str | os.PathLike,
    backbone_name: str,
    spec: dict,
) -> None:
    """Write the embedding file of the precomputed backbone ``backbone_name`` (atomically).

    The file holds what :func:`~hume_workflow.embed.pipeline.embed_dataset` writes:
    ``features`` (N, d) in data.h5's sample order (float32, float16 with ``float16``; d =
    ``pca_dim`` with PCA, whose ``pca_mean`` and ``pca_components`` are stored too), ``labels``,
    ``split``, ``constant_rows`` (the samples whose features are constant, named in one
    warning) and the attributes; ``preprocessing`` records the source files (path, size,
    sha256) and ``extraction`` how rows were matched.

    Rows are matched by the ids file (``ids``); without one, by place (``<part>:<row>``, a
    features_only dataset), and then the files must hold the dataset's rows exactly, unless
    data.h5 is a subset (``max_samples``). Rows of samples data.h5 does not hold are left
    out; every row must name a sample of the dataset's source (:class:`SourceSamples`).

    Raises:
        InputError: one line naming the file: see :meth:`FeatureFiles.read`,
            :func:`align_rows` and :meth:`SourceSamples.check`; data.h5 without sample ids;
            rows in number unlike the dataset's.
    """
    settings = EmbedSettings.from_spec(spec, backbone_name)
    key = f"backbones.{backbone_name}"
    files = FeatureFiles.from_backbone(spec, backbone_name)
    meta = read_dataset(dataset_path, with_images=False)
    data_attrs = read_h5(dataset_path, [])[1]
    if meta.sample_ids is None:
        raise InputError(
            f"{dataset_path}: no sample_ids (made before data.h5 stored them), so the rows of "
            f"config {key} cannot be matched; expected a new data.h5: delete it and re-run"
        )
    features, row_ids, row_split = files.read()
    identity = data_attrs.get(IDENTITY_ATTR) or {}
    if files.ids is None and identity.get("max_samples") is None:
        _check_counts(files, row_split, meta.split, dataset_path, key)
    _check_source_ids(row_ids, meta.sample_ids, data_attrs, files, key)  # first: 1-based ids
    rows = align_rows(row_ids, row_split, meta.sample_ids, meta.split, files.ids_where())
    n, dim = len(rows), features.shape[1]
    log.info("%s: %d of %d rows of %s, %d features", key, n, len(row_ids), files.ids_where(), dim)
    features = features[rows]
    constant = constant_rows(features)  # raw: before PCA, L2 and the storage cast
    postprocessing: dict[str, Any] = {}
    with atomic_path(output_path) as tmp, h5py.File(tmp, "w") as f:
        what = f"{backbone_name} features"
        if settings.pca_dim is not None:
            features, postprocessing, fitted = reduce_dimension(
                features, meta.split == TRAIN, settings.pca_dim
            )
            write_pca(f, fitted)
            what += " after PCA"
        blocks = array_blocks(features, chunk_rows(n, features.shape[1], 4))
        dset, written = write_space(f, blocks, n, settings, meta.labels, meta.split, what, key)
        postprocessing.update(written)
        record_constant_rows(f, constant, n, meta.sample_ids, key)
        write_embedding_attrs(
            f,
            backbone=backbone_name,
            spec=spec,
            dataset=meta.name,
            num_samples=n,
            samples_sha256=data_attrs.get(SAMPLES_SHA256),
            preprocessing={
                "kind": "precomputed",
                "key": files.key,
                "files": {part: _describe_file(path) for part, path in files.parts.items()},
                "ids": None if files.ids is None else files.ids_where(),
                "input_dim": dim,
            },
            postprocessing=postprocessing,
            extraction={
                "rows_matched_by": "ids file" if files.ids is not None else "place",
                "rows_in_files": len(row_ids),
                "rows_used": n,
                "device": "cpu",
            },
        )
        shape = dset.shape
    log.info("wrote %s: features %s %s", output_path, shape, np.dtype(settings.storage_dtype))


def _check_source_ids(
    row_ids: list[str],
    sample_ids: list[str],
    data_attrs: dict[str, Any],
    files: FeatureFiles,
    key: str,
) -> None:
    """Refuse rows whose ids name no sample of the source data.h5 was made from (its recorded
    ``dataset_config``; a data.h5 written before it recorded one is not checked).

    Raises:
        InputError: see :meth:`SourceSamples.check`.
    """
    identity = data_attrs.get(IDENTITY_ATTR)
    if not identity or identity.get("source") not in SOURCES:
        return
    skipped = {bad["path"] for bad in data_attrs.get("bad_images") or []}
    held = set(sample_ids) | skipped
    if all(sample_id in held for sample_id in row_ids):
        return
    part_rows = None
    if SOURCES[identity["source"]].reads == "files":
        part_rows = FeatureFiles.from_dataset(identity).headers()[0]
    if files.ids is None:
        where = f"{key} ({files.ids_where()}, rows by place)"
    else:
        where = f"{key}.ids={files.ids_where()}"
    SourceSamples(identity, held, part_rows).check(row_ids, where)


def _check_counts(
    files: FeatureFiles,
    row_split: np.ndarray,
    split: np.ndarray,
    dataset_path: str | os.PathLike,
    key: str,
) -> None:
    """Rows matched by place: each file holds as many rows as the dataset has samples of its
    split (one file: all of them).

    Raises:
        InputError: ``<file>: <r> rows but <data.h5> has <n> <split> samples; ...``.
    """
    for part, path in files.parts.items():
        if part == WHOLE:
            found, expected, which = len(row_split), len(split), ""
        else:
            code = SPLIT_PARTS[part]
            found, expected = int((row_split == code).sum()), int((split == code).sum())
            which = f"{part} "
        if found != expected:
            raise InputError(
                f"{path}: {found} rows but {dataset_path} has {expected} {which}samples; "
                f"expected one row per sample, in the dataset's order (or config {key}.ids)"
            )


def _describe_file(path: Path) -> dict[str, Any]:
    """Path, size and SHA-256 of a source file (provenance: which file made the features)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fp:
        for block in iter(lambda: fp.read(2**20), b""):
            digest.update(block)
    return {"path": str(path), "bytes": path.stat().st_size, "sha256": digest.hexdigest()}
