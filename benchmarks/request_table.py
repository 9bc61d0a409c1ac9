"""The first-attempt scheduler requests of each shipped config, as SLURM would receive them.

Plans every config under config/ with ``snakemake --dry-run --profile profiles/slurm`` in an
empty working directory (before any file exists), with placeholder checkpoints and, for
ImageNet, a placeholder folder of 1000 empty classes (scanned, never decoded; the requests
count ImageNet's published 1.28 M images). Prints the README's table and writes CSV.

    python benchmarks/request_table.py [--out benchmarks/out/requests.csv]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from tiny_workflow import planned_requests, stand_in_overrides  # noqa: E402


def plan(config: Path) -> str:
    """The dry-run log of ``config`` through the SLURM profile."""
    preset = yaml.safe_load(config.read_text())
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [
            sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"),
            "--profile", str(REPO / "profiles/slurm"), "--configfile", str(config),
            "--dry-run", *stand_in_overrides(preset, Path(tmp)),
        ]  # fmt: skip
        proc = subprocess.run(cmd, cwd=tmp, capture_output=True, text=True)
    if proc.returncode:
        raise SystemExit(f"{config}: dry run failed\n{proc.stderr[-2000:]}")
    return proc.stdout


def largest(jobs: list[dict[str, int]]) -> str:
    job = max(jobs, key=lambda r: (r["runtime"], r["mem_mb"]))
    return f"{job.get('gpu', 0)} / {job['mem_mb']} / {job['runtime']}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="benchmarks/out/requests.csv")
    args = parser.parse_args()
    rows = []
    for config in sorted((REPO / "config").glob("*.yaml")):
        log = plan(config)
        embed = planned_requests(log, "extract_embeddings")
        methods = {
            name: planned_requests(log, f"run_{name.lower()}") for name in ("HUME", "TURTLE")
        }
        runs = [job for jobs in methods.values() for job in jobs]
        rows.append(
            {
                "config": f"`config/{config.name}`",
                "method jobs": " + ".join(f"{len(j)} {name}" for name, j in methods.items() if j),
                "largest embedding job: GPUs / mem_mb / minutes": largest(embed),
                "largest method job: GPUs / mem_mb / minutes": largest(runs),
            }
        )
    table = pd.DataFrame(rows)
    print(table.to_markdown(index=False))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out, index=False)


if __name__ == "__main__":
    main()
