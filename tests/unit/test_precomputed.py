"""Precomputed features as a backbone, and a dataset without images (features_only).

Each file format read back as written (.npy, .npz, .h5, .safetensors); rows matched to the
dataset by place or by an ids file; and every mismatch refused in one line naming the file:
by the plan-time checks where the headers tell (called as workflow/rules/common.smk calls
them), else by the embedding job (embed_precomputed).
"""

from __future__ import annotations

import pickle
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
from tiny_workflow import changed, one_line, preflight, prepare_like_the_job

from hume_workflow.embed.precomputed import embed_precomputed
from hume_workflow.errors import InputError
from hume_workflow.formats.dataset import read_dataset
from hume_workflow.formats.embeddings import read_features, read_spaces
from hume_workflow.formats.io import read_h5, write_h5
from hume_workflow.plan.dataset import dataset_identity
from hume_workflow.plan.resources import dataset_samples, embed_request
from hume_workflow.report.panels import read_thumbnails

N_TRAIN, N_TEST, D = 30, 10, 6


def save(path: Path, array: np.ndarray, key: str = "features") -> Path:
    """``array`` in the format of ``path``'s suffix, under ``key`` where a file holds several."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".npy":
        np.save(path, array)
    elif path.suffix == ".npz":
        np.savez(path, **{key: array, "other": np.zeros(2)})
    elif path.suffix == ".safetensors":
        from safetensors.numpy import save_file

        save_file({key: np.ascontiguousarray(array), "other": np.zeros(2)}, str(path))
    else:
        with h5py.File(path, "w") as f:
            f.create_dataset(key, data=array)
            f.create_dataset("other", data=np.zeros(2))
    return path


def make_space(rng: np.random.Generator, dim: int = D) -> dict[str, np.ndarray]:
    return {part: rng.normal(size=(n, dim)) for part, n in (("train", N_TRAIN), ("test", N_TEST))}


@pytest.fixture
def folder(tmp_path, monkeypatch):
    """A working directory holding two spaces and labels in the reference per-split layout
    (``<space>_train.npy``, ``<space>_val.npy``); the config of a features_only dataset of
    them is :func:`config`."""
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(0)
    for space in ("a", "b"):
        values = make_space(rng)
        save(tmp_path / f"{space}_train.npy", values["train"].astype(np.float32))
        save(tmp_path / f"{space}_val.npy", values["test"])
    labels = rng.integers(0, 3, N_TRAIN + N_TEST)
    save(tmp_path / "labels_train.npy", labels[:N_TRAIN])
    save(tmp_path / "labels_val.npy", labels[N_TRAIN:])
    return tmp_path


def split_files(space: str) -> dict[str, str]:
    return {"train": f"{space}_train.npy", "test": f"{space}_val.npy"}


def config(**backbones: dict) -> dict:
    """A features_only dataset (rows of a_*.npy) with labels; spaces a and b by place,
    and ``backbones`` (replacing them by name)."""
    spaces = {
        "a": {"kind": "precomputed", "paths": split_files("a")},
        "b": {"kind": "precomputed", "paths": split_files("b")},
    }
    return {
        "dataset": {
            "name": "byo",
            "source": "features_only",
            "num_classes": 3,
            "features": split_files("a"),
            "labels": split_files("labels"),
        },
        "backbones": spaces | backbones,
        "pairs": [{"phi1": "a", "phi2": "b"}],
        "num_runs": 2,
    }


def prepared(cfg: dict) -> Path:
    """data.h5 of ``cfg``'s dataset, as the prepare_dataset job writes it."""
    return prepare_like_the_job(cfg, Path("results") / cfg["dataset"]["name"] / "data.h5")


def embed(cfg: dict, name: str) -> Path:
    """The embedding file of backbone ``name``, as the extract_embeddings job writes it."""
    out = Path("results") / cfg["dataset"]["name"] / "embeddings" / f"{name}.h5"
    embed_precomputed(out.parents[1] / "data.h5", out, name, cfg["backbones"][name])
    return out


# ---- round trips ------------------------------------------------------------------------------


