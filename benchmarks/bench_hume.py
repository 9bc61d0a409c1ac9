"""Seconds and peak memory per HUME outer iteration: the reference loop against the fast paths.

    python benchmarks/bench_hume.py --quick        # CPU, digits scale, 30 inner steps (~3 min)
    python benchmarks/bench_hume.py                # digits and CIFAR scale, paper's 300 steps

Implementations, each timed in a fresh process (so its peak memory is its own) after one
warm-up iteration, on random features of the scale's shapes:

- (a) ``reference loop``: a Python loop over subsets, each unrolled by autograd with
  ``create_graph=True`` and back-propagated on its own (tests/reference_hume.py; the style of
  the authors' implementation);
- (b) ``batched autograd``: all subsets as (S, n, d) tensors, autograd's double backward;
- (c) ``batched closed form``: the default, the exact hypergradient in closed form;
- (d) ``first order``: labels detached inside the inner loop (not HUME's objective).

Scales: digits (N=1797, d1=64, d2=1280, K=10, subsets of all 1797) and CIFAR (N=50000,
d1=2048, d2=1536, K=10, subsets of 10,000); both 20 subsets. ``--steps`` times fewer inner
steps than the paper's 300 and scales the time linearly to 300 (the cost per inner step is
constant; the outer step around them is negligible at these sizes); the table says which.
The roofline: each inner step must read a subset's phi2 block at least four times (forward:
logits and gradient; backward: logits with the adjoint direction, and the Hessian-vector
product), i.e. 4 x T x S x m x d2 x 4 bytes per outer iteration, at the device's memory
bandwidth (measured here with a large copy). Writes benchmarks/out/hume.csv.
"""

from __future__ import annotations

import argparse
import dataclasses
import multiprocessing
import resource
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pandas as pd
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from reference_hume import reference_outer_loss  # noqa: E402

from hume_workflow.hume import (  # noqa: E402
    HumeConfig,
    draw_subsets,
    init_inner_classifiers,
    l2_normalise,
    make_task_encoder,
    outer_loss,
)

PAPER_STEPS = 300
SCALES = {  # name: (N, d1, d2, K, subset_size)
    "digits": (1797, 64, 1280, 10, 10000),
    "cifar": (50000, 2048, 1536, 10, 10000),
}
IMPLEMENTATIONS = {
    "(a) reference loop": "reference",
    "(b) batched autograd": "autograd",
    "(c) batched closed form (default)": "closed_form",
    "(d) first order": "first_order",
}


def outer_iteration(impl, encoder, optimizer, x1, x2, config, generator) -> None:
    """One outer iteration of HUME with implementation ``impl``: loss, backward, Adam step."""
    n, d2 = x2.shape
    idx = draw_subsets(n, config.num_subsets, config.subset_size, generator).to(x1.device)
    w0, b0 = init_inner_classifiers(config.num_subsets, d2, config.num_classes, generator, x2.dtype)
    w0, b0 = w0.to(x1.device), b0.to(x1.device)
    optimizer.zero_grad(set_to_none=True)
    if impl == "reference":  # one subset at a time, each graph freed after its backward
        for s in range(config.num_subsets):
            part = idx[s : s + 1]
            loss = reference_outer_loss(
                encoder.weight, x1[part], x2[part], w0[s : s + 1], b0[s : s + 1], config.tau, config
            )
            (loss / config.num_subsets).backward()
    else:
        config = dataclasses.replace(config, hypergradient=impl)
        outer_loss(encoder.weight, x1[idx], x2[idx], w0, b0, config.tau, config)[0].backward()
    torch.nn.utils.clip_grad_norm_(encoder.parameters(), config.grad_clip)
    optimizer.step()


