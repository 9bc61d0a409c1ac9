"""HUME against TURTLE on the same spaces: one row per task of a finished results tree.

    python benchmarks/compare_methods.py /tmp/exp/digits/w/results/digits
    python benchmarks/compare_methods.py results/fashion_mnist --out benchmarks/out/fm.csv

Reads what the workflow wrote (report/summary.csv, each task's chosen K's metrics.json and
its run files, recommendation.json) and prints, per task: the method, its spaces, K, the
vote's ACC, ARI and NMI with their 95 % bootstrap intervals (the report's), the Pearson
correlation of the generalisation score with ACC across the runs with its 95 % interval
(Fisher's z), the collapsed runs, the seconds per run (the runs' own ``wall_time_s``: a job's
training time over its runs, the generalisation score left out) and which task the label-free
recommendation picked. Two tasks compare by the interval rule of docs/algorithm.md#uncertainty:
intervals that do not overlap.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from hume_workflow.formats.run import read_runs


def pearson_interval(r: float, n: int) -> tuple[float, float]:
    """95 % interval of a Pearson correlation of n pairs (Fisher's z)."""
    if n < 4 or not np.isfinite(r) or abs(r) >= 1:
        return (float("nan"), float("nan"))
    z, half = math.atanh(r), 1.96 / math.sqrt(n - 3)
    return math.tanh(z - half), math.tanh(z + half)


#: The vote's metrics, as summary.csv names them (with their _low and _high bounds).
PARTS = {"ACC": "vote_acc", "ARI": "vote_ari", "NMI": "vote_nmi"}


def interval(row: pd.Series, part: str) -> str:
    """``value [low, high]`` of one of the vote's metrics."""
    low, high = row[f"{part}_low"], row[f"{part}_high"]
    return f"{row[part]:.3f} [{low:.3f}, {high:.3f}]"


def task_rows(results: Path) -> pd.DataFrame:
    """One row per task of ``results`` at its chosen K (the rows of report/summary.csv)."""
    summary = pd.read_csv(results / "report" / "summary.csv")
    recommended = json.loads((results / "recommendation.json").read_text())
    rows = []
    for _, row in summary.iterrows():
        folder = results / row["method"] / row["task"] / f"k{row['k']}"
        metrics = json.loads((folder / "metrics.json").read_text())
        runs = read_runs(sorted((folder / "runs").rglob("*.h5")))
        r = metrics["score_acc_pearson"]
        r = float("nan") if r is None else r  # undefined: constant scores or ACC
        low, high = pearson_interval(r, len(runs))
        rows.append(
            {
                "method": row["method"],
                "task": row["task"].replace("--", " → " if row["method"] == "hume" else " + "),
                "k": row["k"],
                "runs": row["runs"],
                **{name: interval(row, part) for name, part in PARTS.items()},
                "r(score, ACC)": f"{r:.2f} [{low:.2f}, {high:.2f}]",
                "collapsed": row["collapsed"],
                "s / run": round(float(np.mean([run.wall_time_s for run in runs.values()])), 1),
                "recommended": "yes"
                if (row["method"], row["task"]) == (recommended["method"], recommended["task"])
                else "",
            }
        )
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", type=Path, help="results/<dataset> of a finished run")
    parser.add_argument("--out", type=Path, help="also write the table as CSV here")
    args = parser.parse_args()
    table = task_rows(args.results)
    print(table.to_markdown(index=False))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        table.to_csv(args.out, index=False)


if __name__ == "__main__":
    main()
