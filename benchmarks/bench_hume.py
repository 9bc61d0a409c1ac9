"""Seconds per outer iteration of one HUME run, at the paper's budget and at the demo's.

    python benchmarks/bench_hume.py --iters 2 --threads 2

Uses random features of the digits demo's shapes (N = 1797, phi1 64-d, phi2 1280-d or the
demo's 64-d PCA) so it needs no pipeline output. Prints a table and writes
benchmarks/out/hume.csv.
"""

from __future__ import annotations

import argparse
import dataclasses
import multiprocessing
import resource
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from hume_workflow.hume import HumeConfig, run_hume

DEMO = {"num_subsets": 5, "subset_size": 1000, "adaptation_steps": 20, "inner_lr": 0.1}
CASES = {  # name: (phi2 dim, overrides of the paper's hyperparameters)
    "paper defaults, phi2 1280-d": (1280, {}),
    "paper defaults, phi2 64-d": (64, {}),
    "demo budget, phi2 64-d": (64, DEMO),
}


def time_case(d2: int, overrides: dict, iters: int, threads: int) -> tuple[float, float]:
    """(seconds per outer iteration, peak RSS in MB) of one run, in this process."""
    torch.set_num_threads(threads)
    rng = np.random.default_rng(0)
    phi1 = rng.normal(size=(1797, 64)).astype(np.float32)
    phi2 = rng.normal(size=(1797, d2)).astype(np.float32)
    config = dataclasses.replace(HumeConfig(num_classes=10, **overrides), num_iters=iters)
    run_hume(
        phi1, phi2, dataclasses.replace(config, num_iters=1), seed=0, progress=False
    )  # warm-up
    start = time.perf_counter()
    run_hume(phi1, phi2, config, seed=0, progress=False)
    per_iter = (time.perf_counter() - start) / iters
    return per_iter, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iters", type=int, default=2, help="outer iterations timed per case")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default="benchmarks/out/hume.csv")
    args = parser.parse_args()
    rows = []
    spawn = multiprocessing.get_context("spawn")
    for name, (d2, overrides) in CASES.items():
        # a fresh process per case, so that its peak memory is its own
        with ProcessPoolExecutor(1, mp_context=spawn) as pool:
            per_iter, peak_mb = pool.submit(
                time_case, d2, overrides, args.iters, args.threads
            ).result()
        config = HumeConfig(num_classes=10, **overrides)
        rows.append(
            {
                "case": name,
                "subsets x steps": f"{config.num_subsets} x {config.adaptation_steps}",
                "subset_size": min(config.subset_size, 1797),
                "s_per_outer_iter": round(per_iter, 3),
                "s_per_1000_iters": round(per_iter * 1000, 1),
                "peak_rss_mb": round(peak_mb),
                "threads": args.threads,
            }
        )
        print(rows[-1], flush=True)
    table = pd.DataFrame(rows)
    print(table.to_markdown(index=False))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out, index=False)


if __name__ == "__main__":
    main()