def time_case(
    impl: str, scale: str, steps: int, iters: int, threads: int, device: str
) -> tuple[float, float]:
    """(seconds per outer iteration, peak memory in MB) in this (fresh) process."""
    torch.set_num_threads(threads)
    n, d1, d2, k, subset_size = SCALES[scale]
    generator = torch.Generator().manual_seed(0)
    x1 = l2_normalise(torch.randn(n, d1, generator=generator)).to(device)
    x2 = torch.randn(n, d2, generator=generator).to(device)
    config = HumeConfig(num_classes=k, adaptation_steps=steps, subset_size=subset_size)
    encoder = make_task_encoder(d1, k, generator).to(device)
    optimizer = torch.optim.Adam(encoder.parameters(), lr=config.outer_lr)
    outer_iteration(impl, encoder, optimizer, x1, x2, config, generator)  # warm-up
    if device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    for _ in range(iters):
        outer_iteration(impl, encoder, optimizer, x1, x2, config, generator)
    if device == "cuda":
        torch.cuda.synchronize()
        peak_mb = torch.cuda.max_memory_allocated() / 2**20
    else:
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return (time.perf_counter() - start) / iters, peak_mb


def bandwidth_gb_s(device: str, threads: int) -> float:
    """Memory bandwidth measured as bytes read plus written by copying a 1 GiB tensor."""
    torch.set_num_threads(threads)
    x = torch.empty(2**28, device=device)  # 1 GiB of float32
    y = torch.empty_like(x)
    best = float("inf")
    for _ in range(5):
        if device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        y.copy_(x)
        if device == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    return 2 * x.numel() * 4 / best / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="digits scale, 30 steps, 1 iter")
    parser.add_argument("--scales", nargs="+", default=list(SCALES), choices=list(SCALES))
    parser.add_argument("--impls", nargs="+", default=list(IMPLEMENTATIONS.values()))
    parser.add_argument("--steps", type=int, default=PAPER_STEPS, help="inner steps timed")
    parser.add_argument("--iters", type=int, default=2, help="outer iterations timed per case")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--out", default="benchmarks/out/hume.csv")
    args = parser.parse_args()
    if args.quick:
        args.scales, args.steps, args.iters = ["digits"], 30, 1
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(1, mp_context=spawn) as pool:
        bandwidth = pool.submit(bandwidth_gb_s, args.device, args.threads).result()
    device_name = torch.cuda.get_device_name() if args.device == "cuda" else "CPU"
    print(f"device: {device_name}, {args.threads} threads, copy bandwidth {bandwidth:.1f} GB/s")
    rows = []
    for scale in args.scales:
        n, _, d2, _, subset_size = SCALES[scale]
        m = min(subset_size, n)
        roofline_s = 4 * PAPER_STEPS * 20 * m * d2 * 4 / (bandwidth * 1e9)
        reference_s = None
        for name, impl in IMPLEMENTATIONS.items():
            if impl not in args.impls:
                continue
            # a fresh process per case, so that its peak memory is its own
            with ProcessPoolExecutor(1, mp_context=spawn) as pool:
                per_iter, peak_mb = pool.submit(
                    time_case, impl, scale, args.steps, args.iters, args.threads, args.device
                ).result()
            at_paper = per_iter * PAPER_STEPS / args.steps
            reference_s = at_paper if impl == "reference" else reference_s
            rows.append(
                {
                    "scale": scale,
                    "implementation": name,
                    "device": device_name,
                    "steps_timed": args.steps,
                    "s_per_outer_iter_at_300_steps": round(at_paper, 3),
                    "speedup_vs_a": round(reference_s / at_paper, 2) if reference_s else None,
                    "peak_mb": round(peak_mb),
                    "h_per_run_1000_iters": round(at_paper * 1000 / 3600, 2),
                    "h_per_100_runs": round(at_paper * 1000 * 100 / 3600, 1),
                    "roofline_s_per_iter": round(roofline_s, 3),
                    "roofline_fraction": round(roofline_s / at_paper, 3),
                }
            )
            print(rows[-1], flush=True)
    table = pd.DataFrame(rows)
    print(table.to_markdown(index=False))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out, index=False)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
