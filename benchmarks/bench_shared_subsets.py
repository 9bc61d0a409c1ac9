"""Independent against shared subset draws, and one run per job against many, on a config.

    python benchmarks/bench_shared_subsets.py                        # the digits demo
    python benchmarks/bench_shared_subsets.py --configfile config/fashion_mnist.yaml

Runs the whole workflow (``snakemake --cores``) from nothing, once per variant, each in its
own folder: one run per job (the default), ``--runs-per-job`` runs per job with independent
draws (the same runs, faster), and the same with ``hume.shared_subsets``. Prints, per pair
and variant, the vote's ACC, the runs' mean and spread of ACC, the Pearson correlation of
generalisation score with ACC, and the workflow's wall time; writes
benchmarks/out/shared_subsets.csv.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import yaml

REPO = Path(__file__).resolve().parents[1]
COLUMNS = ["vote_acc", "run_acc_mean", "run_acc_std", "pearson_score_acc"]


def run_workflow(workdir: Path, configfile: Path, overrides: dict, cores: int) -> float:
    """Run the workflow in ``workdir`` on ``configfile`` with ``overrides``; wall seconds."""
    (workdir / "overrides.yaml").write_text(yaml.safe_dump(overrides))
    cmd = [
        sys.executable,
        "-m",
        "snakemake",
        "--snakefile",
        str(REPO / "Snakefile"),
        "--configfile",
        str(configfile),
        "overrides.yaml",
        "--cores",
        str(cores),
    ]
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"bench_shared_subsets: snakemake failed in {workdir}:\n{proc.stderr[-3000:]}")
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--configfile", type=Path, default=REPO / "config/config.yaml")
    parser.add_argument("--runs-per-job", type=int, default=8)
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks/out/shared_subsets.csv")
    args = parser.parse_args()
    configfile = args.configfile.resolve()
    dataset = yaml.safe_load(configfile.read_text())["dataset"]["name"]
    variants = {
        "one run per job": {},
        f"{args.runs_per_job} runs per job": {"compute": {"runs_per_job": args.runs_per_job}},
        f"{args.runs_per_job} runs per job, shared subsets": {
            "compute": {"runs_per_job": args.runs_per_job},
            "hume": {"shared_subsets": True},  # merged into the config's own hume section
        },
    }
    rows = []
    for name, overrides in variants.items():
        with tempfile.TemporaryDirectory() as tmp:
            wall = run_workflow(Path(tmp), configfile, overrides, args.cores)
            summary = pd.read_csv(Path(tmp) / f"results/{dataset}/report/summary.csv")
            for _, pair in summary.iterrows():
                rows.append(
                    {
                        "variant": name,
                        "pair": f"{pair.phi1} -> {pair.phi2}",
                        **{c: round(pair[c], 3) for c in COLUMNS},
                        "workflow_wall_s": round(wall),
                    }
                )
                print(json.dumps(rows[-1]), flush=True)
    table = pd.DataFrame(rows)
    print(table.to_markdown(index=False))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out, index=False)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
