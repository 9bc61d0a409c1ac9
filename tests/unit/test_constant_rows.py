"""Constant feature rows (all zero: a failed extraction upstream) are named once at embedding
time, stored in the embedding file, and never exported as reliable (issue 27).

Without this, such samples fall into one cluster in every run: agreement 1.0 and
``reliable: true`` in labels.csv.
"""

from __future__ import annotations

import logging
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
from tiny_workflow import prepare_like_the_job

from hume_workflow.aggregate.export import export_labels
from hume_workflow.data.prepare import prepare_dataset
from hume_workflow.embed.pipeline import embed_dataset
from hume_workflow.embed.precomputed import embed_precomputed
from hume_workflow.errors import InputError
from hume_workflow.formats.dataset import read_sample_ids, write_dataset
from hume_workflow.formats.embeddings import CONSTANT_ROWS, read_constant_rows
from hume_workflow.formats.io import read_h5

N_TRAIN, N_TEST, D = 30, 10, 6
CONSTANT = [3, 7, N_TRAIN + 2]  # train:3 and train:7 all zero, test:2 all 5.0


def warnings_of(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]


@pytest.fixture
def spaces(tmp_path, monkeypatch) -> dict[str, Path]:
    """A features_only dataset of a_*.npy and the embedding files of two spaces: a (clean)
    and b (rows CONSTANT constant; PCA to 3 and L2, so no stored row of b is constant)."""
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(0)
    for space in ("a", "b"):
        np.save(f"{space}_train.npy", rng.normal(size=(N_TRAIN, D)))
        np.save(f"{space}_val.npy", rng.normal(size=(N_TEST, D)))
    b_train, b_val = np.load("b_train.npy"), np.load("b_val.npy")
    b_train[[3, 7]] = 0
    b_val[2] = 5.0
    np.save("b_train.npy", b_train)
    np.save("b_val.npy", b_val)
    paths = {space: {"train": f"{space}_train.npy", "test": f"{space}_val.npy"} for space in "ab"}
    cfg = {
        "dataset": {
            "name": "byo",
            "source": "features_only",
            "num_classes": 3,
            "features": paths["a"],
        },
        "backbones": {
            "a": {"kind": "precomputed", "paths": paths["a"]},
            "b": {"kind": "precomputed", "paths": paths["b"], "pca_dim": 3, "l2_normalize": True},
        },
        "pairs": [{"phi1": "a", "phi2": "b"}],
        "num_runs": 2,
    }
    data = prepare_like_the_job(cfg, Path("results/byo/data.h5"))
    out = {"data": data}
    for name in ("a", "b"):
        out[name] = data.parent / "embeddings" / f"{name}.h5"
        embed_precomputed(data, out[name], name, cfg["backbones"][name])
    return out


def test_precomputed_constant_rows_are_named_once_and_stored(spaces, caplog):
    path = spaces["b"].with_name("again.h5")
    spec = {"kind": "precomputed", "paths": {"train": "b_train.npy", "test": "b_val.npy"}}
    with caplog.at_level(logging.INFO):
        embed_precomputed(spaces["data"], path, "b", spec | {"pca_dim": 3, "l2_normalize": True})
    (warning,) = warnings_of(caplog)
    assert "\n" not in warning
    for part in ("backbones.b: 3 of 40 samples", "constant", "'train:3', 'train:7', 'test:2'"):
        assert part in warning, warning
    np.testing.assert_array_equal(read_constant_rows(path), CONSTANT)
    np.testing.assert_array_equal(read_constant_rows(spaces["b"]), CONSTANT)
    with h5py.File(path) as f:
        assert f[CONSTANT_ROWS].dtype == np.int64
        assert np.ptp(f["features"][()], axis=1).min() > 0  # none constant after PCA
    assert read_constant_rows(spaces["a"]).tolist() == []


