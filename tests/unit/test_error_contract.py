"""The error contract: bad user input stops a job with one line naming the key or file.

Each case builds the bad input (small files under tmp_path), expects
:class:`~hume_workflow.errors.InputError` whose message is one line naming the key or file,
what was expected and the fix; some cases also run the job's log path (hume_workflow.logs) in
a fresh Python and check that the log ends in that one line, with no traceback
(tests/workflow/test_bad_inputs.py runs a job's script so).
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import textwrap
from pathlib import Path

import h5py
import numpy as np
import pytest
from tiny_workflow import TINY, changed, class_folders, one_line, preflight

from hume_workflow.errors import InputError


def _run_logged(tmp_path: Path, body: str) -> list[str]:
    """Run ``body`` after ``log_to_file(log)`` in a fresh Python; the log's lines."""
    log = tmp_path / "job.log"
    code = "from hume_workflow.logs import log_to_file\n"
    code += f"log_to_file({str(log)!r})\n" + textwrap.dedent(body)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode != 0, proc.stdout
    return log.read_text().splitlines()


# --- 1. an archive or dataset file failing its md5 check --------------------------------------


def test_archive_with_a_wrong_md5_names_it_both_md5s_and_the_fix(tmp_path):
    from hume_workflow.data.prepare import prepare_dataset

    archive = tmp_path / "cifar-10-python.tar.gz"
    archive.write_bytes(b"not the official archive")
    with pytest.raises(InputError) as error:
        prepare_dataset("cifar10", root=tmp_path)
    message = one_line(error)
    got = hashlib.md5(archive.read_bytes()).hexdigest()
    assert message.startswith(f"{archive}: md5 differs from the official ")
    assert f"got {got}" in message and "c58f30108f718f92721af3b95e74349a" in message
    assert "delete the file" in message and "dataset.download: true" in message


def test_missing_dataset_file_names_it_and_the_download_key(tmp_path):
    from hume_workflow.data.archives import verify_files

    with pytest.raises(InputError) as error:
        verify_files(tmp_path, [("data_batch_1", "0" * 32)])
    message = one_line(error)
    assert message.startswith(f"{tmp_path / 'data_batch_1'}: file not found")
    assert "set dataset.download: true" in message


def test_md5_failure_ends_the_job_log_in_one_line(tmp_path):
    archive = tmp_path / "cifar-10-python.tar.gz"
    archive.write_bytes(b"not the official archive")
    lines = _run_logged(
        tmp_path,
        f"""
        from pathlib import Path
        from hume_workflow.data.archives import verify_files
        verify_files(Path({str(tmp_path)!r}), [("cifar-10-python.tar.gz", "0" * 32)])
        """,
    )
    assert lines[-1].startswith(f"InputError: {archive}: md5 differs"), lines
    assert not any("Traceback" in line for line in lines)


# --- 2. non-finite features -------------------------------------------------------------------


def test_nonfinite_features_name_the_backbone_count_and_fix(tmp_path):
    from hume_workflow.embed.writer import write_feature_batches

    feats = np.ones((4, 3), np.float32)
    feats[1, 2], feats[3, 0] = np.nan, np.inf
    with h5py.File(tmp_path / "f.h5", "w") as f, pytest.raises(InputError) as error:
        write_feature_batches(f, [(0, feats)], 4, what="vit features", key="backbones.vit")
    message = one_line(error)
    assert message.startswith("vit features of images 0..3: 2 non-finite values")
    assert "backbones.vit.precision: fp32" in message


@pytest.mark.filterwarnings("ignore:overflow encountered in cast:RuntimeWarning")
def test_float16_overflow_names_the_float16_key(tmp_path):
    from hume_workflow.embed.writer import write_feature_batches

    feats = np.full((2, 3), 1e6, np.float32)
    with h5py.File(tmp_path / "f.h5", "w") as f, pytest.raises(InputError) as error:
        write_feature_batches(
            f, [(0, feats)], 2, dtype=np.float16, what="vit features", key="backbones.vit"
        )
    message = one_line(error)
    assert "cast to float16: 6 non-finite values" in message
    assert "backbones.vit.float16: false" in message


def test_embedding_a_dataset_into_nan_names_the_backbone(tmp_path, monkeypatch):
    import torch

    from hume_workflow.data.prepare import prepare_dataset
    from hume_workflow.embed.pipeline import embed_dataset
    from hume_workflow.formats.dataset import write_dataset
    from hume_workflow.models.pixels import PixelBackbone

    data = tmp_path / "data.h5"
    write_dataset(data, prepare_dataset("sklearn_digits", max_samples=20))
    monkeypatch.setattr(
        PixelBackbone, "forward_features", lambda self, x: torch.full((len(x), 2), torch.nan)
    )
    with pytest.raises(InputError) as error:
        embed_dataset(data, tmp_path / "pix.h5", "pix", {"kind": "pixels"})
    message = one_line(error)
    assert message.startswith("pix features of images 0..") and "40 non-finite" in message
    assert "backbones.pix.precision: fp32" in message
    assert not (tmp_path / "pix.h5").exists()


