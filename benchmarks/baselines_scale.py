"""The baselines' two paths side by side: scikit-learn's KMeans (n_init=10) and probe against the
torch k-means (Lloyd's passes) and torch probe that replace them above a size.

    python benchmarks/baselines_scale.py                       # the table of docs/performance.md
    python benchmarks/baselines_scale.py --cases 20000,512,100,0.5

Each case is rows, d, K and the class separation ``sep``: K class means drawn N(0, sep^2) in a
64-d latent space, unit Gaussian spread around them, mapped to d dimensions by a random
(64, d) matrix, plus N(0, 0.5^2) noise in every dimension; labels uniform over K; 20 % of the
rows the test split, at random. k-means is fitted and scored on every row (transductive); the
probe trains on the train rows and is scored on the test rows. Two threads (threadpoolctl and
torch). Prints a markdown table and writes benchmarks/out/baselines_scale.csv. The full
k-means takes several minutes per case at K = 1000.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from hume_workflow.aggregate import baselines

OUT = Path(__file__).parent / "out"
CASES = ["20000,512,100,0.5", "20000,1024,1000,1.0", "50000,2048,100,0.5", "30000,512,1000,0.5"]


def clustered(n: int, d: int, k: int, sep: float, seed: int = 0, latent: int = 64):
    """(features (n, d) float32, labels (n,), split (n,)) as the module's docstring says."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, k, n)
    means = rng.normal(0, sep, (k, latent))
    z = means[labels] + rng.normal(0, 1, (n, latent))
    proj = rng.normal(0, 1 / np.sqrt(latent), (latent, d))
    x = (z @ proj + rng.normal(0, 0.5, (n, d))).astype(np.float32)
    split = (rng.random(n) < 0.2).astype(np.uint8)
    return x, labels, split


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", nargs="+", default=CASES, help="rows,d,K,sep")
    args = parser.parse_args()
    rows = []
    for case in args.cases:
        n, d, k, sep = case.split(",")
        x, y, split = clustered(int(n), int(d), int(k), float(sep))
        row = {"rows": int(n), "d": int(d), "K": int(k), "sep": float(sep)}
        with threadpool_limits(2):
            for method in ("full", "lloyd"):
                start = time.perf_counter()
                found = baselines.kmeans_baseline(
                    x, y, split, "transductive", int(k), method=method
                )
                row[f"kmeans {method} s"] = time.perf_counter() - start
                row[f"kmeans {method} ACC"], row[f"kmeans {method} NMI"] = (
                    found["acc"],
                    found["nmi"],
                )
            for method in ("sklearn", "torch"):
                start = time.perf_counter()
                acc = baselines.linear_probe_accuracy(x, y, split, method=method, threads=2)
                row[f"probe {method} s"], row[f"probe {method} acc"] = (
                    time.perf_counter() - start,
                    acc,
                )
        rows.append(row)
        print(row, flush=True)
    table = pd.DataFrame(rows)
    OUT.mkdir(exist_ok=True)
    table.to_csv(OUT / "baselines_scale.csv", index=False)
    print(table.to_markdown(index=False, floatfmt=".3f"))


if __name__ == "__main__":
    main()
