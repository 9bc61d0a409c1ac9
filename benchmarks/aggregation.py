"""How to aggregate HUME runs, and how the task encoder should start: measured on pools of runs.

    python benchmarks/aggregation.py                       # every pool under benchmarks/out/pools
    python benchmarks/aggregation.py --pools digits_efficientnet_lite0--pixels_uniform

Reads the pools of ``benchmarks/run_pool.py`` (R runs of one (dataset, phi1--phi2, encoder
start) at the demo's budget). Three tables, each printed as markdown and written as CSV:

``aggregation.csv``: for m runs per vote (8, 16, 32), ``--draws`` random sets of m runs of the
pool (without replacement); on each set every aggregation of :data:`METHODS` votes (the set
ranked by score, the top n kept, aligned to the best, weighted): the vote's ACC, mean and 95 %
interval over the sets, and its paired difference to voting all m with equal weights. Sets
drawn from a finite pool overlap, so for m near R the spread understates a fresh draw's.

``aggregation_by_n.csv`` (and its figure ``.png``): vote ACC against the number of runs:
``all`` of m random runs for m = 1..R and ``top`` n of 32 random runs by score, mean and 95 %
band over the sets.

``encoder_init.csv``: per pool (both encoder starts of a dataset and direction side by side),
the mean and best run ACC, Pearson and Spearman r(score, ACC) and the all-run vote's ACC,
each with a 95 % bootstrap interval over the runs (``--resamples``), and the difference of
the mean run ACC between the two starts with its interval.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from hume_workflow.aggregate.alignment import weighted_votes
from hume_workflow.aggregate.weights import run_weights
from hume_workflow.report.uncertainty import (
    PairRuns,
    confusion_counts,
    matched_accuracy,
    percentile_interval,
    run_statistics,
)

POOLS = Path(__file__).parent / "out" / "pools"
OUT = Path(__file__).parent / "out"
#: name -> (top_n as a function of m or None for all, weights)
METHODS = {
    "all": (None, "uniform"),
    "top 1": (lambda m: 1, "uniform"),
    "top 2": (lambda m: 2, "uniform"),
    "top 4": (lambda m: 4, "uniform"),
    "top half": (lambda m: m // 2, "uniform"),
    "score-weighted": (None, "score"),
    "kappa-weighted": (None, "kappa"),
    "top half, kappa-weighted": (lambda m: m // 2, "kappa"),
}


class Pool:
    """A pool of runs with every pairwise alignment computed once."""

    def __init__(self, path: Path) -> None:
        with np.load(path) as pool:
            labels, truth = pool["labels"].astype(np.int64), pool["truth"].astype(np.int64)
            self.scores, self.kappas = pool["scores"], pool["kappas"]
        self.name, self.truth = path.stem, truth
        self.k = int(truth.max()) + 1
        self.runs = PairRuns(labels, self.scores, self.kappas, self.k, None, "uniform")
        self.lookups = self.runs.alignments()
        self.acc = np.array([accuracy(row, truth, self.k) for row in labels])

    def vote(
        self, members: np.ndarray, top_n: int | None = None, weights: str = "uniform"
    ) -> np.ndarray:
        """(N,) the vote of the runs ``members`` (indices into the pool) aggregated so."""
        voting = self.runs.ranked(members, top_n)
        aligned = self.runs.aligned(voting, self.lookups)
        return weighted_votes(
            aligned, self.k, run_weights(self.scores[voting], self.kappas[voting], weights)
        )

    def accuracy_of(self, labels: np.ndarray) -> float:
        """Hungarian-matched ACC of ``labels`` (N,) against the pool's truth."""
        return accuracy(labels, self.truth, self.k)

    def vote_acc(self, members: np.ndarray, top_n: int | None, weights: str) -> float:
        """ACC of the vote of the runs ``members`` (indices into the pool) aggregated so."""
        return self.accuracy_of(self.vote(members, top_n, weights))


def accuracy(labels: np.ndarray, truth: np.ndarray, k: int) -> float:
    """Hungarian-matched ACC (the report's)."""
    return matched_accuracy(confusion_counts(labels, truth, k))


def summary(values: np.ndarray) -> dict[str, float]:
    """Mean and 95 % percentile interval of ``values``."""
    low, high = percentile_interval(values, 0.95)
    return {"mean": float(np.mean(values)), "low": low, "high": high}


def aggregation_table(pool: Pool, draws: int, rng: np.random.Generator) -> list[dict]:
    """Rows of aggregation.csv for one pool."""
    rows, n_pool = [], len(pool.acc)
    for m in (8, 16, 32):
        if m > n_pool:
            continue
        sets = [rng.choice(n_pool, size=m, replace=False) for _ in range(draws)]
        accs = {
            name: np.array([pool.vote_acc(s, top(m) if top else None, w) for s in sets])
            for name, (top, w) in METHODS.items()
        }
        for name, values in accs.items():
            diff = summary(values - accs["all"])
            rows.append(
                {
                    "pool": pool.name,
                    "m": m,
                    "method": name,
                    **{f"acc_{k}": v for k, v in summary(values).items()},
                    **{f"vs_all_{k}": v for k, v in diff.items()},
                }
            )
    return rows


