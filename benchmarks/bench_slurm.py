"""Submitting many HUME runs to SLURM: one job each, job arrays, or Snakemake job groups.

Needs a live SLURM (``tests/cluster/slurm_up.sh`` brings up a one-node one). Runs the tests'
tiny config with ``--runs`` seeds per pair through ``--profile profiles/slurm`` three ways and
prints, per mode: wall time, sbatch calls, SLURM jobs (array tasks counted), and whether the
final labels equal those of the first mode. Writes the table as CSV.

    python benchmarks/bench_slurm.py --runs 8 --csv benchmarks/out/slurm.csv
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import tempfile
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "tests"), str(REPO / "tests" / "cluster")]

from slurm_run import cluster_problem, run_through_slurm  # noqa: E402
from tiny_workflow import TINY  # noqa: E402


def modes(runs_per_group: int) -> dict[str, tuple[str, ...]]:
    """Snakemake options of each submission mode.

    A group job asks for the sum of its members' CPUs and memory unless ``--cores`` caps it
    (the members then run partly in series): capped here at the test node's CPUs, without
    which a group of 8 one-CPU runs would wait forever for an 8-CPU node.
    """
    individual = ("--slurm-array-jobs", "none")
    return {
        "one job per run": individual,
        "job array (profile default)": (),
        f"groups of {runs_per_group} runs": (
            *individual,
            "--groups",
            "run_hume=hume",
            "--group-components",
            f"hume={runs_per_group}",
            "--cores",
            str(os.cpu_count()),
        ),
    }


def labels_digest(workdir: Path) -> str:
    """A hash of every pair's vote."""
    digest = hashlib.sha256()
    for vote in sorted(workdir.glob("results/*/hume/*/vote.csv")):
        digest.update(vote.read_bytes())
    return digest.hexdigest()[:12]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=8, help="HUME runs per pair (2 pairs)")
    parser.add_argument("--runs-per-group", type=int, default=8)
    parser.add_argument("--csv", type=Path, default=REPO / "benchmarks/out/slurm.csv")
    args = parser.parse_args()
    if problem := cluster_problem():
        sys.exit(f"bench_slurm: {problem}")
    config = {**TINY, "num_runs": args.runs}
    rows = []
    for mode, options in modes(args.runs_per_group).items():
        with tempfile.TemporaryDirectory() as tmp:
            run = run_through_slurm(Path(tmp), config, *options, timeout_s=900)
            if run.returncode != 0:
                sys.exit(f"bench_slurm: {mode} failed:\n{run.log[-3000:]}")
            rows.append(
                {
                    "mode": mode,
                    "hume_runs": 2 * args.runs,
                    "wall_s": round(run.wall_s, 1),
                    "sbatch_calls": run.sbatch_calls,
                    "slurm_jobs": len(run.slurm_jobs),
                    "labels": labels_digest(Path(tmp)),
                }
            )
            print(rows[-1], flush=True)
    table = pd.DataFrame(rows)
    table["same_labels"] = table.labels == table.labels.iloc[0]
    print(table.to_markdown(index=False))
    args.csv.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.csv, index=False)
    print(f"wrote {args.csv}")


if __name__ == "__main__":
    main()
