"""How often the report's bootstrap intervals cover the value they estimate, per interval kind.

    python benchmarks/interval_coverage.py                  # the digits pools, m = 8 and 16
    python benchmarks/interval_coverage.py --pools fashion_efficientnet_lite0--pixels_uniform

A pool of ``benchmarks/run_pool.py`` (64 runs of one pair) stands in for the population of
seeds. For m runs per pair (8, 16), ``--sets`` random sets of m runs of the pool are each
resampled as :func:`~hume_workflow.report.uncertainty.bootstrap_pair` does (all runs voted
with equal weights, ``--resamples`` resamples) and given each kind of interval. An interval
covers when it holds the population value: for the vote's ACC and mean agreement, their mean
over ``--targets`` random m-run sets of the pool (the expected result of m fresh seeds); for
the mean run ACC and Pearson r(score, ACC), their value over the whole pool. The samples are
the pool's own, so resampling them too makes every interval a little wider than this target
needs.
Writes benchmarks/out/interval_coverage.csv and prints it as markdown.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
from aggregation import POOLS, Pool  # benchmarks/aggregation.py

from hume_workflow.report.uncertainty import (
    INTERVAL_KINDS,
    Bootstrap,
    PairRuns,
    bootstrap_replicates,
)

QUANTITIES = ("vote_acc", "mean_agreement", "run_acc_mean", "pearson")


def population(pool: Pool, m: int, targets: int, rng: np.random.Generator) -> dict[str, float]:
    """The value each quantity estimates for sets of m runs of ``pool``."""
    votes, agreements = [], []
    for _ in range(targets):
        members = pool.runs.ranked(rng.choice(len(pool.acc), m, replace=False), None)
        aligned = pool.runs.aligned(members, pool.lookups)
        vote = pool.vote(members)
        votes.append(pool.accuracy_of(vote))
        agreements.append(float((aligned == vote).mean()))
    return {
        "vote_acc": float(np.mean(votes)),
        "mean_agreement": float(np.mean(agreements)),
        "run_acc_mean": float(pool.acc.mean()),
        "pearson": float(np.corrcoef(pool.scores, pool.acc)[0, 1]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pools", nargs="+", help="pool names (default: the digits pools)")
    parser.add_argument("--sets", type=int, default=60, help="random run sets per m")
    parser.add_argument("--targets", type=int, default=500, help="sets averaged for targets")
    parser.add_argument("--resamples", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    names = args.pools or sorted(p.stem for p in POOLS.glob("digits_*_uniform.npz"))
    rng, rows = np.random.default_rng(args.seed), []
    for name in names:
        pool = Pool(POOLS / f"{name}.npz")
        for m in (8, 16):
            target = population(pool, m, args.targets, rng)
            hits = {(kind, q): [] for kind in INTERVAL_KINDS for q in QUANTITIES}
            widths = {key: [] for key in hits}
            for _ in range(args.sets):
                members = np.sort(rng.choice(len(pool.acc), m, replace=False))
                order = members[np.argsort(-pool.scores[members], kind="stable")]
                runs = PairRuns(
                    pool.runs.labels[order],
                    pool.scores[order],
                    pool.kappas[order],
                    pool.k,
                    None,
                    "uniform",
                )
                seed = int(rng.integers(2**31))
                setup = Bootstrap(args.resamples, 0.95, seed)
                reps = bootstrap_replicates(runs, pool.truth, pool.acc[order], setup, curve=False)
                for kind in INTERVAL_KINDS:
                    setup = Bootstrap(args.resamples, 0.95, seed, kind)
                    for q in QUANTITIES:
                        found = setup.interval(np.array(reps.values[q]), reps.point[q])
                        low, high = found or (np.nan, np.nan)
                        hits[kind, q].append(low <= target[q] <= high)
                        widths[kind, q].append(high - low)
            for (kind, q), covered in hits.items():
                rows.append(
                    {
                        "pool": name,
                        "m": m,
                        "quantity": q,
                        "interval_kind": kind,
                        "target": target[q],
                        "coverage": float(np.mean(covered)),
                        "sets": args.sets,
                        "mean_width": float(np.nanmean(widths[kind, q])),
                    }
                )
            print(f"{name} m={m} done", flush=True)
    table = pd.DataFrame(rows)
    table.to_csv(Path(__file__).parent / "out" / "interval_coverage.csv", index=False)
    print(table.to_markdown(index=False, floatfmt=".3f"))


if __name__ == "__main__":
    main()