def test_a_features_only_dataset_has_no_images_and_ids_by_place(folder):
    cfg = config()
    assert preflight(cfg) == [
        f"config hume.subset_size=10000 is more than the {N_TRAIN} samples HUME fits on: each "
        f"subset holds all {N_TRAIN}"
    ]
    data = read_dataset(prepared(cfg))
    with h5py.File("results/byo/data.h5") as f:
        assert "images" not in f
    assert data.sample_ids[:2] == ["train:0", "train:1"] and data.sample_ids[-1] == "test:9"
    assert data.split.tolist() == [0] * N_TRAIN + [1] * N_TEST
    truth = np.concatenate([np.load("labels_train.npy"), np.load("labels_val.npy")])
    np.testing.assert_array_equal(data.labels, truth)
    assert data.class_names == ["0", "1", "2"]
    assert dataset_samples(cfg["dataset"]) == (N_TRAIN, N_TEST)  # from the headers alone
    votes = pd.DataFrame({"sample_index": [0, 1], "label": [0, 1], "agreement": [1.0, 1.0]})
    assert read_thumbnails("results/byo/data.h5", [votes]) == {}  # the report shows none


@pytest.mark.parametrize("suffix", [".npy", ".npz", ".h5", ".safetensors"])
def test_each_format_reads_back_as_written(folder, suffix):
    values = make_space(np.random.default_rng(1), dim=5)
    paths = {part: str(save(folder / f"c_{part}{suffix}", v, "emb")) for part, v in values.items()}
    spec = {"kind": "precomputed", "paths": paths}
    if suffix != ".npy":
        spec["key"] = "emb"
    cfg = config(c=spec)
    preflight(cfg)
    prepared(cfg)
    got = read_features(embed(cfg, "c"), N_TRAIN + N_TEST)
    written = np.concatenate([values["train"], values["test"]])  # float64, stored as float32
    np.testing.assert_array_equal(got, written.astype(np.float32))


def test_one_file_of_every_row_with_pca_and_l2(folder):
    values = np.random.default_rng(2).normal(size=(N_TRAIN + N_TEST, 8)).astype(np.float32)
    path = save(folder / "all.h5", values, "group/features")
    spec = {"kind": "precomputed", "path": str(path), "key": "group/features"}
    cfg = changed(
        config(c=spec | {"pca_dim": 4, "l2_normalize": True}), "dataset.features", str(path)
    )
    cfg["dataset"].update(labels="labels_all.npy", features_key="group/features")
    save(folder / "labels_all.npy", np.arange(N_TRAIN + N_TEST) % 3)
    cfg["backbones"] = {"c": cfg["backbones"]["c"], "d": spec}
    cfg["pairs"] = [{"phi1": "c", "phi2": "d"}]
    preflight(cfg)
    data = read_dataset(prepared(cfg))
    assert data.sample_ids[0] == "all:0" and (data.split == 1).sum() == 8  # test_fraction 0.2
    c, d = read_spaces("results/byo/data.h5", [embed(cfg, "c"), embed(cfg, "d")])
    np.testing.assert_array_equal(d, values)
    assert c.shape == (N_TRAIN + N_TEST, 4)
    np.testing.assert_allclose(np.linalg.norm(c, axis=1), 1, rtol=1e-5)
    with h5py.File("results/byo/embeddings/c.h5") as f:
        assert f["pca_components"].shape == (4, 8)


def test_a_subset_of_the_rows_is_matched_by_place(folder):
    cfg = changed(config(), "dataset.max_samples", 20)
    preflight(cfg)
    data = read_dataset(prepared(cfg))
    features = read_features(embed(cfg, "b"), 20)
    rows = {"train": np.load("b_train.npy"), "test": np.load("b_val.npy")}
    for sample_id, row in zip(data.sample_ids, features, strict=True):
        part, index = sample_id.split(":")
        np.testing.assert_allclose(row, rows[part][int(index)], rtol=1e-6)


def digits_config(spec: dict) -> dict:
    """50 of scikit-learn's digits (an image source) and a precomputed space ``spec``."""
    return {
        "dataset": {
            "name": "dig",
            "source": "sklearn_digits",
            "num_classes": 10,
            "max_samples": 50,
        },
        "backbones": {"pixels": {"kind": "pixels"}, "mine": spec},
        "pairs": [{"phi1": "pixels", "phi2": "mine"}],
        "num_runs": 2,
    }


