"""What a dataset config will produce, known before its data stage runs (torch-free).

The plan-time checks (:mod:`hume_workflow.plan.preflight`) ask here how many samples and
classes the config's dataset holds, so that a value a job would fail on is refused before
Snakemake deletes any output to rerun it. Three sources of that knowledge, in order:

1. the dataset's data.h5 (where the rules put it), when it exists and was made from the
   same dataset config (its recorded :func:`dataset_identity`; :func:`check_identity`
   refuses one made from another, so a name never holds two datasets);
2. for image folders (imagenet, image_folder): a scan of ``dataset.root``, the same scan the
   data stage does (file names only, nothing decoded); for features_only: the headers of its
   feature files and its labels (plan/features.py);
3. for the benchmark sets: their published sizes and class counts (data/sources.py).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hume_workflow.data.prepare import prepare_configured
from hume_workflow.data.sources import SOURCES
from hume_workflow.errors import InputError
from hume_workflow.formats.dataset import IDENTITY_ATTR
from hume_workflow.formats.io import read_h5
from hume_workflow.plan.features import features_only_counts
from hume_workflow.plan.resources import dataset_samples


@dataclass(frozen=True)
class PlannedData:
    """Samples per split and classes of the dataset a config will produce.

    num_classes is None for unlabelled images (K then comes from the config alone).
    """

    n_train: int
    n_test: int
    num_classes: int | None
    where: str  # what the counts were read from, for messages


def dataset_identity(dataset: dict) -> dict:
    """The keys of a (defaults-filled) ``dataset`` config that decide which samples, in which
    order and split, its data.h5 holds; two configs with equal identities give equal data.

    Not part of it: ``name``, ``num_classes`` (checked against the data instead),
    ``download``, and, for the benchmark sets, ``root``/``local_root`` (where their fixed,
    md5-checked files are kept). ``split_seed`` counts only where it draws something.
    features_only: its files (absolute paths) and the key read from them.
    """
    source = SOURCES[dataset["source"]]
    identity = {"source": source.name, "max_samples": dataset.get("max_samples")}
    # features_only from one file draws its split too
    one_file = source.reads == "files" and isinstance(dataset.get("features"), str)
    drawn = source.random_split or one_file
    if drawn:
        identity["test_fraction"] = dataset.get("test_fraction")
    if drawn or identity["max_samples"] is not None:
        identity["split_seed"] = dataset.get("split_seed")
    if source.reads == "folder":
        identity["root"] = os.path.abspath(dataset["root"])
        identity["image_size"] = dataset.get("image_size")
        identity["skip_bad_images"] = dataset.get("skip_bad_images")
    if source.reads == "files":
        for key in ("features", "labels"):
            identity[key] = _absolute(dataset.get(key))
        identity["features_key"] = dataset.get("features_key")
    return identity


def _absolute(files: str | dict | None) -> str | dict | None:
    """A file, or {part: file}, as absolute paths."""
    if isinstance(files, dict):
        return {part: os.path.abspath(path) for part, path in files.items()}
    return None if files is None else os.path.abspath(files)


def recorded_identity(data_path: str | os.PathLike) -> dict | None:
    """The identity a data.h5 records, or None for a file written without one."""
    return read_h5(data_path, [])[1].get(IDENTITY_ATTR)


def check_identity(dataset: dict, data_path: str | os.PathLike) -> None:
    """Refuse a config whose dataset differs from the one ``data_path`` already holds.

    Raises:
        InputError: the first key that differs, with both values and the two ways out.
    """
    if not os.path.exists(data_path):
        return
    recorded = recorded_identity(data_path)
    if recorded is None:  # written before data.h5 recorded its config: nothing to compare
        return
    wanted = dataset_identity(dataset)
    for key in sorted(set(recorded) | set(wanted)):
        if recorded.get(key) != wanted.get(key):
            results = Path(data_path).parent
            raise InputError(
                f"config dataset.{key}={wanted.get(key)!r}: {data_path} was made with "
                f"{key}={recorded.get(key)!r}, and one dataset.name holds one dataset; pick a "
                f"new dataset.name, or delete {results}/ to start that dataset over"
            )


def planned_data(dataset: dict, data_path: str | os.PathLike) -> PlannedData:
    """Samples and classes of the dataset the config will produce (see the module's doc).

    Raises:
        InputError: an image folder that the data stage would refuse (its scan's message).
    """
    if os.path.exists(data_path):
        n_train, n_test = dataset_samples(dataset, str(data_path))
        names = read_h5(data_path, [])[1].get("class_names", [])
        return PlannedData(n_train, n_test, len(names) or None, str(data_path))
    source = SOURCES[dataset["source"]]
    if source.reads == "folder":
        return _scan_folder(dataset)
    if source.reads == "files":
        n_train, n_test, num_classes = features_only_counts(dataset)
        return PlannedData(n_train, n_test, num_classes, "the files of config dataset.features")
    n_train, n_test = dataset_samples(dataset)
    return PlannedData(n_train, n_test, source.classes, f"dataset source {source.name!r}")


def _scan_folder(dataset: dict) -> PlannedData:
    """Counts from the data stage's own scan of an image folder (no image is decoded)."""
    planned = prepare_configured(dataset)
    counts = np.bincount(planned.split, minlength=2)
    where = f"the images under dataset.root={dataset['root']!r}"
    return PlannedData(int(counts[0]), int(counts[1]), len(planned.class_names) or None, where)
