"""The inner step as a multiple of 1 / lambda_max (hume.inner_lr_mode: relative) against the
demo's fixed inner_lr 0.1, on pools of runs.

    python benchmarks/run_pool.py --case digits --direction pixels--efficientnet_lite0 \
        --runs 16 --set inner_lr_mode=relative inner_lr=1 --tag rel1     # per pair and c
    python benchmarks/inner_step.py

For every pool ``<case>_<pair>_uniform_rel<c>.npz`` and the first as many seeds of the fixed
pool ``<case>_<pair>_uniform.npz`` (the demo's budget, inner_lr 0.1): the mean run ACC, the
vote's ACC (all runs, equal weights), the mean clusters used and the collapsed runs, with 95 %
percentile bootstrap intervals over the runs (1000 resamples). Writes
benchmarks/out/inner_step.csv and prints it as markdown.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from aggregation import POOLS, Pool  # benchmarks/aggregation.py

from hume_workflow.aggregate.collapse import collapsed
from hume_workflow.report.uncertainty import percentile_interval


def row(pool: Pool, seeds: np.ndarray, label: str, rng: np.random.Generator) -> dict:
    """The pool's quantities over the runs ``seeds`` (indices), with bootstrap intervals."""
    acc = pool.acc[seeds]
    used = np.array([len(np.unique(pool.runs.labels[i])) for i in seeds])
    draws = [rng.choice(seeds, len(seeds)) for _ in range(1000)]
    mean_reps = [pool.acc[d].mean() for d in draws]
    vote_reps = [pool.vote_acc(d, None, "uniform") for d in draws]
    return {
        "pool": label,
        "runs": len(seeds),
        "run_acc_mean": acc.mean(),
        "run_acc_interval": percentile_interval(np.array(mean_reps), 0.95),
        "vote_acc": pool.vote_acc(seeds, None, "uniform"),
        "vote_acc_interval": percentile_interval(np.array(vote_reps), 0.95),
        "clusters_used_mean": used.mean(),
        "collapsed": int(sum(collapsed(pool.runs.labels[i], pool.k) for i in seeds)),
    }


def main() -> None:
    rng, rows = np.random.default_rng(0), []
    for path in sorted(POOLS.glob("*_uniform_rel*.npz")):
        relative = Pool(path)
        stem = path.stem.rsplit("_", 1)[0]
        fixed = Pool(POOLS / f"{stem}.npz")
        n = len(relative.acc)
        rows.append(row(fixed, np.arange(n), f"{stem} fixed 0.1", rng))
        rows.append(row(relative, np.arange(n), path.stem, rng))
    table = pd.DataFrame(rows).drop_duplicates("pool")
    for name in ("run_acc_interval", "vote_acc_interval"):
        table[name] = table[name].map(lambda x: f"[{x[0]:.3f}, {x[1]:.3f}]")
    table.to_csv(Path(__file__).parent / "out" / "inner_step.csv", index=False)
    print(table.to_markdown(index=False, floatfmt=".3f"))


if __name__ == "__main__":
    main()