@pytest.mark.parametrize("ids_suffix", [".txt", ".csv"])
def test_rows_of_an_image_dataset_are_matched_by_their_ids(folder, ids_suffix):
    """Features of all 1,797 digits, shuffled, with their ids; the dataset keeps 50."""
    from sklearn.datasets import load_digits

    pixels = load_digits().data
    order = np.random.default_rng(3).permutation(len(pixels))
    save(folder / "mine.npy", pixels[order])
    ids = [f"sklearn_digits:{i}" for i in order]
    header = "sample_id\n" if ids_suffix == ".csv" else ""
    (folder / f"ids{ids_suffix}").write_text(header + "\n".join(ids) + "\n")
    cfg = digits_config({"kind": "precomputed", "path": "mine.npy", "ids": f"ids{ids_suffix}"})
    preflight(cfg)
    data = read_dataset(prepared(cfg))
    got = read_features(embed(cfg, "mine"), 50)
    index = [int(sample_id.split(":")[1]) for sample_id in data.sample_ids]
    np.testing.assert_array_equal(got, pixels[index])


# ---- refused at plan time, in one line ---------------------------------------------------------


def with_file(path: Path, content: bytes | str, spec: dict) -> dict:
    """``spec``, once ``path`` holds ``content``."""
    if isinstance(content, str):
        path.write_text(content)
    else:
        path.write_bytes(content)
    return spec


def with_ids(ids: str | dict) -> dict:
    """The spec of space b with ``ids``."""
    return {"kind": "precomputed", "paths": split_files("b"), "ids": ids}


def bad_file(folder: Path, name: str, array: np.ndarray | None = None, key: str = "features"):
    """``name`` under ``folder`` holding ``array``; the spec of a precomputed space of it with
    the good test split of space b."""
    if array is not None:
        save(folder / name, array, key)
    return {"kind": "precomputed", "paths": {"train": name, "test": "b_val.npy"}}