def by_n_table(pool: Pool, draws: int, rng: np.random.Generator) -> list[dict]:
    """Rows of aggregation_by_n.csv for one pool."""
    rows, n_pool = [], len(pool.acc)
    for m in range(1, n_pool + 1):
        values = [
            pool.vote_acc(rng.choice(n_pool, m, replace=False), None, "uniform")
            for _ in range(draws)
        ]
        rows.append(
            {
                "pool": pool.name,
                "curve": "all of m random runs",
                "n": m,
                **summary(np.array(values)),
            }
        )
    base = min(32, n_pool)
    sets = [rng.choice(n_pool, base, replace=False) for _ in range(draws)]
    for n in range(1, base + 1):
        values = np.array([pool.vote_acc(s, n, "uniform") for s in sets])
        rows.append(
            {"pool": pool.name, "curve": f"top n of {base} by score", "n": n, **summary(values)}
        )
    return rows


def run_quantities(pool: Pool, drawn: np.ndarray) -> dict[str, float]:
    """The runs ``drawn`` (indices, with repeats): :func:`run_statistics` and the all-run
    vote's ACC."""
    vote = pool.vote_acc(drawn, None, "uniform")
    return {**run_statistics(pool.scores[drawn], pool.acc[drawn]), "vote_acc": vote}


def encoder_table(pools: dict[str, Pool], resamples: int, rng: np.random.Generator) -> list[dict]:
    """Rows of encoder_init.csv: each pool's quantities with intervals over resamples of its
    runs (with replacement), then uniform minus haar."""
    rows, points, replicates = [], {}, {}
    for name, pool in pools.items():
        n_pool = len(pool.acc)
        points[name] = run_quantities(pool, np.arange(n_pool))
        draws = [run_quantities(pool, rng.integers(n_pool, size=n_pool)) for _ in range(resamples)]
        replicates[name] = {key: np.array([d[key] for d in draws]) for key in points[name]}
        row = {"pool": name, "runs": n_pool}
        for key, value in points[name].items():
            low, high = percentile_interval(replicates[name][key], 0.95)
            row |= {key: float(value), f"{key}_low": low, f"{key}_high": high}
        rows.append(row)
    for name in pools:
        other = name.replace("_uniform", "_haar")
        if name.endswith("_uniform") and other in pools:
            row = {"pool": f"{name.removesuffix('_uniform')}: uniform - haar", "runs": None}
            for key in ("run_acc_mean", "pearson", "vote_acc"):
                diff = replicates[name][key] - replicates[other][key]
                low, high = percentile_interval(diff, 0.95)
                row |= {
                    key: points[name][key] - points[other][key],
                    f"{key}_low": low,
                    f"{key}_high": high,
                }
            rows.append(row)
    return rows


def plot_by_n(table: pd.DataFrame, path: Path) -> None:
    """One panel per pool: vote ACC against the number of runs, mean and 95 % band."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pools = list(dict.fromkeys(table.pool))
    fig, axes = plt.subplots(1, len(pools), figsize=(3.6 * len(pools), 3.0), squeeze=False)
    for ax, pool in zip(axes[0], pools, strict=True):
        for (curve, part), colour in zip(
            table[table.pool == pool].groupby("curve", sort=False),
            ("#0072B2", "#D55E00"),
            strict=False,
        ):
            ax.plot(part.n, part["mean"], c=colour, label=curve)
            ax.fill_between(part.n, part.low, part.high, color=colour, alpha=0.2)
        ax.set_title(
            pool.removesuffix("_uniform").replace("efficientnet_lite0", "effnet"), fontsize=9
        )
        ax.set_xlabel("runs in the vote")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("vote ACC (mean, 95 % of sets)")
    axes[0][0].legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=80)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pools", nargs="+", help="pool names (default: every pool)")
    parser.add_argument("--draws", type=int, default=200, help="random run sets per m")
    parser.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    names = args.pools or sorted(p.stem for p in POOLS.glob("*.npz") if not p.stem.endswith(".tmp"))
    pools = {name: Pool(POOLS / f"{name}.npz") for name in names}
    rng = np.random.default_rng(args.seed)
    default = [p for name, p in pools.items() if not name.endswith("_haar")]  # the default start
    tables = {
        "aggregation": [r for p in default for r in aggregation_table(p, args.draws, rng)],
        "aggregation_by_n": [r for p in default for r in by_n_table(p, args.draws, rng)],
        "encoder_init": encoder_table(pools, args.resamples, rng),
    }
    for name, rows in tables.items():
        table = pd.DataFrame(rows)
        table.to_csv(OUT / f"{name}.csv", index=False)
        if name == "aggregation_by_n":
            plot_by_n(table, OUT / f"{name}.png")
        if name != "aggregation_by_n":
            print(f"\n## {name}\n")
            print(table.to_markdown(index=False, floatfmt=".3f"))


if __name__ == "__main__":
    main()
