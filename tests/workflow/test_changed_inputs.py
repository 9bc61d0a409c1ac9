"""Your files are inputs: a changed file reruns exactly what reads it, and a new K costs only
its runs.

The cases copy a finished workflow (mtimes kept), change one thing, and read what a dry run
plans (with Snakemake's reasons); where it matters, they run the plan and compare results.
"""

from __future__ import annotations

import copy
import shutil
from collections import Counter
from pathlib import Path

import h5py
import numpy as np
import pytest
import yaml
from test_precomputed_workflow import features_only_run
from tiny_workflow import (
    TINY,
    changed,
    class_folders,
    fingerprint,
    idx_bytes,
    planned_jobs,
    planned_requests,
    snakemake,
    two_file_spaces,
)


def copy_of(finished: Path, tmp_path: Path) -> Path:
    """A copy of a finished workflow's folder, modification times kept."""
    target = tmp_path / "copy"
    shutil.copytree(finished, target, symlinks=True)
    return target


def plan(workdir: Path, config: dict | None = None, *targets: str) -> list[dict[str, str]]:
    """The jobs a dry run of ``config`` (the folder's own config.yaml when None) plans."""
    config = config or yaml.safe_load((workdir / "config.yaml").read_text())
    return planned_jobs(snakemake(workdir, config, "--dry-run", *targets))


def rules(jobs: list[dict[str, str]]) -> Counter:
    return Counter(job["rule"] for job in jobs)


def rewrite(path: Path, array: np.ndarray | None = None) -> None:
    """Write ``array`` to the .npy ``path`` (None: its own bytes again): a newer file."""
    if array is None:
        path.write_bytes(path.read_bytes())
    else:
        np.save(path, array)


# ---- a features_only dataset with two precomputed spaces (proj -> pixels) ------------------


def features_only_to_change(workdir: Path) -> Path:
    """tests/workflow/test_precomputed_workflow.py's run, made for this module to change (the
    dataset's identity holds its files' absolute paths: a copy elsewhere is another dataset)."""
    return features_only_run(workdir)


@pytest.mark.background.with_args(features_only_to_change)
def test_the_files_of_a_features_only_dataset_are_inputs(background):
    """In turn, on one finished run: the same bytes again, speed-only keys, new features of a
    space, new labels."""
    workdir = background.result(features_only_to_change)
    config = yaml.safe_load((workdir / "config.yaml").read_text())
    results, features = workdir / "results/byo", workdir / "features"

    # Up to Snakemake's --max-checksum-file-size (1 MB by default) the bytes are compared:
    # nothing reruns; above it, the newer time reruns what reads the file (README).
    for name in ("labels_train.npy", "proj_train.npy"):
        rewrite(features / name)
    assert plan(workdir, config) == []
    log = snakemake(workdir, config, "--dry-run", "--max-checksum-file-size", "1000")
    assert {"prepare_dataset", "extract_embeddings"} <= set(rules(planned_jobs(log)))

    speed_only = changed(config, "backbones.pixels.batch_size", 7)
    assert plan(workdir, changed(speed_only, "backbones.proj.num_workers", 3)) == []

    proj = features / "proj_train.npy"
    rewrite(proj, np.random.default_rng(1).normal(size=np.load(proj).shape))
    jobs = plan(workdir, config)
    assert {(j["rule"], j.get("backbone")) for j in jobs if "embed" in j["rule"]} == {
        ("extract_embeddings", "proj"),
        ("embed_batch", "proj"),
    }
    (embedding,) = [j for j in jobs if j["rule"] == "extract_embeddings"]
    assert embedding["reason"].startswith("Updated input files: features/proj_train.npy")
    assert "prepare_dataset" not in rules(jobs) and rules(jobs)["run_hume"] == 1
    assert rules(jobs)["compute_baselines"] == 1  # proj's; pixels' is untouched
    before = h5py.File(results / "embeddings/proj.h5")["features"][()]
    pixels = fingerprint(results / "embeddings")["pixels.h5"]
    snakemake(workdir, config, "--cores", "2")
    after = h5py.File(results / "embeddings/proj.h5")["features"][()]
    assert not np.allclose(before, after)  # the new values, not the old ones
    assert fingerprint(results / "embeddings")["pixels.h5"] == pixels
    assert plan(workdir, config) == []

    labels = features / "labels_val.npy"
    rewrite(labels, (np.load(labels) + 1) % 10)  # every test sample in another class
    (prepare,) = [j for j in plan(workdir, config) if j["rule"] == "prepare_dataset"]
    assert prepare["reason"].startswith("Updated input files: features/labels_val.npy")


def pixel_pair(side: int) -> dict:
    """TINY on one pair: the native pixels (phi1) and pixels at side x side (phi2)."""
    config = copy.deepcopy(TINY)
    config["backbones"] = {"pixels": {"kind": "pixels"}, "small": {"kind": "pixels"}}
    config["backbones"]["small"]["image_size"] = side
    config["pairs"] = [{"phi1": "pixels", "phi2": "small"}]
    return config


# ---- the digits: a new K ---------------------------------------------------------------------