PLAN_CASES = {
    "1-D array": (lambda f: bad_file(f, "x.npy", np.zeros(N_TRAIN)), ["x.npy", "1-D", "2-D"]),
    "3-D array": (lambda f: bad_file(f, "x.npy", np.zeros((N_TRAIN, 2, 3))), ["x.npy", "3-D"]),
    "strings": (
        lambda f: bad_file(f, "x.npy", np.array([["a"] * D] * N_TRAIN)),
        ["x.npy", "<U1", "float or integer"],
    ),
    "booleans": (lambda f: bad_file(f, "x.npy", np.ones((N_TRAIN, D), bool)), ["x.npy", "bool"]),
    "an object array": (
        lambda f: bad_file(f, "x.npy", np.array([[1, None]] * N_TRAIN, dtype=object)),
        ["x.npy", "object array, stored as a pickle", "allow_pickle=False"],
    ),
    "an object array in a .npz": (
        lambda f: bad_file(f, "x.npz", np.array([[1, None]] * N_TRAIN, dtype=object)),
        ["x.npz[features]", "object array"],
    ),
    "a missing .npz key": (
        lambda f: bad_file(f, "x.npz", np.zeros((N_TRAIN, D)), "emb"),
        ["x.npz", "no array 'features'", "'emb'", "backbones.c.key"],
    ),
    "a missing .h5 key": (
        lambda f: bad_file(f, "x.h5", np.zeros((N_TRAIN, D)), "emb"),
        ["x.h5", "no dataset 'features'", "'emb'"],
    ),
    "a missing .safetensors key": (
        lambda f: bad_file(f, "x.safetensors", np.zeros((N_TRAIN, D)), "emb"),
        ["x.safetensors", "no tensor 'features'", "'emb'"],
    ),
    "bfloat16": (
        lambda f: with_file(f / "x.safetensors", _bf16_safetensors(), bad_file(f, "x.safetensors")),
        ["x.safetensors[features]", "BF16"],
    ),
    "a missing file": (
        lambda f: bad_file(f, "nowhere.npy"),
        ["paths.train='nowhere.npy'", "no such"],
    ),
    "an unknown suffix": (
        lambda f: with_file(f / "x.pt", b"0", bad_file(f, "x.pt")),
        ["x.pt", "unknown file type '.pt'"],
    ),
    "a file not .npz": (
        lambda f: with_file(f / "x.npz", b"not a zip", bad_file(f, "x.npz")),
        ["x.npz", "not a .npz file"],
    ),
    "a file not .h5": (
        lambda f: with_file(f / "x.h5", b"not hdf5", bad_file(f, "x.h5")),
        ["x.h5", "not a readable HDF5"],
    ),
    "another width in the test split": (
        lambda f: bad_file(f, "x.npy", np.zeros((N_TRAIN, D + 1))),
        ["b_val.npy: 6 columns but x.npy has 7", "same features"],
    ),
    "N unlike the dataset's": (
        lambda f: bad_file(f, "x.npy", np.zeros((N_TRAIN - 1, D))),
        ["x.npy: 29 rows but a_train.npy", "holds 30", "train samples"],
    ),
    "both path and paths": (
        lambda f: bad_file(f, "x.npy", np.zeros((N_TRAIN, D))) | {"path": "b_val.npy"},
        ["backbones.c", "both of 'path' and 'paths'"],
    ),
    "one file against per-split files": (
        lambda f: {"kind": "precomputed", "path": "a_train.npy"},
        ["backbones.c: one file but dataset.features gives one per split"],
    ),
    "an option of a model": (
        lambda f: {"kind": "precomputed", "paths": split_files("b"), "model": "resnet50"},
        ["backbones.c: kind 'precomputed' takes no option 'model'"],
    ),
    "pca_dim above the width": (
        lambda f: {"kind": "precomputed", "paths": split_files("b"), "pca_dim": D + 1},
        ["backbones.c.pca_dim=7", f"the {D} columns of its features"],
    ),
    "ids of another count": (
        lambda f: with_file(f / "ids.txt", "train:0\n", with_ids("ids.txt")),
        ["ids.txt: 1 ids but b_train.npy + b_val.npy holds 40 rows", "one id per row"],
    ),
    "an id twice": (
        lambda f: with_file(f / "ids.txt", "x\n" * (N_TRAIN + N_TEST), with_ids("ids.txt")),
        ["ids.txt: id 'x' on rows 1 and 2", "each sample once"],
    ),
    "an empty id": (
        lambda f: with_file(f / "ids.txt", "a\n\nb\n", with_ids("ids.txt")),
        ["ids.txt: line 2 is empty"],
    ),
    "a missing ids file": (
        lambda f: with_ids("ids.txt"),
        ["backbones.c.ids='ids.txt': no such file"],
    ),
}


@pytest.mark.parametrize("case", sorted(PLAN_CASES))
def test_a_bad_precomputed_space_is_refused_at_plan_time(folder, case):
    make, parts = PLAN_CASES[case]
    cfg = config(c=make(folder))
    with pytest.raises(InputError) as error:
        preflight(cfg)
    one_line(error, *parts)


def _bf16_safetensors() -> bytes:
    """A safetensors file of one bfloat16 (30, 6) tensor 'features' (numpy has no bfloat16)."""
    import json
    import struct

    header = {
        "features": {"dtype": "BF16", "shape": [N_TRAIN, D], "data_offsets": [0, N_TRAIN * D * 2]}
    }
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + bytes(N_TRAIN * D * 2)


