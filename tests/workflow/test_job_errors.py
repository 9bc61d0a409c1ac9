"""Bad input found by a job: the job stops with one line naming the file, nothing else lost.

The two workflow runs, each in a copy of the finished tiny workflow with one input spoiled,
are made in the background (tests/conftest.py) and read here. Refusals before any job runs:
tests/workflow/test_bad_inputs.py.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest
from tiny_workflow import (
    REPO,
    TINY,
    class_folders,
    error_line,
    fingerprint,
    run_snakemake,
    with_backbone,
)


@dataclass
class Refused:
    """A workflow run on a spoiled input: where, what it printed, results/ before and after."""

    workdir: Path
    proc: subprocess.CompletedProcess
    before: dict
    after: dict

    @property
    def output(self) -> str:
        return self.proc.stdout + self.proc.stderr


def run_spoiled(workdir: Path, config: dict) -> Refused:
    """Snakemake on ``config`` in ``workdir``, with fingerprints of results/ around it."""
    before = fingerprint(workdir / "results")
    proc = run_snakemake(workdir, config, "--cores", "2")
    return Refused(workdir, proc, before, fingerprint(workdir / "results"))


def truncated_checkpoint(workdir: Path, finished: Path) -> Refused:
    """The finished tiny workflow plus a backbone whose checkpoint file is cut in half."""
    from torch import save
    from torchvision.models import mobilenet_v3_small

    shutil.copytree(finished, workdir / "tiny")
    path = workdir / "cut.pth"
    save(mobilenet_v3_small().state_dict(), path)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    config = with_backbone("cut", {"kind": "checkpoint", "path": str(path), "arch": "resnet18"})
    return run_spoiled(workdir / "tiny", config)


@pytest.mark.background.with_args(truncated_checkpoint)
def test_truncated_checkpoint_fails_its_job_in_one_line(background):
    """A job-time error: the job's log (shown by Snakemake) ends in the one-line message;
    only the failing embedding's log and benchmark folders appear under results/."""
    run = background.result(truncated_checkpoint)
    assert run.proc.returncode != 0, run.output[-3000:]
    assert {k: v for k, v in run.after.items() if k in run.before} == run.before
    new = set(run.after) - set(run.before)
    assert all("/cut." in k for k in new), new
    assert not (run.workdir / "results/tiny/embeddings/cut.h5").exists()
    line = error_line(run.output, "InputError: ")
    assert str(run.workdir.parent / "cut.pth") in line and "truncated" in line


def nan_in_an_embedding(workdir: Path, finished: Path) -> Refused:
    """The finished tiny workflow with one feature of pixels.h5 set to NaN by hand."""
    import h5py
    import numpy as np

    shutil.copytree(finished, workdir / "tiny")
    with h5py.File(workdir / "tiny/results/tiny/embeddings/pixels.h5", "r+") as f:
        f["features"][17, 2] = np.nan
    return run_spoiled(workdir / "tiny", TINY)


@pytest.mark.background.with_args(nan_in_an_embedding)
def test_nan_in_an_embedding_file_fails_the_jobs_that_read_it(background):
    """Features changed by hand (a NaN): the jobs that read them stop with one line naming
    the file, the count and the first index; the dataset and the other space are untouched."""
    run = background.result(nan_in_an_embedding)
    assert run.proc.returncode != 0
    lines = [ln for ln in run.output.splitlines() if ln.startswith("InputError")]
    assert lines, run.proc.stderr[-3000:]  # one per failed job (two may run at once)
    for line in lines:
        assert line.endswith(
            "results/tiny/embeddings/pixels.h5: features hold 1 non-finite values (NaN/Inf), "
            "first at row 17, column 2; delete the file and re-run extract_embeddings; if it "
            "recurs, check the backbone's weights or set its precision: fp32"
        ), line
    kept = ["data.h5", "embeddings/efficientnet_lite0.h5"]
    assert all(any(k.endswith(name) for k in run.before) for name in kept)
    for key, value in run.before.items():
        if key.endswith(tuple(kept)):
            assert run.after[key] == value, key


def test_prepare_dataset_job_with_a_bad_folder_logs_one_line(tmp_path):
    """The job's script (run as Snakemake runs it, with its ``snakemake`` object: the params
    hold what decides the samples, the config where they are read from) ends its log in the
    one line of the error, with no traceback, and writes no data.h5."""
    root = tmp_path / "pets"
    class_folders(root, ["cat", "dog", "fox"])
    class_folders(tmp_path / "stray", ["x"])
    (tmp_path / "stray/x/0.png").rename(root / "loose.png")  # an image beside the classes
    spec = {
        "source": "image_folder",
        "name": "pets",
        "num_classes": 3,
        "test_fraction": 0.5,
        "split_seed": 0,
        "max_samples": None,
        "root": str(root),
        "download": False,
        "local_root": None,
        "image_size": 4,
        "skip_bad_images": False,
    }
    script = REPO / "workflow" / "scripts" / "prepare_dataset.py"
    log = tmp_path / "prepare.log"
    code = f"""
        import runpy
        from types import SimpleNamespace
        from hume_workflow.plan.dataset import dataset_identity
        snakemake = SimpleNamespace(
            log=[{str(log)!r}],
            params=SimpleNamespace(identity=dataset_identity({spec!r})),
            config={{"dataset": {spec!r}}},
            output=[{str(tmp_path / "data.h5")!r}],
        )
        runpy.run_path({str(script)!r}, init_globals={{"snakemake": snakemake}})
        """
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True
    )
    assert proc.returncode != 0
    lines = log.read_text().splitlines()
    expected = (
        f"InputError: dataset.root={root}: holds both images (loose.png, ...) and sub-folders"
    )
    assert lines[-1].startswith(expected), lines
    assert not any("Traceback" in line for line in lines)
    assert not (tmp_path / "data.h5").exists()
