"""The feature files of a prediction batch (``predict.batches.<name>.features``): their rows,
ids and widths, read from headers and checked in the words the plan and the jobs share
(torch-free, and no image library: the embed_batch job imports it too).

A feature batch's file for a backbone holds the new samples' rows in that space as the
backbone's own features before ``pca_dim`` and L2 normalisation: its width is the space's
*raw* width, known from a precomputed space's files, from the pixels of the dataset's
images, or from the space's embedding file (its PCA's input width, else its width).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from hume_workflow.data.sources import SOURCES
from hume_workflow.errors import InputError
from hume_workflow.formats.embeddings import PCA_MEAN, features_dataset
from hume_workflow.formats.feature_files import DEFAULT_KEY, array_header, check_matrix, read_ids
from hume_workflow.formats.io import open_h5, read_h5
from hume_workflow.plan.backbone_kinds import EXTRACTION_KEYS, kind_of
from hume_workflow.plan.features import check_precomputed
from hume_workflow.plan.resources import image_side


def batch_key(name: str) -> str:
    """``config predict.batches.<name>``: the key messages about batch ``name`` start with."""
    return f"config predict.batches.{name}"


def feature_batch_shape(name: str, batch: Mapping) -> tuple[int, dict[str, int]]:
    """(rows, {backbone: width}) of a feature batch's files, from their headers.

    Raises:
        InputError: a file missing or not a 2-D numeric array, or files of different rows.
    """
    array = batch.get("features_key", DEFAULT_KEY)
    key_option = f"{batch_key(name)}.features_key"
    rows, widths = {}, {}
    for backbone, path in batch["features"].items():
        option = f"{batch_key(name)}.features.{backbone}"
        rows[path], widths[backbone] = check_matrix(array_header(path, array, option, key_option))
    if len(set(rows.values())) > 1:
        raise InputError(
            f"{batch_key(name)}.features: files of {sorted(set(rows.values()))} rows "
            f"({', '.join(f'{p}: {n}' for p, n in rows.items())}); expected one row per sample"
        )
    return next(iter(rows.values())), widths


def batch_ids(name: str, batch: Mapping, rows: int) -> list[str]:
    """The ids of a feature batch's rows: its ids file, one per line, else ``row:<i>``.

    Raises:
        InputError: the ids file is missing, unreadable, or of another count than the rows.
    """
    if "ids" not in batch:
        return [f"row:{i}" for i in range(rows)]
    option = f"{batch_key(name)}.ids"
    ids = read_ids(batch["ids"], option)
    if len(ids) != rows:
        raise InputError(
            f"{option}={str(batch['ids'])!r}: {len(ids)} ids but the features files hold {rows} "
            "rows; expected one id per row, in the rows' order"
        )
    return ids


def planned_raw_width(name: str, spec: dict, dataset: dict, embedding: Path) -> int | None:
    """The width of backbone ``name``'s features before pca_dim and L2, where the plan can
    know it: a precomputed space's files, the pixels of the dataset's images, else the
    existing ``embedding`` file (:func:`embedded_raw_width`, if made with this spec).
    None where none tells it."""
    cost = kind_of(spec).cost
    if cost == "files":
        return check_precomputed(name, spec, dataset)
    if cost == "pixels":
        side = spec.get("image_size") or image_side(dataset)
        return side * side * SOURCES[dataset["source"]].channels
    return embedded_raw_width(embedding, spec)


def embedded_raw_width(embedding: str | os.PathLike, spec: Mapping | None = None) -> int | None:
    """The raw width of an embedding file's space: its PCA's input width, or without PCA the
    width of its features. None where the file is missing, or, given ``spec``, was made with
    another spec (besides extraction and post-processing keys) or records none."""
    if not os.path.exists(embedding):
        return None
    if spec is not None:
        made_with = read_h5(embedding, [])[1].get("backbone_spec")
        if not isinstance(made_with, Mapping) or _model_keys(made_with) != _model_keys(spec):
            return None
    with open_h5(embedding) as f:
        if PCA_MEAN in f:
            return int(f[PCA_MEAN].shape[0])
        return int(features_dataset(f, embedding).shape[1])


def _model_keys(spec: Mapping) -> dict:
    """The keys of a backbone spec that decide its raw features (its kind and model)."""
    return {k: v for k, v in spec.items() if k == "kind" or k not in EXTRACTION_KEYS}


def check_width(name: str, batch: Mapping, backbone: str, width: int, expected: int | None) -> None:
    """Refuse a feature file of batch ``name`` whose ``width`` is not ``expected`` (None:
    unknown, nothing checked); the plan and the job give the same line.

    Raises:
        InputError: ``config predict.batches.<name>.features.<backbone>=<file>: <w> columns;
            expected <d>, ...``.
    """
    if expected is None or width == expected:
        return
    path = batch["features"][backbone]
    raise InputError(
        f"{batch_key(name)}.features.{backbone}={str(path)!r}: {width} columns; expected "
        f"{expected}, the width of backbone {backbone!r}'s features before pca_dim and L2 "
        "normalisation"
    )