DATASET_CASES = {
    "no features": (lambda c: c["dataset"].pop("features"), ["config dataset", "'features'"]),
    "a 'val' key": (
        lambda c: c["dataset"].update(features={"train": "a_train.npy", "val": "a_val.npy"}),
        ["config dataset.features.val: unknown key", "expected one of: test, train"],
    ),
    "labels of another count": (
        lambda c: save(Path("labels_val.npy"), np.zeros(3, int)),
        ["labels_val.npy: 3 labels but the test features hold 10 rows"],
    ),
    "float labels": (
        lambda c: save(Path("labels_val.npy"), np.zeros(N_TEST)),
        ["labels_val.npy: labels are float64", "expected integers"],
    ),
    "labels below -1": (
        lambda c: save(Path("labels_val.npy"), np.full(N_TEST, -2)),
        ["labels_val.npy: label -2", "-1 where unknown"],
    ),
    "labels in another layout": (
        lambda c: c["dataset"].update(labels="labels_train.npy"),
        ["config dataset.labels: one file but dataset.features gives one per split"],
    ),
    "K unlike the labels'": (
        lambda c: c["dataset"].update(num_classes=4),
        ["config dataset.num_classes=4", "has 3 classes"],
    ),
    "a backbone of images": (
        lambda c: c["backbones"].update(c={"kind": "pixels"}),
        ["config backbones.c.kind='pixels'", "no images", "kind: precomputed"],
    ),
    "dataset.features on an image source": (
        lambda c: c["dataset"].update(source="sklearn_digits"),
        ["config dataset.features: only for source 'features_only'"],
    ),
}


@pytest.mark.parametrize("case", sorted(DATASET_CASES))
def test_a_bad_features_only_dataset_is_refused_at_plan_time(folder, case):
    make, parts = DATASET_CASES[case]
    cfg = config()
    make(cfg)
    with pytest.raises(InputError) as error:
        preflight(cfg)
    one_line(error, *parts)


def test_a_precomputed_space_of_images_needs_ids(folder):
    save(folder / "mine.npy", np.zeros((1797, 4)))
    with pytest.raises(InputError) as error:
        preflight(digits_config({"kind": "precomputed", "path": "mine.npy"}))
    one_line(error, "backbones.mine: the order of its rows is unknown", "ids", "sklearn_digits")
    with pytest.raises(InputError) as error:
        preflight(digits_config({"kind": "pixels", "ids": "ids.txt"}))
    one_line(error, "backbones.mine: kind 'pixels' takes no option 'ids'")


# ---- refused by the job, in one line -----------------------------------------------------------


def test_nan_and_inf_rows_are_refused_by_the_job(folder):
    cfg = config()
    prepared(cfg)
    values = np.load("b_val.npy")
    values[[3, 7], 1] = [np.nan, np.inf]
    np.save("b_val.npy", values)
    with pytest.raises(InputError) as error:
        embed(cfg, "b")
    one_line(error, "b_val.npy: 2 rows hold NaN or Inf (first: row 3)", "finite")
    values[[3, 7], 1] = 1e300  # finite in float64, not in float32
    np.save("b_val.npy", values)
    with pytest.raises(InputError) as error:
        embed(cfg, "b")
    one_line(error, "b_val.npy cast to float32: 2 rows hold NaN or Inf")
    assert not Path("results/byo/embeddings/b.h5").exists()


def test_rows_unlike_the_datasets_are_refused_by_the_job(folder):
    """The file changed after data.h5 was made: one row fewer in the test split."""
    cfg = config()
    prepared(cfg)
    np.save("b_val.npy", np.load("b_val.npy")[:-1])
    with pytest.raises(InputError) as error:
        embed(cfg, "b")
    one_line(error, "b_val.npy: 9 rows but", "data.h5 has 10 test samples", "dataset's order")


def test_ids_that_miss_a_sample_or_its_split_are_refused_by_the_job(folder):
    ids = [f"sklearn_digits:{i}" for i in range(1797)]
    save(folder / "mine.npy", np.zeros((1796, 4)))
    (folder / "ids.txt").write_text("\n".join(ids[:-1]) + "\n")  # the last sample left out
    cfg = digits_config({"kind": "precomputed", "path": "mine.npy", "ids": "ids.txt"})
    cfg["dataset"].pop("max_samples")
    data = read_dataset(prepared(cfg))
    with pytest.raises(InputError) as error:
        embed(cfg, "mine")
    one_line(error, "ids.txt: 1 of the dataset's 1797 samples have no row", "'sklearn_digits:1796'")
    # an id of no sample of the source at all: named first, before what it leaves out
    save(folder / "mine.npy", np.zeros((1797, 4)))
    (folder / "ids.txt").write_text("\n".join([*ids[:-1], "someone_else"]) + "\n")
    with pytest.raises(InputError) as error:
        embed(cfg, "mine")
    one_line(error, "ids.txt: 1 of 1797 ids name no sample of dataset source", "'someone_else'")
    # per split: every sample in the train file's ids
    train, test = (folder / "train.txt"), (folder / "test.txt")
    test_ids = [ids[i] for i in np.flatnonzero(data.split == 1)]
    train.write_text("\n".join(ids[: len(ids) - len(test_ids)]) + "\n")
    test.write_text("\n".join(ids[len(ids) - len(test_ids) :]) + "\n")
    n_train = len(ids) - len(test_ids)
    save(folder / "mine_train.npy", np.zeros((n_train, 4)))
    save(folder / "mine_test.npy", np.zeros((len(test_ids), 4)))
    cfg["backbones"]["mine"] = {
        "kind": "precomputed",
        "paths": {"train": "mine_train.npy", "test": "mine_test.npy"},
        "ids": {"train": "train.txt", "test": "test.txt"},
    }
    with pytest.raises(InputError) as error:
        embed(cfg, "mine")
    one_line(error, "train.txt + test.txt: ", "samples are in the other split's file")


