"""Bring your own embeddings: a features_only dataset with two precomputed spaces, no images,
run through Snakemake to its report (made in the background, tests/conftest.py)."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
from tiny_workflow import snakemake

from hume_workflow.formats.embeddings import read_spaces

N_TRAIN, N_TEST = 240, 60


def write_features(folder: Path) -> dict:
    """The reference per-split layout of two spaces and the labels, under ``folder``:
    sklearn's digits pixels and a random projection of them (float64, .npy); {file: array}."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    pixels, labels = digits.data[: N_TRAIN + N_TEST], digits.target[: N_TRAIN + N_TEST]
    projected = pixels @ np.random.default_rng(0).normal(size=(64, 24))
    arrays = {}
    for space, values in (("pixels", pixels.astype(np.float32)), ("proj", projected)):
        arrays[f"{space}_train.npy"], arrays[f"{space}_val.npy"] = (
            values[:N_TRAIN],
            values[N_TRAIN:],
        )
    arrays["labels_train.npy"], arrays["labels_val.npy"] = labels[:N_TRAIN], labels[N_TRAIN:]
    folder.mkdir(parents=True)
    for name, array in arrays.items():
        np.save(folder / name, array)
    return arrays


def features_only_run(workdir: Path) -> Path:
    """A features_only dataset (the digits' rows) in two precomputed spaces, one pair, 2 runs
    (in one job) on a tiny HUME budget, run to its report."""
    write_features(workdir / "features")

    def split_files(space: str) -> dict:
        return {"train": f"features/{space}_train.npy", "test": f"features/{space}_val.npy"}

    new = {space: f"features/{space}_val.npy" for space in ("pixels", "proj")}

    config = {
        "dataset": {
            "name": "byo",
            "source": "features_only",
            "num_classes": 10,
            "features": split_files("pixels"),
            "labels": split_files("labels"),
        },
        "backbones": {
            "pixels": {"kind": "precomputed", "paths": split_files("pixels")},
            "proj": {"kind": "precomputed", "paths": split_files("proj"), "l2_normalize": True},
        },
        "pairs": [{"phi1": "proj", "phi2": "pixels"}],
        "num_runs": 2,
        "compute": {"runs_per_job": 2},
        "hume": {"num_iters": 4, "num_subsets": 2, "adaptation_steps": 3, "inner_lr": 0.01},
        "score": {"n_folds": 3, "max_iter": 50},
        # new samples as feature files: the test rows again, labelled by the pair's encoders
        "predict": {"batches": {"new": {"features": new}}},
    }
    snakemake(workdir, config, "--cores", "2")
    return workdir


@pytest.mark.background.with_args(features_only_run)
def test_precomputed_features_without_images_run_to_a_report(background):
    workdir = background.result(features_only_run)
    results = workdir / "results/byo"
    with h5py.File(results / "data.h5") as f:
        assert "images" not in f  # no images anywhere
        ids = f["sample_ids"].asstr()[()].tolist()
        split, labels = f["split"][()], f["labels"][()]
    assert ids[:2] == ["train:0", "train:1"] and ids[N_TRAIN] == "test:0"
    assert (split == 0).sum() == N_TRAIN and (split == 1).sum() == N_TEST
    spaces = [results / f"embeddings/{space}.h5" for space in ("pixels", "proj")]
    pixels, proj = read_spaces(results / "data.h5", spaces)  # checked against data.h5
    np.testing.assert_array_equal(pixels[N_TRAIN:], np.load(workdir / "features/pixels_val.npy"))
    np.testing.assert_allclose(np.linalg.norm(proj, axis=1), 1, rtol=1e-5)
    assert proj.shape == (N_TRAIN + N_TEST, 24)
    np.testing.assert_array_equal(labels[N_TRAIN:], np.load(workdir / "features/labels_val.npy"))
    report = results / "report"
    summary = pd.read_csv(report / "summary.csv")
    assert len(summary) == 1 and summary.vote_acc.between(0, 1).all()
    page = (report / "index.html").read_text()
    assert "vote_acc" in page and "most agreed-upon images" not in page  # no thumbnails
    for log in (results / "logs").rglob("*.log"):
        assert "Traceback" not in log.read_text(), log


@pytest.mark.background.with_args(features_only_run)
def test_a_feature_batch_of_the_voted_rows_gets_their_agreed_vote(background):
    """The batch is the test rows the pair voted on: where both runs agree, the encoders give
    each row the vote's label."""
    results = background.result(features_only_run) / "results/byo"
    labels = pd.read_csv(results / "predict/hume/proj--pixels/new.csv")
    assert labels.sample_id.tolist() == [f"row:{i}" for i in range(N_TEST)]
    votes = pd.read_csv(results / "hume/proj--pixels/vote.csv")
    assert votes.sample_index.tolist() == list(range(N_TRAIN, N_TRAIN + N_TEST))
    agreed = (votes.agreement == 1.0).to_numpy()
    assert agreed.sum() > N_TEST / 4
    np.testing.assert_array_equal(labels.label[agreed], votes.label[agreed])
    assert (labels.confidence[agreed] == 1.0).all()
