"""Files: atomic writes, the dataset format, and the embedding files."""

import h5py
import numpy as np
import pytest

from hume_workflow.data.prepare import prepare_dataset
from hume_workflow.data.setting import setting_indices
from hume_workflow.embed.pipeline import embed_dataset
from hume_workflow.formats.dataset import TEST, TRAIN, read_dataset, write_dataset
from hume_workflow.formats.io import atomic_path, current_umask, read_h5, write_h5


def test_atomic_path_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out.h5"
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed")
    assert list(tmp_path.iterdir()) == []


def test_atomic_path_keeps_the_old_file_until_success(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("new")
        raise RuntimeError
    assert target.read_text() == "old"
    with atomic_path(target) as tmp:
        tmp.write_text("new")
    assert target.read_text() == "new"


def test_atomic_path_gives_files_the_usual_permissions(tmp_path):
    with atomic_path(tmp_path / "out.txt") as tmp:
        tmp.write_text("x")
    mode = (tmp_path / "out.txt").stat().st_mode & 0o777
    assert mode == 0o666 & ~current_umask()


def test_h5_round_trip_with_groups_and_json_attrs(tmp_path):
    path = tmp_path / "x.h5"
    write_h5(path, {"a": np.arange(3), "trace/loss": np.ones(2)}, {"n": 3, "cfg": {"k": [1, 2]}})
    arrays, attrs = read_h5(path)
    np.testing.assert_array_equal(arrays["a"], np.arange(3))
    np.testing.assert_array_equal(arrays["trace"]["loss"], np.ones(2))
    assert attrs == {"n": 3, "cfg": {"k": [1, 2]}}


def test_digits_dataset_round_trip(tmp_path):
    ds = prepare_dataset("sklearn_digits", test_fraction=0.25, split_seed=3, max_samples=200)
    assert ds.images.shape == (200, 8, 8, 1) and ds.images.dtype == np.uint8
    assert ds.images.max() > 200  # 0..16 scaled to 0..255
    assert (ds.split == TEST).sum() == pytest.approx(50, abs=12)
    write_dataset(tmp_path / "d.h5", ds)
    back = read_dataset(tmp_path / "d.h5")
    np.testing.assert_array_equal(back.images, ds.images)
    np.testing.assert_array_equal(back.labels, ds.labels)
    assert back.class_names == [str(d) for d in range(10)]


def test_setting_indices():
    split = np.array([TRAIN, TEST, TRAIN, TEST])
    fit, evaluate = setting_indices(split, "inductive")
    assert fit.tolist() == [0, 2] and evaluate.tolist() == [1, 3]
    fit, evaluate = setting_indices(split, "transductive")
    assert fit.tolist() == evaluate.tolist() == [0, 1, 2, 3]
    with pytest.raises(ValueError, match="setting='semi'"):
        setting_indices(split, "semi")


def test_embedding_file_has_features_labels_and_provenance(tmp_path):
    ds = prepare_dataset("sklearn_digits", max_samples=120)
    write_dataset(tmp_path / "d.h5", ds)
    out = tmp_path / "pixels.h5"
    embed_dataset(tmp_path / "d.h5", out, "pixels", {"kind": "pixels", "pca_dim": 10})
    with h5py.File(out) as f:
        assert f["features"].shape == (120, 10) and f["features"].dtype == np.float32
        np.testing.assert_array_equal(f["labels"][()], ds.labels)
    _, attrs = read_h5(out, [])
    assert attrs["backbone"] == "pixels" and attrs["dataset"] == "digits"
    assert attrs["postprocessing"]["pca_dim"] == 10
    assert "torch" in attrs["versions"] and attrs["preprocessing"]["scaling"] == "x / 255"