def test_a_file_without_constant_rows_reads_as_none(spaces):
    """An embedding file written before it stored them."""
    with h5py.File(spaces["a"], "a") as f:
        del f[CONSTANT_ROWS]
    got = read_constant_rows(spaces["a"])
    assert got.dtype == np.int64 and got.shape == (0,)


def vote(path: Path, index: list[int], agreement: list[float]) -> Path:
    frame = pd.DataFrame({"sample_index": index, "label": 0, "agreement": agreement})
    frame.to_csv(path, index=False)
    return path


def test_constant_samples_are_never_exported_as_reliable(spaces, caplog):
    index = [0, 3, 7, 12, N_TRAIN + 2, N_TRAIN + 5]
    votes = vote(Path("vote.csv"), index, [1.0, 1.0, 0.5, 1.0, 1.0, 0.95])
    before = export_labels(votes, spaces["data"], 0.9)
    assert before.reliable.tolist() == [True, True, False, True, True, True]
    with caplog.at_level(logging.INFO):
        labels = export_labels(votes, spaces["data"], 0.9, [spaces["a"], spaces["b"]])
    assert labels.reliable.tolist() == [True, False, False, True, False, True]
    assert labels.agreement.tolist() == before.agreement.tolist()
    assert labels.sample_id.tolist()[1] == "train:3"
    (line,) = [r.getMessage() for r in caplog.records if "reliable" in r.getMessage()]
    assert "2 left unreliable for constant raw features" in line, line
    # a space in either place counts
    flipped = export_labels(votes, spaces["data"], 0.9, [spaces["b"], spaces["a"]])
    pd.testing.assert_frame_equal(flipped, labels)


def test_constant_rows_outside_the_dataset_are_refused(spaces):
    with h5py.File(spaces["a"], "a") as f:
        del f[CONSTANT_ROWS]
        f.create_dataset(CONSTANT_ROWS, data=np.array([2, 40], np.int64))
    with pytest.raises(InputError) as error:
        export_labels(vote(Path("vote.csv"), [0], [1.0]), spaces["data"], 0.9, [spaces["a"]])
    message = str(error.value)
    assert "\n" not in message
    assert f"{spaces['a']}: {CONSTANT_ROWS} 40" in message and "40 samples" in message, message


# ---- images -------------------------------------------------------------------------------


@pytest.mark.parametrize("pca_dim", [None, 4])
def test_blank_images_give_constant_pixel_rows(tmp_path, caplog, pca_dim):
    dataset = prepare_dataset("sklearn_digits", max_samples=40)
    dataset.images[[5, 17]] = 0
    dataset.images[21] = 9
    write_dataset(tmp_path / "digits.h5", dataset)
    ids = read_sample_ids(tmp_path / "digits.h5")
    spec = {"kind": "pixels", "batch_size": 16}  # rows 17 and 21 in the second batch
    if pca_dim is not None:
        spec["pca_dim"] = pca_dim
    with caplog.at_level(logging.INFO):
        embed_dataset(tmp_path / "digits.h5", tmp_path / "px.h5", "px", spec)
    (warning,) = warnings_of(caplog)
    assert "backbones.px: 3 of 40 samples" in warning, warning
    assert ", ".join(repr(ids[i]) for i in (5, 17, 21)) in warning, warning
    np.testing.assert_array_equal(read_constant_rows(tmp_path / "px.h5"), [5, 17, 21])
    assert read_h5(tmp_path / "px.h5", ["features"])[0]["features"].shape[0] == 40


def test_no_warning_without_constant_rows(tmp_path, caplog):
    write_dataset(tmp_path / "digits.h5", prepare_dataset("sklearn_digits", max_samples=40))
    with caplog.at_level(logging.INFO):
        embed_dataset(tmp_path / "digits.h5", tmp_path / "px.h5", "px", {"kind": "pixels"})
    assert warnings_of(caplog) == []
    assert read_constant_rows(tmp_path / "px.h5").tolist() == []
