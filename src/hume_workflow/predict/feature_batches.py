"""A batch of new samples given as feature files, one per backbone, instead of images.

For pairs whose spaces the user computed (``precomputed`` backbones) or any other: the rows
of ``predict.batches.<name>.features.<backbone>`` are the batch's samples in that space, as
the backbone's own features before its post-processing; they get the dataset's PCA (when the
backbone has ``pca_dim``) and L2 normalisation, as the dataset's features did.
"""

from __future__ import annotations

import os

import h5py
import numpy as np

from hume_workflow.embed.pca import project
from hume_workflow.embed.settings import EmbedSettings
from hume_workflow.embed.writer import array_blocks, chunk_rows, write_space
from hume_workflow.errors import InputError
from hume_workflow.formats.dataset import TEST, UNLABELLED, ImageDataset
from hume_workflow.formats.embeddings import SAMPLES_SHA256, Projection, write_embedding_attrs
from hume_workflow.formats.feature_files import (
    DEFAULT_KEY,
    array_header,
    check_finite_rows,
    check_matrix,
    read_array,
)
from hume_workflow.formats.io import atomic_path, read_h5
from hume_workflow.plan.batch_features import (
    batch_ids,
    check_width,
    embedded_raw_width,
    feature_batch_shape,
)


def prepare_feature_batch(name: str, spec: dict) -> ImageDataset:
    """The samples of a batch of feature files (no images): N rows in every file, ids from
    ``spec["ids"]`` (one per line) or ``row:<i>``.

    Raises:
        InputError: one line naming ``predict.batches.<name>``: a file missing, unreadable,
            not a 2-D numeric array, or of another number of rows than the batch's other
            files or ids (the plan's checks, :mod:`hume_workflow.plan.batch_features`).
    """
    n, _ = feature_batch_shape(name, spec)
    ids = batch_ids(name, spec, n)
    labels, split = np.full(n, UNLABELLED, np.int64), np.full(n, TEST, np.uint8)
    return ImageDataset(name, None, labels, split, [], sample_ids=ids)


def feature_file(name: str, spec: dict, backbone: str) -> tuple[str, str]:
    """The file of batch ``name`` (its config ``spec``) in the space of ``backbone``, and the
    array's name in it.

    Raises:
        InputError: the batch names no file for that backbone.
    """
    if backbone not in spec["features"]:
        raise InputError(
            f"config predict.batches.{name}.features: no file for {backbone!r} (has "
            f"{', '.join(spec['features'])}); expected one for each backbone of the pairs"
        )
    return spec["features"][backbone], spec.get("features_key", DEFAULT_KEY)


def embed_feature_batch(
    batch_path: str | os.PathLike,
    output_path: str | os.PathLike,
    backbone_name: str,
    spec: dict,
    features_path: str | os.PathLike,
    features_key: str = DEFAULT_KEY,
    pca: Projection | None = None,
    *,
    space: str | os.PathLike | None = None,
    batch_name: str | None = None,
) -> None:
    """Write the embedding file of a feature batch in one backbone's space (atomically).

    Args:
        spec: the backbone's config entry (its ``pca_dim``, ``l2_normalize``, ``float16``).
        pca: the dataset's (mean, components) when the backbone has ``pca_dim``.
        space, batch_name: the dataset's embedding file in this space and the batch's name
            in the config: the file's width is checked against the space's raw width, in
            the plan's words (:func:`~hume_workflow.plan.batch_features.check_width`).

    Raises:
        InputError: NaN/Inf rows, or a width other than the space's (or the dataset's PCA's).
    """
    settings = EmbedSettings.from_spec(spec, backbone_name)
    header = array_header(features_path, features_key)
    if space is not None and batch_name is not None:
        batch = {"features": {backbone_name: features_path}}
        width = check_matrix(header)[1]
        check_width(batch_name, batch, backbone_name, width, embedded_raw_width(space))
    features = read_array(header).astype(np.float32)
    check_finite_rows(features, str(features_path))
    if pca is not None:
        features = project(features, pca, str(features_path))
    arrays, attrs = read_h5(batch_path, ["labels", "split"])
    n, key = len(features), f"predict batch features of {backbone_name}"
    with atomic_path(output_path) as tmp, h5py.File(tmp, "w") as f:
        blocks = array_blocks(features, chunk_rows(n, features.shape[1], 4))
        _, postprocessing = write_space(
            f, blocks, n, settings, arrays["labels"], arrays["split"], key, key
        )
        write_embedding_attrs(
            f,
            backbone=backbone_name,
            spec=spec,
            dataset=attrs.get("name"),
            num_samples=n,
            samples_sha256=attrs.get(SAMPLES_SHA256),
            preprocessing={"kind": "feature file", "path": str(features_path)},
            postprocessing=postprocessing,
            extraction={"rows_used": n, "device": "cpu"},
        )
