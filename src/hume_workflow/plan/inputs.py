"""The user's files each job reads: inputs of its rule, so that a changed file reruns exactly
what depends on it (torch-free).

Snakemake reruns a job when an input is newer than its outputs (for inputs up to
``--max-checksum-file-size``, 1 MB by default, only when the bytes differ too). The files a
config names are therefore inputs of the jobs that read them, as data.h5 and the embedding
files are: a replaced features file reruns its embedding and what reads that embedding; a
folder source lists its folders (:func:`~hume_workflow.data.folders.listed_folders`), whose
times change when an image is added, removed or renamed.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from hume_workflow.data.feature_config import FeatureFiles, dataset_label_files
from hume_workflow.data.folders import listed_folders
from hume_workflow.data.idx import idx_files
from hume_workflow.data.sources import SOURCES
from hume_workflow.plan.backbone_kinds import kind_of


def dataset_inputs(dataset: Mapping) -> list[str]:
    """The user's files and folders the data stage reads for a (defaults-filled) ``dataset``
    config: a features_only dataset's feature and labels files, the listed folders of an
    image folder or ImageNet, the idx files of ``local_root``. None for the benchmark sets
    kept under ``root``: their files are fixed and md5-checked.
    """
    reads = SOURCES[dataset["source"]].reads
    if reads == "files":
        features = FeatureFiles.from_dataset(dataset)
        labels = dataset_label_files(dataset, features) or {}
        return _paths([*features.parts.values(), *labels.values()])
    if reads == "folder":
        return _paths(listed_folders(dataset["root"]))
    if dataset.get("local_root") is not None:
        return _paths(idx_files(dataset["local_root"]))
    return []


def backbone_inputs(name: str, spec: Mapping) -> list[str]:
    """The user's files the embedding job of backbone ``name`` reads: a precomputed space's
    feature and ids files, a checkpoint, a local weights file."""
    if not kind_of(spec).embeds_images:
        files = FeatureFiles.from_backbone(spec, name)
        ids = files.ids if isinstance(files.ids, Mapping) else {"all": files.ids}
        return _paths([*files.parts.values(), *(p for p in ids.values() if p is not None)])
    local = ("path", "weights") if kind_of(spec).local_weights else ("path",)
    return _paths(spec[key] for key in local if spec.get(key) is not None)


def _paths(files) -> list[str]:
    """Paths as strings, each once, in order."""
    return list(dict.fromkeys(str(Path(f)) for f in files))
