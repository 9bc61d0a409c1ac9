"""A prediction batch's own files are inputs of its jobs: a replaced feature file, or an image
added to a batch folder, plans that batch's jobs again and nothing upstream, nor the other
batches' (dry runs on a small finished workflow, made in the background); a batch's own
skip_bad_images leaves its undecodable images out.

The workflow: the tiny digits at two pixel sizes (no network: cheap), one pair, two runs,
and three batches: ``rows`` (feature files), ``scans`` (a folder of images in class
sub-folders) and ``skipping`` (a flat folder with a corrupt image, skip_bad_images: true);
only the predictions are made (no report).
"""

from __future__ import annotations

import os
import re
import shutil
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from tiny_workflow import TINY, snakemake

RESULTS = "results/tiny"
TASK = "pixels--pixels4"
BATCHES = ("rows", "scans", "skipping")
TARGETS = [f"{RESULTS}/predict/hume/{TASK}/{new}.csv" for new in BATCHES]
CONFIG = {
    **TINY,
    "backbones": {"pixels": {"kind": "pixels"}, "pixels4": {"kind": "pixels", "image_size": 4}},
    "pairs": [{"phi1": "pixels", "phi2": "pixels4"}],
    "compute": {"runs_per_job": 2},
    "predict": {
        "batches": {
            "rows": {"features": {"pixels": "new/pixels.npy", "pixels4": "new/pixels4.npy"}},
            "scans": {"root": "new/scans"},
            "skipping": {"root": "new/skipping", "skip_bad_images": True},
        }
    },
}


def batch_outputs(new: str) -> set[str]:
    """The outputs of the jobs of batch ``new``."""
    batch = f"{RESULTS}/predict/batches/{new}"
    return {
        f"{batch}/data.h5",
        f"{batch}/embeddings/pixels.h5",
        f"{batch}/embeddings/pixels4.h5",
        f"{RESULTS}/predict/hume/{TASK}/{new}.csv",
    }


def planned_outputs(log: str) -> set[str]:
    """Output files of the jobs a dry run plans."""
    return {
        path for line in re.findall(r"^\s+output: (.+)$", log, re.M) for path in line.split(", ")
    }


def predicted(workdir: Path) -> Path:
    """The small workflow run to the three batches' predictions."""
    rng = np.random.default_rng(0)
    (workdir / "new").mkdir()
    np.save(workdir / "new/pixels.npy", rng.uniform(0, 16, (4, 64)).astype(np.float32))
    np.save(workdir / "new/pixels4.npy", rng.uniform(0, 16, (4, 16)).astype(np.float32))
    (workdir / "new/skipping").mkdir()
    for i, label in enumerate(["a", "a", "b"]):
        folder = workdir / "new/scans" / label
        folder.mkdir(parents=True, exist_ok=True)
        Image.new("L", (8, 8), 40 * i).save(folder / f"{i}.png")
    Image.new("L", (8, 8), 90).save(workdir / "new/skipping/good.png")
    (workdir / "new/skipping/bad.png").write_bytes(b"not an image")
    snakemake(workdir, CONFIG, "--cores", "2", *TARGETS)
    return workdir


def dry_run_after(workdir: Path, change) -> set[str]:
    """The outputs a dry run plans once ``change(workdir)`` is made, a second later (so that
    every changed time is newer than the outputs), in a copy of ``workdir``."""
    time.sleep(1)
    change(workdir)
    return planned_outputs(snakemake(workdir, CONFIG, "--dry-run", *TARGETS))


@pytest.fixture
def copied(background, tmp_path) -> Path:
    """A copy of the finished small workflow (the copy keeps the times of the files)."""
    workdir = tmp_path / "work"
    shutil.copytree(background.result(predicted), workdir, symlinks=True)
    return workdir


@pytest.mark.background.with_args(predicted)
def test_a_finished_workflow_plans_nothing(copied):
    assert planned_outputs(snakemake(copied, CONFIG, "--dry-run", *TARGETS)) == set()


@pytest.mark.background.with_args(predicted)
def test_a_replaced_batch_feature_file_plans_that_batch_again_and_nothing_upstream(copied):
    def replace(workdir: Path) -> None:
        values = np.random.default_rng(1).uniform(0, 16, (4, 16)).astype(np.float32)
        np.save(workdir / "new/pixels4.npy", values)

    assert dry_run_after(copied, replace) == batch_outputs("rows")


@pytest.mark.background.with_args(predicted)
def test_an_image_added_to_a_batch_sub_folder_plans_that_batch_again(copied):
    def add(workdir: Path) -> None:
        Image.new("L", (8, 8), 200).save(workdir / "new/scans/b/3.png")
        assert (
            os.stat(workdir / "new/scans/b").st_mtime
            > os.stat(workdir / f"{RESULTS}/predict/batches/scans/data.h5").st_mtime
        )

    assert dry_run_after(copied, add) == batch_outputs("scans")


@pytest.mark.background.with_args(predicted)
def test_a_batch_s_own_skip_bad_images_leaves_its_corrupt_image_out(background):
    results = background.result(predicted) / RESULTS
    labels = pd.read_csv(results / f"predict/hume/{TASK}/skipping.csv")
    assert labels.sample_id.tolist() == ["good.png"]
    log = (results / "logs/prepare_batch/skipping.log").read_text()
    assert "bad.png: cannot decode the image" in log and "skipped" in log
