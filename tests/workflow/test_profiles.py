"""The execution profiles parse, and jobs ask the scheduler for what their dataset needs."""

import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from tiny_workflow import REPO, planned_requests, side_by_side

from hume_workflow.plan.resources import STARTUP_MIN


def dry_run(profile: str, configfile: str) -> list[str]:
    """A dry run of ``configfile`` through ``profiles/<profile>``."""
    return [
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


def plan_profiles(workdir: Path) -> dict[str, subprocess.CompletedProcess]:
    """The dry runs the tests read, made side by side, each in a folder of its own under
    ``workdir``: the demo and the CIFAR-10 preset through the SLURM profile, the demo
    through the local one."""
    folders = {key: workdir / key for key in ("demo", "cifar10", "local")}
    for folder in folders.values():
        folder.mkdir()
    # the preset's MoCo v2 checkpoint: the config check wants the file to exist
    checkpoint = folders["cifar10"] / "resources/checkpoints/mocov2_cifar10.pth.tar"
    checkpoint.parent.mkdir(parents=True)
    checkpoint.touch()
    commands = {
        "demo": (dry_run("slurm", "config/config.yaml"), folders["demo"]),
        "cifar10": (dry_run("slurm", "config/cifar10.yaml"), folders["cifar10"]),
        "local": (dry_run("local", "config/config.yaml"), folders["local"]),
    }
    return side_by_side(commands)


pytestmark = pytest.mark.background.with_args(plan_profiles)


@pytest.fixture(scope="module")
def plans(background) -> dict[str, subprocess.CompletedProcess]:
    return background.result(plan_profiles)


def planned(proc: subprocess.CompletedProcess) -> str:
    """The log of a successful dry run."""
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout


def demo_jobs() -> int:
    """run_hume jobs of the demo as shipped: per pair, num_runs / compute.runs_per_job."""
    demo = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    per_job = demo.get("compute", {}).get("runs_per_job", 1)
    return len(demo["pairs"]) * demo["num_runs"] // per_job


@pytest.fixture(scope="module")
def demo_plan(plans):
    return planned(plans["demo"])


def test_demo_asks_slurm_for_small_cpu_jobs(demo_plan):
    hume = planned_requests(demo_plan, "run_hume")
    assert len(hume) == demo_jobs()
    assert all(r["gpu"] == 0 and 1000 <= r["mem_mb"] <= 4000 and r["runtime"] <= 60 for r in hume)
    assert all(r["gpu"] == 0 for r in planned_requests(demo_plan, "extract_embeddings"))


def test_cifar10_preset_asks_for_gpus_and_more(plans, demo_plan):
    plan = planned(plans["cifar10"])
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


def test_local_profile_plans_the_demo(plans):
    plan = planned(plans["local"])
    assert len(planned_requests(plan, "run_hume")) == demo_jobs()