def test_a_new_k_plans_only_its_runs_and_what_reads_every_k(finished, tmp_path):
    workdir = copy_of(finished, tmp_path)
    jobs = plan(workdir, changed(TINY, "dataset.num_classes", [9, 10]))
    per_k = [j for j in jobs if "k" in j]
    assert per_k and {j["k"] for j in per_k} == {"9"}
    assert rules(jobs)["run_hume"] == len(TINY["pairs"]) * TINY["num_runs"]  # a run per job
    assert not {"prepare_dataset", "extract_embeddings", "compute_baselines"} & set(rules(jobs))
    assert {"choose_k", "export_labels", "write_report"} <= set(rules(jobs))


def coarse_to_fine(workdir: Path) -> Path:
    """docs/choosing_k.md's recipe on one pair of pixel spaces of the digits: a doubling grid,
    then every K between the coarse neighbours of the best coarse K."""
    config = pixel_pair(4)
    coarse = [2, 4, 8, 16]
    snakemake(workdir, changed(config, "dataset.num_classes", coarse), "--cores", "2")
    return workdir


@pytest.mark.background.with_args(coarse_to_fine)
def test_the_coarse_to_fine_recipe_keeps_every_coarse_run(background, tmp_path):
    workdir = copy_of(background.result(coarse_to_fine), tmp_path)
    task = workdir / "results/tiny/hume/pixels--small"
    best = yaml.safe_load((task / "k_choice.json").read_text())["chosen_k"]
    coarse = [2, 4, 8, 16]
    i = coarse.index(best)
    low, high = coarse[max(i - 1, 0)], coarse[min(i + 1, len(coarse) - 1)]
    fine = sorted(set(coarse) | set(range(low, high + 1)))
    kept = {k: fingerprint(task / f"k{k}") for k in coarse}
    config = yaml.safe_load((workdir / "config.yaml").read_text())
    config = changed(config, "dataset.num_classes", fine)
    jobs = plan(workdir, config)
    assert {int(j["k"]) for j in jobs if j["rule"] == "run_hume"} == set(fine) - set(coarse)
    snakemake(workdir, config, "--cores", "2")
    for k in coarse:  # byte for byte and time for time: the coarse runs were not redone
        assert fingerprint(task / f"k{k}") == kept[k]
    choice = yaml.safe_load((task / "k_choice.json").read_text())
    assert sorted(int(k) for k in choice["n_runs"]) == fine
    assert choice["chosen_k"] in fine


# ---- the folders a source lists: an image folder, idx files ----------------------------------


def test_an_image_added_to_a_class_folder_re_prepares_the_data(tmp_path):
    class_folders(tmp_path / "pets", ["cat", "dog", "fox"], per_class=6)
    config = pixel_pair(3)
    config["dataset"] = {
        "name": "pets",
        "source": "image_folder",
        "num_classes": 3,
        "root": "pets",
        "image_size": 8,
        "test_fraction": 0.5,
    }
    data = "results/pets/data.h5"
    snakemake(tmp_path, config, "--cores", "1", data)
    assert plan(tmp_path, config, data) == []
    shutil.copy(tmp_path / "pets/dog/0.png", tmp_path / "pets/dog/new.png")
    (job,) = plan(tmp_path, config, data)
    assert job["rule"] == "prepare_dataset" and "pets/dog" in job["reason"]


def test_a_replaced_idx_file_of_local_root_re_prepares_the_data(tmp_path):
    rng = np.random.default_rng(0)
    raw = tmp_path / "raw"
    raw.mkdir()
    for prefix, n in (("train", 40), ("t10k", 10)):
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        (raw / f"{prefix}-images-idx3-ubyte").write_bytes(idx_bytes(images))
        labels = (np.arange(n) % 10).astype(np.uint8)
        (raw / f"{prefix}-labels-idx1-ubyte").write_bytes(idx_bytes(labels))
    config = copy.deepcopy(TINY)
    config["dataset"] = {
        "name": "fm",
        "source": "fashion_mnist",
        "num_classes": 10,
        "local_root": "raw",
    }
    data = "results/fm/data.h5"
    snakemake(tmp_path, config, "--cores", "1", data)
    labels = raw / "t10k-labels-idx1-ubyte"
    labels.write_bytes(idx_bytes(((np.arange(10) + 1) % 10).astype(np.uint8)))
    (job,) = plan(tmp_path, config, data)
    assert job["rule"] == "prepare_dataset" and "raw/t10k-labels-idx1-ubyte" in job["reason"]


# ---- requests from the user's files -----------------------------------------------------------


def test_a_wide_precomputed_phi1_is_requested_at_its_width(tmp_path):
    """Before any embedding exists, the plan reads a precomputed space's width from its
    file's header: 20,000 columns ask for the task encoder's d1 x d1 base (a run at that
    width held 7.3 GB), where 64 columns ask for little."""
    rng = np.random.default_rng(0)
    requests = {}
    for width in (64, 20000):
        folder = tmp_path / str(width)
        folder.mkdir()
        np.save(folder / "wide.npy", rng.normal(size=(100, width)).astype(np.float32))
        np.save(folder / "narrow.npy", rng.normal(size=(100, 16)).astype(np.float32))
        np.save(folder / "labels.npy", np.arange(100) % 3)
        config = two_file_spaces("wide", 3, "wide", "narrow")
        log = snakemake(folder, config, "--dry-run")
        requests[width] = max(r["mem_mb"] for r in planned_requests(log, "run_hume"))
    assert requests[20000] >= 7300 > requests[64]
