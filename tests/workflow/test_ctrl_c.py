"""Ctrl-C, and a Snakemake killed under its jobs: the same command again resumes.

A terminal's Ctrl-C sends SIGINT to its whole foreground process group: Snakemake and the
jobs it runs. Each job ends its log in one line (hume_workflow.logs), which Snakemake shows
(show-failed-logs), with no traceback; the profile's rerun-incomplete redoes what was under
way. One job stopped by a signal, without Snakemake: tests/unit/test_job_signals.py.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from tiny_workflow import TINY, run_snakemake, start_snakemake, wait_for

# The efficientnet embedding job: it takes both of the 2 cores, so it runs alone, and lasts
# seconds after its log appears (log_to_file comes before its heavy imports)
EMBED_LOG = "results/tiny/logs/extract_embeddings/efficientnet_lite0.log"
EMBEDDING = "results/tiny/embeddings/efficientnet_lite0.h5"
COMMAND = ("--cores", "2")


def embedding_started(workdir: Path, proc: subprocess.Popen) -> None:
    """Wait until the efficientnet embedding job has opened its log."""

    def started() -> bool:
        assert proc.poll() is None, "Snakemake ended before the embedding job started"
        return (workdir / EMBED_LOG).exists()

    wait_for(started)


def ctrl_c_then_the_same_command(workdir: Path) -> dict:
    """The tiny config, Ctrl-C'd (SIGINT to Snakemake's process group) during the embedding
    job, then the same command again: {"code": the interrupted run's exit status, "output":
    its terminal output, "resumed": the second run, "workdir"}."""
    output = workdir / "interrupted.txt"
    proc = start_snakemake(workdir, TINY, *COMMAND, output=output)
    embedding_started(workdir, proc)
    time.sleep(0.5)
    os.killpg(proc.pid, signal.SIGINT)
    code = proc.wait(timeout=300)  # Snakemake waits for its jobs to stop
    resumed = run_snakemake(workdir, TINY, *COMMAND)
    return {"code": code, "output": output.read_text(), "resumed": resumed, "workdir": workdir}


@pytest.mark.background.with_args(ctrl_c_then_the_same_command)
def test_ctrl_c_is_one_line_and_the_same_command_resumes(background):
    """The interrupted run prints the job's one line, no traceback; the same command again
    completes the workflow, with no --unlock and no --rerun-incomplete, and leaves no
    temporary file. (Made in the background from the start of the session:
    tests/conftest.py.)"""
    runs = background.result(ctrl_c_then_the_same_command)
    workdir = runs["workdir"]
    assert runs["code"] != 0
    assert "Traceback" not in runs["output"], runs["output"][-5000:]
    interrupted = "Interrupted by SIGINT (Ctrl-C): the job stopped; run the same command again"
    assert interrupted in runs["output"], runs["output"][-5000:]
    resumed = runs["resumed"]
    output = resumed.stdout + resumed.stderr
    assert resumed.returncode == 0, output[-5000:]
    assert "LockException" not in output and "IncompleteFilesException" not in output
    assert (workdir / "results/tiny/report/index.html").exists()
    assert not list((workdir / "results").rglob("*.tmp.part"))


def killed_snakemake_then_the_same_command(workdir: Path) -> dict:
    """The tiny config with Snakemake alone killed (SIGKILL) during the embedding job, which
    runs on and writes its file; then --unlock, and the same command as a dry run:
    {"unlock": ..., "plan": ...} (CompletedProcess)."""
    proc = start_snakemake(workdir, TINY, *COMMAND, output=workdir / "killed.txt")
    embedding_started(workdir, proc)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)
    wait_for((workdir / EMBEDDING).exists)  # whole (renamed into place), marked incomplete
    unlock = run_snakemake(workdir, TINY, "--unlock")
    plan = run_snakemake(workdir, TINY, *COMMAND, "--dry-run")
    return {"unlock": unlock, "plan": plan}


@pytest.mark.background.with_args(killed_snakemake_then_the_same_command)
def test_after_a_kill_and_unlock_the_same_command_redoes_the_job_under_way(background):
    """A killed Snakemake leaves its lock (Snakemake asks for --unlock) and the output of
    the job under way marked incomplete: after --unlock, the same command plans that job
    again instead of stopping on IncompleteFilesException."""
    runs = background.result(killed_snakemake_then_the_same_command)
    assert runs["unlock"].returncode == 0, runs["unlock"].stderr[-3000:]
    plan = runs["plan"]
    output = plan.stdout + plan.stderr
    assert plan.returncode == 0, output[-5000:]
    assert "IncompleteFilesException" not in output
    assert f"output: {EMBEDDING}\n" in output  # whole, but redone: it was under way
