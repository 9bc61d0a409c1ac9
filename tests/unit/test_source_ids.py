"""Ids that name no sample of the dataset's source are refused (issue 27, "your files are
inputs"), not just left out: the ids of a precomputed space must name samples of the source
data.h5 was made from, whether or not data.h5 holds them all (``max_samples``).

``<source>:<index>`` sources by their published size, image folders by their files under
dataset.root, features_only datasets by the rows of their feature files.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from tiny_workflow import one_line, prepare_like_the_job

from hume_workflow.embed.precomputed import embed_precomputed
from hume_workflow.errors import InputError
from hume_workflow.formats.dataset import read_dataset
from hume_workflow.formats.embeddings import read_features

DIGITS = 1797


def prepared(cfg: dict) -> Path:
    """data.h5 of ``cfg``'s dataset, as the prepare_dataset job writes it."""
    return prepare_like_the_job(cfg, Path("results") / cfg["dataset"]["name"] / "data.h5")


def embed(cfg: dict, name: str = "mine") -> Path:
    """The embedding file of backbone ``name``, as the extract_embeddings job writes it."""
    out = Path("results") / cfg["dataset"]["name"] / "embeddings" / f"{name}.h5"
    embed_precomputed(out.parents[1] / "data.h5", out, name, cfg["backbones"][name])
    return out


def with_ids(dataset: dict, ids: list[str], features: np.ndarray, name: str = "mine") -> dict:
    """A config of ``dataset`` and a precomputed space ``name``: ``features`` (mine.npy)
    whose rows ``ids`` (ids.txt) name."""
    np.save("mine.npy", features)
    Path("ids.txt").write_text("\n".join(ids) + "\n")
    spec = {"kind": "precomputed", "path": "mine.npy", "ids": "ids.txt"}
    return {
        "dataset": dataset,
        "backbones": {"pixels": {"kind": "pixels"}, name: spec},
        "pairs": [{"phi1": "pixels", "phi2": name}],
        "num_runs": 2,
    }


def digits(max_samples: int | None = 300) -> dict:
    dataset = {"name": "dig", "source": "sklearn_digits", "num_classes": 10}
    if max_samples is not None:
        dataset["max_samples"] = max_samples
    return dataset


@pytest.fixture
def pixels(tmp_path, monkeypatch) -> np.ndarray:
    """(1797, 64) the digits' pixels in the source's order; the working directory: tmp_path."""
    from sklearn.datasets import load_digits

    monkeypatch.chdir(tmp_path)
    return load_digits().data


# ---- <source>:<index> sources -----------------------------------------------------------------


def test_one_based_ids_on_a_subset_are_refused(pixels):
    """The reported case: 1-based ids, 300 of the digits kept (sample 0 not among them), so
    every row matched a sample and the features were shifted by one, silently."""
    ids = [f"sklearn_digits:{i + 1}" for i in range(DIGITS)]
    cfg = with_ids(digits(300), ids, pixels)
    data = read_dataset(prepared(cfg))
    assert "sklearn_digits:0" not in data.sample_ids  # align_rows alone finds no fault
    with pytest.raises(InputError) as error:
        embed(cfg)
    one_line(
        error,
        "backbones.mine.ids=ids.txt: 1 of 1797 ids name no sample of dataset source "
        "'sklearn_digits' (it has sklearn_digits:0 to sklearn_digits:1796): "
        "'sklearn_digits:1797'",
        "0-based",
    )
    assert not Path("results/dig/embeddings/mine.h5").exists()


def test_zero_based_ids_on_a_subset_are_accepted(pixels):
    ids = [f"sklearn_digits:{i}" for i in range(DIGITS)]
    cfg = with_ids(digits(300), ids, pixels)
    data = read_dataset(prepared(cfg))
    got = read_features(embed(cfg), 300)
    index = [int(sample_id.split(":")[1]) for sample_id in data.sample_ids]
    np.testing.assert_array_equal(got, pixels[index])


@pytest.mark.parametrize(
    "bad", ["digits:5", "sklearn_digits:05", "sklearn_digits:-5", "sklearn_digits:9999", "five"]
)
def test_an_id_outside_the_source_is_refused_even_where_no_sample_misses_a_row(pixels, bad):
    """Sample 5 is not among the 300 kept: its row's id matches nothing in data.h5."""
    ids = [f"sklearn_digits:{i}" for i in range(DIGITS)]
    ids[5] = bad
    cfg = with_ids(digits(300), ids, pixels)
    assert "sklearn_digits:5" not in read_dataset(prepared(cfg)).sample_ids
    with pytest.raises(InputError) as error:
        embed(cfg)
    one_line(error, "ids.txt: 1 of 1797 ids name no sample", f": {bad!r};")


