"""The execution profiles parse, and jobs ask the scheduler for what their dataset needs."""

import subprocess
import sys
from pathlib import Path

import pytest
from tiny_workflow import planned_requests

from hume_workflow.plan.resources import STARTUP_MIN

REPO = Path(__file__).resolve().parents[1]


def dry_run(tmp_path: Path, profile: str, configfile: str) -> str:
    """A dry run of ``configfile`` through ``profiles/<profile>``; its log."""
    cmd = [
        sys.executable,
        "-m",
        "snakemake",
        "--snakefile",
        str(REPO / "Snakefile"),
        "--profile",
        str(REPO / "profiles" / profile),
        "--configfile",
        str(REPO / configfile),
        "--dry-run",
    ]
    proc = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout


@pytest.fixture(scope="module")
def demo_plan(tmp_path_factory):
    return dry_run(tmp_path_factory.mktemp("demo"), "slurm", "config/config.yaml")


def test_demo_asks_slurm_for_small_cpu_jobs(demo_plan):
    hume = planned_requests(demo_plan, "run_hume")
    assert len(hume) == 16
    assert all(r["gpu"] == 0 and 1000 <= r["mem_mb"] <= 4000 and r["runtime"] <= 60 for r in hume)
    assert all(r["gpu"] == 0 for r in planned_requests(demo_plan, "extract_embeddings"))


def test_cifar10_preset_asks_for_gpus_and_more(tmp_path, demo_plan):
    # the preset's MoCo v2 checkpoint: the config check wants the file to exist
    checkpoint = tmp_path / "resources/checkpoints/mocov2_cifar10.pth.tar"
    checkpoint.parent.mkdir(parents=True)
    checkpoint.touch()
    plan = dry_run(tmp_path, "slurm", "config/cifar10.yaml")
    hume = planned_requests(plan, "run_hume")
    assert len(hume) == 300 and all(r["gpu"] == 1 for r in hume)
    demo_hume = planned_requests(demo_plan, "run_hume")[0]
    # 50,000 samples, 20 subsets of 10,000, 300 inner steps and 1000 iterations, even on a
    # GPU: far more work than the demo's (both requests add the same start-up minutes), and
    # more host memory for the features.
    work = min(r["runtime"] for r in hume) - STARTUP_MIN
    assert work > 5 * (demo_hume["runtime"] - STARTUP_MIN)
    assert min(r["mem_mb"] for r in hume) > demo_hume["mem_mb"]
    embed = planned_requests(plan, "extract_embeddings")
    assert len(embed) == 4 and all(r["gpu"] == 1 for r in embed)


def test_local_profile_plans_the_demo(tmp_path):
    plan = dry_run(tmp_path, "local", "config/config.yaml")
    assert len(planned_requests(plan, "run_hume")) == 16
