"""The user's files each job reads are its inputs (plan/inputs.py): every file or folder a
config names, for every source and kind (tests/workflow/test_changed_inputs.py: Snakemake
reruns what reads a changed one)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from tiny_workflow import TINY, class_folders, fake_idx_set, filled

from hume_workflow.errors import InputError
from hume_workflow.plan.backbone_kinds import KINDS, deciding_spec
from hume_workflow.plan.inputs import backbone_inputs, dataset_inputs


def dataset(**keys) -> dict:
    """A defaults-filled dataset config of TINY's with ``keys`` set."""
    return filled({**TINY, "dataset": {**TINY["dataset"], **keys}})["dataset"]


def test_a_features_only_dataset_reads_its_feature_and_labels_files(tmp_path):
    files = {}
    for name in ("x_train", "x_val", "y_train", "y_val"):
        files[name] = tmp_path / f"{name}.npy"
        np.save(files[name], np.zeros((4, 3)) if name[0] == "x" else np.arange(4))
    spec = dataset(
        source="features_only",
        features={"train": str(files["x_train"]), "test": str(files["x_val"])},
        labels={"train": str(files["y_train"]), "test": str(files["y_val"])},
    )
    assert dataset_inputs(spec) == [str(files[n]) for n in ("x_train", "x_val", "y_train", "y_val")]


def test_an_image_folder_lists_its_class_and_split_folders_never_its_images(tmp_path):
    class_folders(tmp_path / "train", ["cat", "dog"])
    class_folders(tmp_path / "test", ["cat", "dog"])
    found = dataset_inputs(dataset(source="image_folder", root=str(tmp_path)))
    expected = ["", "test", "train", "test/cat", "test/dog", "train/cat", "train/dog"]
    assert found == [str(tmp_path / name) if name else str(tmp_path) for name in expected]
    flat = tmp_path / "flat"
    flat.mkdir()
    (flat / "a.png").touch()
    assert dataset_inputs(dataset(source="image_folder", root=str(flat))) == [str(flat)]


def test_imagenet_lists_its_class_folders(tmp_path):
    for part in ("train", "val"):
        (tmp_path / part / "n01").mkdir(parents=True)
    found = dataset_inputs(dataset(source="imagenet", root=str(tmp_path), num_classes=2))
    assert sorted(found) == sorted(
        str(tmp_path / p) for p in ("", "train", "val", "train/n01", "val/n01")
    )


@pytest.mark.parametrize("gz", [False, True])
def test_local_root_reads_its_four_idx_files(tmp_path, gz):
    fake_idx_set(tmp_path / "raw", gz, np.random.default_rng(0))
    found = dataset_inputs(dataset(source="fashion_mnist", local_root=str(tmp_path / "raw")))
    assert len(found) == 4 and all(Path(f).is_file() for f in found)
    assert all(f.endswith(".gz") == gz for f in found)
    (Path(found[0])).unlink()
    with pytest.raises(InputError, match="file not found"):
        dataset_inputs(dataset(source="fashion_mnist", local_root=str(tmp_path / "raw")))


def test_the_benchmark_sets_read_no_file_of_the_users():
    assert dataset_inputs(dataset()) == []
    assert dataset_inputs(dataset(source="cifar10", num_classes=10)) == []


def test_each_kind_reads_the_files_its_spec_names(tmp_path):
    per_split = {"train": "a_train.npy", "test": "a_val.npy"}
    ids = {"train": "ids_train.txt", "test": "ids_val.txt"}
    cases = {
        "precomputed": (
            {"kind": "precomputed", "paths": per_split, "ids": ids},
            [*per_split.values(), *ids.values()],
        ),
        "precomputed, one file": ({"kind": "precomputed", "path": "a.npy"}, ["a.npy"]),
        "checkpoint": ({"kind": "checkpoint", "path": "m.pth", "arch": "resnet18"}, ["m.pth"]),
        "timm": ({"kind": "timm", "model": "resnet18", "weights": "w.pth"}, ["w.pth"]),
        "efficientnet_lite0": ({"kind": "efficientnet_lite0", "weights": "e.pth"}, ["e.pth"]),
        "torchvision (weights named, downloaded)": (
            {"kind": "torchvision", "model": "resnet18", "weights": "DEFAULT"},
            [],
        ),
        "pixels": ({"kind": "pixels"}, []),
    }
    for case, (spec, files) in cases.items():
        assert backbone_inputs("x", spec) == files, case


def test_the_params_of_an_embedding_are_the_keys_that_decide_it():
    spec = {"batch_size": 8, "num_workers": 4, "precision": "bf16", "pca_dim": 16}
    for name, kind in KINDS.items():
        kept = deciding_spec({"kind": name, **spec})
        assert "num_workers" not in kept and kept["pca_dim"] == 16
        network = kind.cost == "network"
        assert ("batch_size" in kept) == network and ("precision" in kept) == network