def test_the_message_names_the_count_and_the_first_few(pixels):
    ids = [f"sklearn_digits:{i}" for i in range(DIGITS)]
    for row in (0, 1, 2, 3, 5):  # samples not among the 300 kept
        ids[row] = f"x:{row}"
    cfg = with_ids(digits(300), ids, pixels)
    kept = set(read_dataset(prepared(cfg)).sample_ids)
    assert not {f"sklearn_digits:{i}" for i in (0, 1, 2, 3, 5)} & kept
    with pytest.raises(InputError) as error:
        embed(cfg)
    one_line(error, "5 of 1797 ids name no sample", ": 'x:0', 'x:1', 'x:2', ...; ")


# ---- image folders ----------------------------------------------------------------------------


def image_folder(root: Path) -> list[str]:
    """8 PNGs per split and class under root/train and root/test; their ids, in order."""
    from PIL import Image

    ids = []
    for part in ("train", "test"):
        for cls in ("a", "b"):
            (root / part / cls).mkdir(parents=True)
            for i in range(4):
                Image.new("RGB", (6, 6), (30 * i, 60 if cls == "a" else 0, 0)).save(
                    root / part / cls / f"{i}.png"
                )
                ids.append(f"{part}/{cls}/{i}.png")
    return ids


def folder_dataset(root: Path, max_samples: int | None) -> dict:
    dataset = {
        "name": "imgs",
        "source": "image_folder",
        "root": str(root),
        "image_size": 8,
        "num_classes": 2,
        "skip_bad_images": True,
    }
    if max_samples is not None:
        dataset["max_samples"] = max_samples
    return dataset


@pytest.mark.parametrize("max_samples", [None, 10])
def test_folder_ids_name_images_under_the_root(tmp_path, monkeypatch, max_samples):
    monkeypatch.chdir(tmp_path)
    root = tmp_path / "images"
    ids = image_folder(root)
    (root / "train" / "b" / "bad.png").write_bytes(b"not an image")  # skipped, still a sample
    (root / "train" / "a" / ".hidden.png").write_bytes(b"hidden: not scanned")
    features = np.random.default_rng(0).normal(size=(len(ids) + 1, 3))
    cfg = with_ids(folder_dataset(root, max_samples), [*ids, "train/b/bad.png"], features)
    data = read_dataset(prepared(cfg))
    assert "train/b/bad.png" not in data.sample_ids
    assert len(data.sample_ids) == (max_samples or len(ids))
    got = read_features(embed(cfg), len(data.sample_ids))
    np.testing.assert_allclose(got, features[[ids.index(s) for s in data.sample_ids]], rtol=1e-6)
    for bad in ("train/a/missing.png", "train/a/.hidden.png", "../images/train/a/0.png"):
        with_ids(cfg["dataset"], [*ids, bad], features)
        with pytest.raises(InputError) as error:
            embed(cfg)
        one_line(
            error,
            "backbones.mine.ids=ids.txt: 1 of 17 ids name no sample of dataset source "
            "'image_folder' (",
            f"): {bad!r};",
            "paths relative to dataset.root",
        )


# ---- features_only ----------------------------------------------------------------------------


@pytest.mark.parametrize("by", ["ids", "place"])
def test_features_only_rows_beyond_the_datasets_files_are_refused(tmp_path, monkeypatch, by):
    """The dataset's files hold 30 + 10 rows; the space's, 30 + 11 (20 samples kept)."""
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(1)
    np.save("a_train.npy", rng.normal(size=(30, 4)))
    np.save("a_val.npy", rng.normal(size=(10, 4)))
    np.save("b_train.npy", rng.normal(size=(30, 4)))
    np.save("b_val.npy", rng.normal(size=(11, 4)))
    spec = {"kind": "precomputed", "paths": {"train": "b_train.npy", "test": "b_val.npy"}}
    where = "backbones.b (b_train.npy + b_val.npy, rows by place)"
    if by == "ids":
        Path("train.txt").write_text("\n".join(f"train:{i}" for i in range(30)) + "\n")
        Path("test.txt").write_text("\n".join(f"test:{i}" for i in range(11)) + "\n")
        spec["ids"] = {"train": "train.txt", "test": "test.txt"}
        where = "backbones.b.ids=train.txt + test.txt"
    cfg = {
        "dataset": {
            "name": "byo",
            "source": "features_only",
            "num_classes": 3,
            "features": {"train": "a_train.npy", "test": "a_val.npy"},
            "max_samples": 20,
        },
        "backbones": {"a": {"kind": "precomputed", "paths": cfg_paths("a")}, "b": spec},
        "pairs": [{"phi1": "a", "phi2": "b"}],
        "num_runs": 2,
    }
    prepared(cfg)
    embed(cfg, "a")  # the dataset's own rows: every id a sample
    with pytest.raises(InputError) as error:
        embed(cfg, "b")
    one_line(
        error,
        f"{where}: 1 of 41 ids name no sample of dataset source 'features_only' "
        "(it has train:0 to train:29, test:0 to test:9): 'test:10'",
    )


def cfg_paths(space: str) -> dict[str, str]:
    return {"train": f"{space}_train.npy", "test": f"{space}_val.npy"}
