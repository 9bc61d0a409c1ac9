"""The prediction batches of a config (``predict.batches``): checks before any job runs, and
the user's files each batch's jobs read (torch-free: the Snakemake main process imports it).

A batch is either ``root``, a folder of new images (flat, or in sub-folders), or
``features``, {backbone: file}: the new samples' rows in each space, as the backbone's
features before ``pca_dim`` and L2 normalisation, with an optional ``ids`` file. What the
jobs would refuse is refused here, from the folder's listing and the files' headers: both
forms or neither, a folder that is missing, empty or not a layout of images, images on a
dataset that has none (features_only), no files, a backbone not declared, a space a task uses
without its file, a file of another width than its backbone's raw features, files of
different numbers of rows, an ids file of another count. A width the plan cannot know (an
image backbone not yet embedded) is checked by the job in the same line
(plan/batch_features.py: the feature files' rows, ids and widths, which the jobs share).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path

from hume_workflow.data.folders import listed_folders, load_image_folder
from hume_workflow.data.sources import FEATURES_ONLY
from hume_workflow.errors import InputError, did_you_mean
from hume_workflow.formats.dataset import ImageDataset
from hume_workflow.plan.batch_features import (
    batch_ids,
    batch_key,
    check_width,
    feature_batch_shape,
    planned_raw_width,
)
from hume_workflow.plan.methods import config_tasks

#: What a batch is, for messages.
FORMS = "either root (a folder of images) or features ({backbone: file})"
#: What a batch folder holds, for messages.
FOLDER_LAYOUT = "a folder of new images, flat or in sub-folders"


def check_batches(config: dict, embedding: Callable[[str], Path]) -> None:
    """Check every batch of a (defaults-filled) config; ``embedding`` maps a backbone to
    where its embedding file is (read for its raw width when it exists).

    Raises:
        InputError: the first problem, one line naming ``predict.batches.<name>...``.
    """
    for name, batch in config["predict"]["batches"].items():
        key = batch_key(name)
        if ("root" in batch) == ("features" in batch):
            which = "both root and features" if "root" in batch else "neither root nor features"
            tail = ", not both" if "root" in batch else ""
            raise InputError(f"{key}: {which}; expected {FORMS}{tail}")
        if "root" in batch:
            _check_image_batch(name, batch, config)
        else:
            _check_feature_batch(name, batch, config, embedding)


def _check_image_batch(name: str, batch: dict, config: dict) -> None:
    key, root = batch_key(name), batch["root"]
    if "ids" in batch:
        raise InputError(
            f"{key}.ids: only with features; expected no ids with root (a root batch's ids "
            "are its images' paths under root)"
        )
    source = config["dataset"]["source"]
    if source == FEATURES_ONLY:
        raise InputError(
            f"{key}.root={str(root)!r}: dataset source {source!r} has no images, so the "
            "pairs' spaces cannot embed new ones; expected features: {<backbone>: <file>}, "
            f"the new samples' rows in each space ({', '.join(_used_spaces(config))})"
        )
    scan_batch_folder(name, root)


def scan_batch_folder(name: str, root: str | os.PathLike) -> ImageDataset:
    """The images of batch ``name``'s folder, scanned as the data stage scans an image
    folder: their paths relative to it (``sample_ids``) and labels, nothing decoded.

    Raises:
        InputError: ``config predict.batches.<name>.root=...``: missing, empty, without
            images, or not a layout of images (the scan's message, under the batch's key).
    """
    key, folder = f"{batch_key(name)}.root", Path(root)
    if not folder.is_dir():
        problem = "not a folder" if folder.exists() else "no such folder"
        raise InputError(f"{key}={str(root)!r}: {problem}; expected {FOLDER_LAYOUT}")
    if not any(folder.iterdir()):
        raise InputError(f"{key}={str(root)!r}: the folder is empty; expected {FOLDER_LAYOUT}")
    try:
        return load_image_folder(folder)
    except InputError as error:  # worded for dataset.root: named under the batch's key
        message = str(error).replace(f"dataset.root={folder}", f"{key}={str(root)!r}", 1)
        raise InputError(message) from error


def _used_spaces(config: dict) -> list[str]:
    """The backbones some task uses, sorted."""
    return sorted({space for task in config_tasks(config) for space in task.spaces})


def _check_feature_batch(
    name: str, batch: dict, config: dict, embedding: Callable[[str], Path]
) -> None:
    key, files, backbones = f"{batch_key(name)}.features", batch["features"], config["backbones"]
    used = ", ".join(_used_spaces(config))
    if not files:
        raise InputError(
            f"{key}: no files; expected {{backbone: file}} for each space the tasks use ({used})"
        )
    for backbone in files:
        if backbone not in backbones:
            raise InputError(
                f"{key}.{backbone}: not declared under 'backbones'"
                f"{did_you_mean(backbone, list(backbones))} (declared: {', '.join(backbones)})"
            )
    for task in config_tasks(config):
        for space in task.spaces:
            if space not in files:
                raise InputError(
                    f"{key}: no file for {space!r}, a space of task {task.name}; expected one "
                    f"file for each space the tasks use ({used})"
                )
    rows, widths = feature_batch_shape(name, batch)
    batch_ids(name, batch, rows)
    for backbone, width in widths.items():
        spec = backbones[backbone]
        expected = planned_raw_width(backbone, spec, config["dataset"], embedding(backbone))
        check_width(name, batch, backbone, width, expected)


def batch_files(batch: Mapping, backbone: str | None = None) -> list[str]:
    """The user's files a batch's jobs read, as inputs of their rules (a replaced file
    reruns the batch's jobs, and nothing upstream): a feature batch's files and ids file (of
    ``backbone`` alone: its file), an image batch's folder and the sub-folders it reads
    images from (``backbone`` given: none, its images are read from the batch's data.h5).
    A folder's time changes when an image is added, removed or renamed in it."""
    if "features" in batch:
        if backbone is not None:
            return [str(batch["features"][backbone])] if backbone in batch["features"] else []
        ids = [batch["ids"]] if "ids" in batch else []
        return list(dict.fromkeys(str(path) for path in [*batch["features"].values(), *ids]))
    if backbone is not None or "root" not in batch:
        return []
    return [str(folder) for folder in listed_folders(batch["root"])]
