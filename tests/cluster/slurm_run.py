"""Run the workflow through ``--profile profiles/slurm`` on a live SLURM and count its jobs.

Shared by ``tests/test_slurm.py`` and ``benchmarks/bench_slurm.py``. The test cluster of
``slurm_up.sh`` has no accounting database, so job status is polled with ``squeue`` (its
slurm.conf keeps finished jobs visible for ``MinJobAge`` = 600 s) and the plugin's first status
check comes after 1 s instead of 40 s.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
PROFILE = REPO / "profiles" / "slurm"
TEST_CLUSTER_ARGS = (
    "--slurm-init-seconds-before-status-checks",
    "1",
    "--slurm-status-command",
    "squeue",
)


@dataclass
class SlurmRun:
    """What one workflow run through SLURM did."""

    returncode: int
    wall_s: float
    run_id: str | None  # the plugin's run UUID, the SLURM job name of all its jobs
    sbatch_calls: int  # one per job, or one per array
    slurm_jobs: list[str]  # job ids SLURM knows under run_id (array tasks as <id>_<task>)
    log: str


def controller_refuses() -> str | None:
    """Why no controller can answer, where slurm.conf names controllers that all refuse
    connections at once (their host up, nothing listening: the cluster of slurm_up.sh
    stopped), else None: SLURM's own tools retry for about 9 s before they give up on them.
    """
    conf = Path(os.environ.get("SLURM_CONF", "/etc/slurm/slurm.conf"))
    try:
        text = conf.read_text()
    except OSError:
        return None
    hosts = re.findall(r"^\s*SlurmctldHost\s*=\s*(\S+)", text, re.M | re.I)
    port = re.findall(r"^\s*SlurmctldPort\s*=\s*(\d+)", text, re.M | re.I)
    port = int(port[0]) if port else 6817
    addresses = []
    for host in hosts:
        named = re.fullmatch(r"[^(]+\(([^)]+)\)", host)  # name(address)
        addresses.append(named.group(1) if named else host)
    for address in addresses:
        try:
            socket.create_connection((address, port), timeout=2).close()
        except ConnectionRefusedError:
            continue
        except OSError:
            return None  # unreachable or slow: sinfo tells
        return None  # a controller listens
    if not addresses:
        return None
    where = ", ".join(f"{address}:{port}" for address in addresses)
    return f"no SLURM controller answers at {where} ({conf}; slurm_up.sh?)"


def cluster_problem() -> str | None:
    """Why no SLURM job can run here (None when sbatch and an idle or busy node answer)."""
    if shutil.which("sbatch") is None:
        return "no SLURM here: sbatch not found (tests/cluster/slurm_up.sh brings one up)"
    refused = controller_refuses()
    if refused is not None:
        return refused
    try:
        states = subprocess.run(
            ["sinfo", "--noheader", "--format=%t"], capture_output=True, text=True, timeout=10
        ).stdout.split()
    except subprocess.TimeoutExpired:
        return "no SLURM here: sinfo did not answer within 10 s"
    if not {"idle", "mix", "alloc"} & {state.rstrip("*") for state in states}:
        return f"no usable SLURM node (sinfo states: {states or 'none'}; slurm_up.sh?)"
    return None


def jobs_named(name: str) -> list[str]:
    """SLURM job ids (array tasks as <id>_<task>) of the jobs called ``name``, finished too."""
    out = subprocess.run(
        ["squeue", "--noheader", "--states=all", f"--name={name}", "--format=%i"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return sorted(out.split())


def run_through_slurm(workdir: Path, config: dict, *args: str, timeout_s: int = 280) -> SlurmRun:
    """Run the workflow in ``workdir`` on ``config`` through the SLURM profile.

    ``args`` are extra Snakemake options (e.g. ``--groups``); the run is killed after
    ``timeout_s`` so a scheduler that never answers cannot hang CI.
    """
    (workdir / "config.yaml").write_text(yaml.safe_dump(config))
    cmd = [
        "timeout",
        "--kill-after=30",
        str(timeout_s),
        sys.executable,
        "-m",
        "snakemake",
        "--snakefile",
        str(REPO / "Snakefile"),
        "--profile",
        str(PROFILE),
        *TEST_CLUSTER_ARGS,
        "--configfile",
        "config.yaml",
        *args,
    ]
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True)
    wall = time.perf_counter() - start
    log = proc.stdout + proc.stderr
    match = re.search(r"SLURM run ID: (\S+)", log)
    run_id = match.group(1) if match else None
    sbatch_calls = len(re.findall(r"has been submitted with SLURM jobid|Submitted array job", log))
    return SlurmRun(
        returncode=proc.returncode,
        wall_s=wall,
        run_id=run_id,
        sbatch_calls=sbatch_calls,
        slurm_jobs=jobs_named(run_id) if run_id else [],
        log=log,
    )