def test_a_data_h5_without_sample_ids_is_refused_by_the_job(folder):
    cfg = config()
    path = prepared(cfg)
    arrays, attrs = read_h5(path)
    arrays.pop("sample_ids")
    write_h5(path, arrays, attrs)
    with pytest.raises(InputError) as error:
        embed(cfg, "b")
    one_line(error, "data.h5: no sample_ids", "delete it and re-run")


def test_a_pickle_is_never_loaded(folder, monkeypatch):
    """A pickle saved as .npy: refused from its first byte; nothing is unpickled."""
    (folder / "x.npy").write_bytes(pickle.dumps(np.zeros((N_TRAIN, D))))
    monkeypatch.setattr(pickle, "loads", lambda *a, **k: pytest.fail("unpickled"))
    monkeypatch.setattr(pickle, "load", lambda *a, **k: pytest.fail("unpickled"))
    with pytest.raises(InputError) as error:
        preflight(config(c=bad_file(folder, "x.npy")))
    one_line(error, "x.npy: holds a pickle, which is never loaded", "numpy.save")


# ---- plan records -------------------------------------------------------------------------


def test_the_plan_records_the_files_and_sizes_the_jobs(folder):
    cfg = config()
    identity = dataset_identity(cfg["dataset"])
    assert identity["features"]["train"] == str(folder / "a_train.npy")
    assert identity["labels"]["test"] == str(folder / "labels_val.npy")
    assert "test_fraction" not in identity  # the split is the files'
    one = changed(cfg, "dataset.features", "a_train.npy")
    assert (
        dataset_identity(one["dataset"])["test_fraction"] is None
    )  # filled by the schema in a run
    request = embed_request(1000, {"kind": "precomputed"}, gpu=True, native_size=224)
    assert request["mem_mb"] < 2000


def test_every_embedding_writer_records_the_same_attributes(folder):
    """Images (embed_dataset), the user's features (embed_precomputed) and a batch of new
    samples' features (embed_feature_batch) write one set of attributes."""
    from hume_workflow.data.digits import load_sklearn_digits
    from hume_workflow.embed.pipeline import embed_dataset
    from hume_workflow.formats.dataset import write_dataset
    from hume_workflow.predict.feature_batches import embed_feature_batch, prepare_feature_batch

    cfg = config()
    prepared(cfg)
    keys = {"precomputed": set(read_h5(embed(cfg, "a"), [])[1])}
    write_dataset("digits.h5", load_sklearn_digits())
    embed_dataset("digits.h5", "pixels.h5", "pixels", {"kind": "pixels"})
    keys["images"] = set(read_h5("pixels.h5", [])[1])
    spec = {"features": {"a": "a_val.npy"}}
    write_dataset("batch.h5", prepare_feature_batch("new", spec))
    embed_feature_batch("batch.h5", "new.h5", "a", cfg["backbones"]["a"], "a_val.npy")
    keys["feature batch"] = set(read_h5("new.h5", [])[1])
    assert keys["precomputed"] == keys["images"] == keys["feature batch"], keys
    assert {"backbone_spec", "extraction", "split_encoding", "samples_sha256"} <= keys["images"]