def test_stored_nonfinite_features_name_the_file_and_the_fix(tmp_path):
    from hume_workflow.formats.embeddings import read_features
    from hume_workflow.formats.io import write_h5

    path = tmp_path / "vit.h5"
    write_h5(path, {"features": np.array([[1.0, np.nan]], np.float32)}, {})
    with pytest.raises(InputError) as error:
        read_features(path)
    message = one_line(error)
    assert message.startswith(f"{path}: features hold 1 non-finite values")
    assert "re-run extract_embeddings" in message and "precision: fp32" in message


# --- 3. unknown model names, kinds and options ------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "options", "expected", "hint"),
    [
        ("timm", {"model": "resnet181"}, "b.model: unknown timm model", "resnet18"),
        (
            "torchvision",
            {"model": "resnet_18"},
            "b.model: unknown torchvision classification model",
            "resnet18",
        ),
        (
            "checkpoint",
            {"path": "x.pth", "arch": "resnet_50"},
            "b.arch: unknown torchvision classification model",
            "resnet50",
        ),
        ("pixel", {}, "b.kind='pixel': unknown backbone", "'pixels'"),
        ("timm", {"modle": "resnet18"}, "b: kind 'timm' takes no option 'modle'", "'model'"),
        ("timm", {}, "b: kind 'timm' needs the key 'model'", None),
    ],
)
def test_unknown_model_kind_or_option_names_the_config_key(kind, options, expected, hint):
    from hume_workflow.models.registry import build_backbone

    with pytest.raises(InputError) as error:
        build_backbone(kind, config_key="backbones.b", **options)
    message = one_line(error)
    assert message.startswith(f"config backbones.{expected}"), message
    if hint is not None:
        assert f"did you mean {hint}" in message, message


def test_refused_backbone_options_name_the_config_key(tmp_path):
    from hume_workflow.models.registry import build_backbone

    missing = tmp_path / "nope.pth"
    with pytest.raises(InputError) as error:
        build_backbone("checkpoint", config_key="backbones.moco", path=missing, arch="resnet18")
    message = one_line(error)
    assert message.startswith("config backbones.moco (kind 'checkpoint'): ")
    assert f"{missing}: checkpoint file not found" in message


# --- 4. dataset.num_classes against the class folders -----------------------------------------


def test_num_classes_against_class_folders_names_both(tmp_path, monkeypatch):
    """Refused at plan time (the data stage holds no K, so that a new K rewrites nothing)."""
    root = tmp_path / "pets"
    class_folders(root, ["cat", "dog", "fox"], per_class=4)
    monkeypatch.chdir(tmp_path)
    config = changed(TINY, "dataset", {"name": "pets", "source": "image_folder", "num_classes": 10})
    config["dataset"]["root"] = str(root)
    with pytest.raises(InputError) as error:
        preflight(config)
    message = one_line(error)
    assert message.startswith("config dataset.num_classes=10 but the images under dataset.root")
    assert "has 3 classes" in message and "set dataset.num_classes: 3" in message


# --- 5. fewer samples than K on a first run ---------------------------------------------------


def test_kmeans_baseline_with_fewer_samples_than_k_names_num_classes():
    from hume_workflow.aggregate.baselines import kmeans_baseline

    rng = np.random.default_rng(0)
    features, labels = rng.normal(size=(6, 4)), np.arange(6) % 2
    split = np.array([0, 0, 0, 1, 1, 1], np.uint8)
    with pytest.raises(InputError) as error:
        kmeans_baseline(features, labels, split, "inductive", k=5)
    message = one_line(error)
    assert message.startswith("config dataset.num_classes=5: expected at most the 3 samples")


def test_hume_job_with_fewer_samples_than_k_names_num_classes():
    from hume_workflow.hume.config import HumeConfig
    from hume_workflow.hume.runs import execute_runs

    rng = np.random.default_rng(0)
    phi1, phi2 = rng.normal(size=(6, 8)), rng.normal(size=(6, 4))
    split = np.array([0, 0, 0, 1, 1, 1], np.uint8)
    config = HumeConfig(num_classes=5, num_iters=2, adaptation_steps=2, num_subsets=1)
    with pytest.raises(InputError) as error:
        execute_runs(phi1, phi2, split, "inductive", config, [0], progress=False)
    message = one_line(error)
    assert message.startswith("config dataset.num_classes=5: expected at most the 3 samples")


