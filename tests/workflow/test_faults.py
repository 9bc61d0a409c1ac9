"""Faults: SIGKILL at any stage, transient failures, two instances, reproducibility.

A process killed inside a write of the library: tests/unit/test_atomic_writes.py.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
from tiny_workflow import PAIRS, TINY, run_snakemake, start_snakemake, wait_for


def assert_every_file_complete(results: Path) -> None:
    """Every HDF5/CSV/JSON under results/ under its final name reads back whole."""
    for path in results.rglob("*"):
        if not path.is_file() or path.name.startswith("."):
            continue
        if path.suffix == ".h5":
            with h5py.File(path) as f:  # a cut file fails to open
                assert len(f) > 0, path
                for name in f:
                    if isinstance(f[name], h5py.Dataset):
                        f[name][()]
        elif path.suffix == ".csv":
            assert len(pd.read_csv(path)) > 0, path


def assert_same_results(workdir: Path, finished: Path, pairs: list[str] = PAIRS) -> None:
    """Run files (labels, phi1's encoder theta) and votes bit-for-bit equal to the
    uninterrupted run's."""
    for pair in pairs:
        for seed in range(TINY["num_runs"]):
            run = f"results/tiny/hume/{pair}/k10/runs/seed{seed}.h5"
            phi1 = pair.split("--")[0]
            with h5py.File(workdir / run) as got, h5py.File(finished / run) as want:
                for name in ("labels", f"encoder/{phi1}"):
                    np.testing.assert_array_equal(got[name][()], want[name][()], err_msg=run)
        vote = f"results/tiny/hume/{pair}/vote.csv"
        pd.testing.assert_frame_equal(pd.read_csv(workdir / vote), pd.read_csv(finished / vote))


STAGES = ["prepare_dataset", "extract_embeddings", "run_hume", "majority_vote"]


def killed_at_each_stage_then_resumed(workdir: Path) -> Path:
    """The tiny config in ``workdir``, its whole workflow (Snakemake and its jobs) killed with
    SIGKILL once a job of each stage has started, resumed in between; checked on the way:
    nothing left looks complete, a plain run is refused with Snakemake's advice (--unlock),
    and after --unlock the same command succeeds (the profile reruns what was incomplete)."""
    logs = workdir / "results/tiny/logs"
    for i, stage in enumerate(STAGES):
        proc = start_snakemake(workdir, TINY, "--cores", "2")

        def started(stage: str = stage, proc: subprocess.Popen = proc) -> bool:
            assert proc.poll() is None, f"Snakemake ended before {stage} started"
            return any(logs.glob(f"{stage}.log")) or any(logs.glob(f"{stage}/**/*.log"))

        wait_for(started)
        time.sleep(0.5)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        assert_every_file_complete(workdir / "results")
        assert not (workdir / "results/tiny/report/index.html").exists()
        if i == 0:  # the killed Snakemake left its lock
            refused = run_snakemake(workdir, TINY, "--cores", "2")
            output = refused.stdout + refused.stderr
            assert refused.returncode != 0 and "--unlock" in output
        assert run_snakemake(workdir, TINY, "--unlock").returncode == 0
    resumed = run_snakemake(workdir, TINY, "--cores", "2")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    return workdir


@pytest.mark.background.with_args(killed_at_each_stage_then_resumed)
def test_sigkill_at_each_stage_then_unlock_and_resume_equals_an_uninterrupted_run(
    background, finished
):
    """Kill the whole workflow (Snakemake and its jobs) with SIGKILL once a job of each stage
    has started, resuming in between: nothing left looks complete, a plain run is refused
    with Snakemake's advice, and --unlock + the same command end with the labels of an
    uninterrupted run. (The kills and resumes, with their checks, are made in the
    background from the start of the session: tests/conftest.py.)"""
    workdir = background.result(killed_at_each_stage_then_resumed)
    assert_same_results(workdir, finished)
    assert not list((workdir / "results").rglob("*.tmp.part"))  # killed writes cleaned up


@pytest.fixture
def workdir(finished, tmp_path):
    """A copy of the finished tiny workflow (mtimes kept)."""
    shutil.copytree(finished, tmp_path / "tiny")
    return tmp_path / "tiny"


def test_a_second_instance_on_the_same_directory_is_refused(workdir):
    """While a workflow runs, a second Snakemake there stops before touching anything: on the
    first instance's lock (or its outputs under way, marked incomplete), and with
    --rerun-incomplete on the lock."""
    slow = {**TINY, "hume": {**TINY["hume"], "num_iters": 100000}}  # HUME jobs that last
    logs = workdir / "results/tiny/logs/run_hume"
    shutil.rmtree(logs)  # the copied run's logs
    # one HUME job at a time: a core for the others
    first = start_snakemake(workdir, slow, "--cores", "1")

    def started() -> bool:
        assert first.poll() is None, "the first instance ended"
        return any(logs.glob("**/*.log"))

    wait_for(started)
    try:
        second = run_snakemake(workdir, slow, "--cores", "1")
        output = second.stdout + second.stderr
        assert second.returncode != 0
        assert "Directory cannot be locked" in output or "IncompleteFilesException" in output
        forced = run_snakemake(workdir, slow, "--cores", "1", "--rerun-incomplete")
        assert forced.returncode != 0
        assert "Directory cannot be locked" in forced.stdout + forced.stderr
        assert first.poll() is None
    finally:
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()


def forced_hume(workdir: Path, config: dict, env: dict) -> subprocess.CompletedProcess:
    """Re-run the first pair's HUME jobs and its vote, with ``env`` added."""
    target = f"results/tiny/hume/{PAIRS[0]}/vote.csv"
    return run_snakemake(
        workdir, config, "--cores", "2", target, "--forcerun", "run_hume", env=os.environ | env
    )


def test_a_transient_failure_is_retried(finished, workdir):
    """HUME_FAIL_ONCE fails one HUME job on its first attempt: with compute.retries 0 the
    workflow stops; with the default 1 it completes. The re-run HUME jobs (new processes, same
    config and seeds) give bit-identical labels and theta: runs are reproducible on the CPU."""
    job = f"run_hume:{PAIRS[0]}:k10:job1"
    log = workdir / f"results/tiny/logs/run_hume/{PAIRS[0]}/k10/job1.log"

    no_retry = {**TINY, "compute": {"retries": 0}}
    failed = forced_hume(workdir, no_retry, {"HUME_FAIL_ONCE": job})
    assert failed.returncode != 0
    assert f"HUME_FAIL_ONCE={job}: injected failure of {job}" in failed.stdout + failed.stderr

    Path(f"{log}.failed-once").unlink()
    retried = forced_hume(workdir, TINY, {"HUME_FAIL_ONCE": job})
    assert retried.returncode == 0, retried.stderr[-3000:]
    output = retried.stdout + retried.stderr
    assert f"injected failure of {job}" in output and "Trying to restart job" in output
    assert "injected failure" not in log.read_text()  # the log of the attempt that succeeded
    assert_same_results(workdir, finished, PAIRS[:1])
