"""Seconds per generalisation score: sklearn's per-fold loop vs the batched torch version.

    python benchmarks/bench_score.py --quick     # n = 10000, d = 256
    python benchmarks/bench_score.py             # CIFAR-10 size: n = 50000, d = 1536, K = 10
    python benchmarks/bench_score.py --decay 1   # ill-conditioned: sklearn runs all max_iter

The problem is synthetic: float32 features from a K-component Gaussian mixture, optionally
ill-conditioned (--decay), and the true components as labels with 10 % of them replaced by
uniform random classes (a noisy labeling, like a HUME run's). sklearn
(``hume_workflow.hume.score``, with --threads BLAS/OpenMP threads) is the reference; torch runs
in float64 and float32 on CPU, and in float32 on CUDA when there is one. Prints a markdown
table and writes benchmarks/out/score.csv.
"""

from __future__ import annotations

import argparse
import time
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from threadpoolctl import threadpool_limits

from hume_workflow.hume.score import generalisation_score
from hume_workflow.hume.score_torch import generalisation_score_torch


def make_problem(
    n: int, d: int, k: int, decay: float = 0.0, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Features (n, d) float32 and noisy labels (n,) in [0, k) of a Gaussian mixture.

    With ``decay`` > 0 the features are rotated after scaling axis i by i ** -decay: an
    ill-conditioned covariance, like real embeddings', that per-feature standardisation
    cannot undo, so that the solvers run many more iterations.
    """
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, k, n)
    centres = rng.standard_normal((k, d), dtype=np.float32) * 3 / np.sqrt(d).astype(np.float32)
    x = rng.standard_normal((n, d), dtype=np.float32) + centres[truth]
    if decay > 0:
        rotation = np.linalg.qr(rng.standard_normal((d, d)))[0].astype(np.float32)
        x = (x * np.arange(1, d + 1, dtype=np.float32) ** -decay) @ rotation
    noisy = np.where(rng.random(n) < 0.1, rng.integers(0, k, n), truth)
    return x, noisy


def timed(fn, device: str) -> tuple[float, float]:
    """(seconds, score) of one call of ``fn()``, synchronising ``device``."""
    start = time.perf_counter()
    score = fn()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return time.perf_counter() - start, score


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=50000)
    parser.add_argument("--d", type=int, default=1536)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--folds", type=int, default=10)
    parser.add_argument("--max-iter", type=int, default=100)
    parser.add_argument("--device", default="auto", help="auto: cpu, and cuda when available")
    parser.add_argument("--quick", action="store_true", help="n = 10000, d = 256")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--decay", type=float, default=0.0, help="feature spectrum decay (0: isotropic)"
    )
    parser.add_argument("--out", default="benchmarks/out/score.csv")
    args = parser.parse_args()
    if args.quick:
        args.n, args.d = 10000, 256
    torch.set_num_threads(args.threads)
    if args.device == "auto":
        devices = ["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"]
    else:
        devices = [args.device]
    x, labels = make_problem(args.n, args.d, args.k, args.decay)
    runs = [("sklearn", "cpu", "float64")]
    for device in devices:
        cpu = device == "cpu"
        runs += [("torch", device, "float64")] * cpu + [("torch", device, "float32")]

    rows, reference = [], None
    for backend, device, dtype in runs:
        if backend == "sklearn":
            with threadpool_limits(args.threads):  # BLAS and OpenMP, as torch's threads
                fn = partial(generalisation_score, x, labels, args.folds, args.max_iter)
                seconds, score = timed(lambda fn=fn: fn().score, device)
        else:
            generalisation_score_torch(x[:500], labels[:500], device=device)  # warm-up
            fn = partial(
                generalisation_score_torch,
                x,
                labels,
                args.folds,
                args.max_iter,
                device,
                dtype=getattr(torch, dtype),
            )
            seconds, score = timed(fn, device)
        reference = reference or (seconds, score)
        rows.append(
            {
                "backend": backend,
                "device": device,
                "dtype": dtype,
                "n": args.n,
                "d": args.d,
                "K": args.k,
                "decay": args.decay,
                "seconds": round(seconds, 2),
                "score": round(score, 4),
                "abs_diff_points": round(abs(score - reference[1]) * 100, 2),
                "speedup": round(reference[0] / seconds, 1),
            }
        )
        print(f"{backend} {device} {dtype}: {seconds:.1f} s, score {score:.4f}", flush=True)
    table = pd.DataFrame(rows)
    print(table.to_markdown(index=False))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out, index=False)


if __name__ == "__main__":
    main()