# --- 6. a subset too small to split, and other hume.* values ----------------------------------


def test_subset_too_small_to_split_names_the_hume_keys():
    from hume_workflow.hume.config import HumeConfig
    from hume_workflow.hume.training import run_hume

    rng = np.random.default_rng(0)
    phi1, phi2 = rng.normal(size=(20, 4)), rng.normal(size=(20, 3))
    config = HumeConfig(num_classes=2, subset_size=1, num_iters=1, adaptation_steps=1)
    with pytest.raises(InputError) as error:
        run_hume(phi1, phi2, config, seed=0, progress=False)
    message = one_line(error)
    assert "hume.subset_size" in message and "hume.train_fraction" in message
    assert "subset of 1 samples leaves no train or no held-out part" in message


@pytest.mark.parametrize(
    ("bad", "key"),
    [
        ({"train_fraction": 1.0}, "config hume.train_fraction=1.0"),
        ({"subset_size": 0}, "config hume.subset_size=0"),
        ({"tau": 0}, "config hume.tau=0"),
        ({"hypergradient": "exact"}, "config hume.hypergradient='exact'"),
        ({"num_classes": 1}, "config dataset.num_classes=1"),
    ],
)
def test_bad_hume_values_name_the_config_key(bad, key):
    from hume_workflow.hume.config import HumeConfig

    with pytest.raises(InputError) as error:
        HumeConfig(**{"num_classes": 3, **bad})
    assert one_line(error).startswith(key)


# --- other files and values the user gives ----------------------------------------------------


def _bad_idx(tmp_path: Path):
    from hume_workflow.data.idx import read_idx

    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(b"PK\x03\x04garbage")
    return lambda: read_idx(path), str(path)


def _truncated_idx(tmp_path: Path):
    from hume_workflow.data.idx import read_idx

    path = tmp_path / "train-labels-idx1-ubyte"
    path.write_bytes(b"\0\0\x08\x01\0\0\0\x05\x01\x02")  # 5 labels announced, 2 given
    return lambda: read_idx(path), str(path)


def _cifar_batch(tmp_path: Path):
    from hume_workflow.data.torchvision_sets import _read_cifar_pickle

    path = tmp_path / "data_batch_1"
    path.write_bytes(b"\x80\x04truncated")
    return lambda: _read_cifar_pickle(path), str(path)


def _stl10_images(tmp_path: Path):
    from hume_workflow.data.torchvision_sets import _read_stl10_images

    path = tmp_path / "train_X.bin"
    path.write_bytes(bytes(100))
    return lambda: _read_stl10_images(path), str(path)


def _checkpoint(tmp_path: Path):
    from hume_workflow.models.checkpoints import read_state_dict

    path = tmp_path / "nope.pth"
    return lambda: read_state_dict(path), str(path)


def _source(tmp_path: Path):
    from hume_workflow.data.prepare import prepare_dataset

    return lambda: prepare_dataset("cifar11", root=tmp_path), "dataset.source"


def _test_fraction(tmp_path: Path):
    from hume_workflow.data.subsets import random_split

    return lambda: random_split(10, 1.5, 0), "config dataset.test_fraction=1.5"


def _setting(tmp_path: Path):
    from hume_workflow.data.setting import setting_indices

    return lambda: setting_indices(np.zeros(3, np.uint8), "semi"), "config setting='semi'"


def _top_n(tmp_path: Path):
    from hume_workflow.aggregate.ranking import select_top

    return lambda: select_top({0: 1.0}, 0), "config aggregation.top_n=0"


@pytest.mark.parametrize(
    "case",
    [
        _bad_idx,
        _truncated_idx,
        _cifar_batch,
        _stl10_images,
        _checkpoint,
        _source,
        _test_fraction,
        _setting,
        _top_n,
    ],
)
def test_other_bad_files_and_values_are_one_line_input_errors(tmp_path, case):
    call, named = case(tmp_path)
    with pytest.raises(InputError) as error:
        call()
    assert named in one_line(error)


def test_job_logs_of_input_errors_have_no_traceback_even_under_retries(tmp_path):
    """A retried job appends to its log: each attempt adds one line, no traceback."""
    body = """
        from hume_workflow.hume.inner_forms import train_size
        train_size(1, 0.9)
        """
    _run_logged(tmp_path, body)
    lines = _run_logged(tmp_path, body)
    errors = [line for line in lines if line.startswith("InputError:")]
    assert len(errors) == 2 and "hume.subset_size" in errors[-1], lines
    assert not any("Traceback" in line for line in lines)
