"""One embedding file per (dataset, backbone): extract, reduce, normalise, write."""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import torch

from hume_workflow.embed.extract import (
    IN_MEMORY_MAX_BYTES,
    ImageBatches,
    autocast_dtype,
    iter_features,
)
from hume_workflow.embed.pca import project, reduce_dimension
from hume_workflow.embed.settings import EmbedSettings
from hume_workflow.embed.writer import (
    ConstantRows,
    array_blocks,
    chunk_rows,
    record_constant_rows,
    write_feature_batches,
    write_space,
)
from hume_workflow.errors import InputError
from hume_workflow.formats.dataset import TRAIN, read_dataset
from hume_workflow.formats.embeddings import (
    SAMPLES_SHA256,
    Projection,
    write_embedding_attrs,
    write_pca,
)
from hume_workflow.formats.io import atomic_path, open_h5, read_h5, temp_prefix
from hume_workflow.models.registry import build_backbone
from hume_workflow.plan.backbone_kinds import EXTRACTION_KEYS

log = logging.getLogger(__name__)


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
    pca: Projection | None = None,
) -> None:
    """Embed every image of a prepared dataset and write the features to HDF5 (atomically).

    The file holds ``features`` (N, d) float32 (float16 with ``float16``; d = ``pca_dim``
    with PCA), ``labels`` (N,) (-1 where unknown), ``split`` (N,), and attributes recording
    the backbone, its preprocessing, the extraction settings, the post-processing, the
    dataset, the split, the package versions, ``num_samples`` (N) and data.h5's
    ``samples_sha256`` (the sample order; copied when data.h5 has it), and ``constant_rows``,
    the samples whose raw features are constant (named in one warning). Without PCA the
    features are written chunk by chunk as the batches arrive; with PCA the raw features go
    to a temporary file first (PCA needs all of them; it is fitted on the train split).
    Either way the output only appears under its name once complete (``atomic_path``).

    Args:
        spec: the backbone's config entry: ``kind``, the extraction and post-processing keys
            (``batch_size``, ``num_workers``, ``precision``, ``pca_dim``, ``l2_normalize``,
            ``float16``; see :class:`EmbedSettings`) and the backbone's options.
        pca: with ``pca_dim``, the (mean, components) to project with instead of fitting a
            PCA (``read_pca`` of the dataset's file: new images, projected as it was).
            The fitted or given PCA is stored in the file (``pca_mean``, ``pca_components``).
    """
    settings = EmbedSettings.from_spec(spec, backbone_name)
    meta = read_dataset(dataset_path, with_images=False)
    sample_order = read_h5(dataset_path, [])[1].get(SAMPLES_SHA256)
    options = {k: v for k, v in spec.items() if k not in EXTRACTION_KEYS}
    key = f"backbones.{backbone_name}"
    backbone = build_backbone(spec["kind"], config_key=key, **options)
    data = ImageBatches(_image_source(dataset_path), settings.batch_size)
    n = data.num_images
    amp_dtype = autocast_dtype(settings.precision, device)
    channels_last = torch.device(device).type == "cuda" and backbone.prefers_channels_last
    if settings.precision != "fp32" and amp_dtype is None:
        log.info(
            "precision=%s applies on CUDA only: running in fp32 on %s", settings.precision, device
        )
    log.info("embedding %d images of %s with %s on %s", n, meta.name, backbone_name, device)
    constant = ConstantRows()
    batches = constant.watch(
        iter_features(
            data,
            backbone,
            device=device,
            num_workers=settings.num_workers,
            autocast_dtype=amp_dtype,
            channels_last=channels_last,
        )
    )
    what = f"{backbone_name} features"
    postprocessing: dict[str, Any] = {}
    with atomic_path(output_path) as tmp, h5py.File(tmp, "w") as f:
        if settings.pca_dim is None:
            blocks = batches
        else:
            features, postprocessing, fitted = _pca_features(
                batches, n, meta.split, settings.pca_dim, what, Path(output_path), key, pca
            )
            write_pca(f, fitted)
            blocks = array_blocks(features, chunk_rows(n, features.shape[1], 4))
            what += " after PCA"
        dset, written = write_space(f, blocks, n, settings, meta.labels, meta.split, what, key)
        postprocessing.update(written)
        record_constant_rows(f, constant.rows, n, meta.sample_ids, key)
        extraction = {
            "batch_size": settings.batch_size,
            "num_workers": settings.num_workers,
            "precision": settings.precision,
            "autocast": "none" if amp_dtype is None else str(amp_dtype),
            "channels_last": channels_last,
            "device": device,
            "images_in_memory": data.array is not None,
        }
        write_embedding_attrs(
            f,
            backbone=backbone_name,
            spec=spec,
            dataset=meta.name,
            num_samples=n,
            samples_sha256=sample_order,
            preprocessing=backbone.describe(),
            postprocessing=postprocessing,
            extraction=extraction,
            device=device,
        )
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
    pca: Projection | None = None,
) -> tuple[np.ndarray, dict, Projection]:
    """Raw features written chunked to a hidden temporary HDF5 file beside ``output_path``
    (removed after, or by the next write of ``output_path`` if killed), read back, reduced
    by a PCA fitted on the train split, or by ``pca`` (mean, components) when given.

    Returns:
        float32 (N, pca_dim) features, the PCA provenance and the PCA's (mean, components).
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
    if pca is None:
        return reduce_dimension(features, split == TRAIN, pca_dim)
    components = pca[1]
    if components.shape != (pca_dim, features.shape[1]):
        raise InputError(
            f"the dataset's PCA is {components.shape[1]} -> {components.shape[0]} dims; expected "
            f"{features.shape[1]} -> {pca_dim} (pca_dim of the backbone)"
        )
    info = {"pca_dim": pca_dim, "pca_fitted_on": "the dataset's train split (given)"}
    return project(features, pca, what), info, pca
