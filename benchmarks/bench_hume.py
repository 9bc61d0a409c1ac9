"""Seconds and peak memory per HUME outer iteration: the reference loop against the fast paths.

    python benchmarks/bench_hume.py --quick        # CPU, digits scale, 30 inner steps (~3 min)
    python benchmarks/bench_hume.py --steps 10 --iters 1 --threads 1   # the docs' tables (~12 min)

Three tables, on random features of each scale's shapes, at the paper's hyperparameters
(20 subsets); ``--steps`` times fewer inner steps than the paper's 300 and scales the time
linearly to 300 (the cost per inner step is constant; the outer step around them, a few
percent at 10 steps, is scaled with it); the tables say which.

1. Side by side (``hume_side_by_side.csv``): the reference loop (a) and the default (c, the
   form ``auto`` picks) alternating A B in one process for ``--rounds`` rounds after a
   warm-up, with 1 and 2 threads (``--ab-threads``): seconds per outer iteration, their
   ratio, the bytes the default's products read per inner step (weights form: each subset's
   phi2 training block 4 times, 2 for first order; gram: the (N, N) Gram matrix twice, once
   for first order; ``step_traffic``), that rate in GB/s and its share of the machine's copy
   bandwidth (measured with a 1 GiB copy). Timings from a machine running other jobs are not
   comparable: caches and memory bandwidth are shared.
2. Orders (``--order-scales``, one thread): the logits product of one subset's block in
   both orders, in cache and streamed (``hume_products.csv``), and the weights form with all
   20 subsets advancing together against its cache-sized groups (hume/inner_forms.py),
   alternating in one process (``hume_orders.csv``).
3. Implementations (``hume.csv``), each in a fresh process (so its
   peak memory is its own) after one warm-up iteration:

   - (a) ``reference loop``: a Python loop over subsets, each unrolled by autograd with
     ``create_graph=True`` and back-propagated on its own (tests/reference_hume.py; the style
     of the authors' implementation);
   - (b) ``batched autograd``: all subsets as (S, n, d) tensors, autograd's double backward;
   - (c) ``closed form``: the exact hypergradient in closed form, in the weights form
     (per-subset (n, d2) blocks in cache-sized groups) and in the gram form (logits over all
     N samples moved by the (N, N) Gram matrix of phi2); ``default`` marks the form
     ``inner_form: auto`` picks;
   - (d) ``first order``: labels detached inside the inner loop (not HUME's objective), in
     the form ``auto`` picks;

   with the roofline: the bytes of table 1 over an outer iteration, the time they take at
   the copy bandwidth and the achieved fraction, and the matmul GFLOP/s achieved.

Scales: demo (N=1797, d1=64, d2=64, subsets of 1000: the demo's widths), digits (N=1797,
d1=64, d2=1280, K=10, subsets of all 1797) and CIFAR (N=50000, d1=2048, d2=1536, K=10,
subsets of 10,000). The gram form is skipped where its Gram matrix and stored softmaxes
would not fit in half the device's memory (CIFAR scale); the Gram matrix is computed once
per run, before the timing.
"""

from __future__ import annotations

import argparse
import dataclasses
import multiprocessing
import os
import resource
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pandas as pd
import torch

from hume_workflow.hume import inner_forms
from hume_workflow.hume.config import HumeConfig
from hume_workflow.hume.descent import gram_matrix, init_inner_classifiers
from hume_workflow.hume.inner_forms import keeps_softmax, train_size
from hume_workflow.hume.objective import (
    inner_form_for,
    l2_normalise,
    make_task_encoder,
    outer_loss,
    outer_losses_gram,
)
from hume_workflow.hume.resources import _hume_model
from hume_workflow.hume.training import draw_subsets

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from reference_hume import reference_outer_loss  # noqa: E402

PAPER_STEPS = 300
SCALES = {  # name: (N, d1, d2, K, subset_size)
    "demo": (1797, 64, 64, 10, 1000),
    "digits": (1797, 64, 1280, 10, 10000),
    "cifar": (50000, 2048, 1536, 10, 10000),
}
IMPLEMENTATIONS = {  # key: (name, hypergradient, inner_form)
    "a": ("(a) reference loop", "reference", "weights"),
    "b": ("(b) batched autograd", "autograd", "weights"),
    "c-weights": ("(c) closed form, weights form", "closed_form", "weights"),
    "c-gram": ("(c) closed form, gram form", "closed_form", "gram"),
    "d": ("(d) first order", "first_order", "auto"),
}


def outer_iteration(hypergradient, encoder, optimizer, x1, x2, gram, config, generator) -> None:
    """One outer iteration of HUME: loss, backward, Adam step. ``hypergradient`` is
    ``reference`` (the per-subset loop) or the config's; ``gram`` selects the gram form."""
    n, d2 = x2.shape
    idx = draw_subsets(n, config.num_subsets, config.subset_size, generator).to(x1.device)
    w0, b0 = init_inner_classifiers(config.num_subsets, d2, config.num_classes, generator, x2.dtype)
    w0, b0 = w0.to(x1.device), b0.to(x1.device)
    optimizer.zero_grad(set_to_none=True)
    if hypergradient == "reference":  # one subset at a time, each graph freed after its backward
        for s in range(config.num_subsets):
            part = idx[s : s + 1]
            loss = reference_outer_loss(
                encoder.weight, x1[part], x2[part], w0[s : s + 1], b0[s : s + 1], config.tau, config
            )
            (loss / config.num_subsets).backward()
    elif gram is not None:
        theta = encoder.weight[None, None]
        loss = outer_losses_gram(
            theta, x1, x2, gram, idx, w0[:, None], b0[:, None], config.tau, config
        )
        loss[0].mean().backward()
    else:
        outer_loss(encoder.weight, x1, x2, idx, w0, b0, config.tau, config)[0].backward()
    torch.nn.utils.clip_grad_norm_(encoder.parameters(), config.grad_clip)
    optimizer.step()


def scale_config(scale: str, steps: int, hypergradient: str, inner_form: str) -> HumeConfig:
    """The paper's hyperparameters at ``scale`` with ``steps`` inner steps."""
    k, subset_size = SCALES[scale][3:]
    hypergradient = "closed_form" if hypergradient == "reference" else hypergradient
    return HumeConfig(
        num_classes=k,
        adaptation_steps=steps,
        subset_size=subset_size,
        hypergradient=hypergradient,
        inner_form=inner_form,
    )


def gram_bytes(scale: str) -> float:
    """Bytes a paper-default run in the gram form keeps (plan/resources.py's model: the (N, N)
    Gram matrix and the stored softmaxes on top of the interpreter and the features)."""
    n, d1, d2, k, _ = SCALES[scale]
    no_score = {"n_folds": 0}
    return _hume_model(n, d1, d2, {"inner_form": "gram"}, no_score, k, gpu=False)[1]


def step_traffic(scale: str, hypergradient: str, form: str) -> tuple[float, float]:
    """(bytes read, matmul flops) one inner step of all 20 subsets needs at least.

    Weights form: per subset, its (m, d2) phi2 training block is read for the logits and the
    gradient, and (second order) again going back, for how the logits move along the
    adjoints and the Hessian-vector product: 4 reads (2 for first order), and 4 products of
    2 K m d2 flops (5 where the step's weights are kept: the first product back then has 2K
    rows; 2 for first order). Gram form: the (N, N)
    Gram matrix is read once forward and once backward by all subsets together (one product
    each, 2 S K N^2 flops).
    """
    n, _, d2, k, subset_size = SCALES[scale]
    m, s = train_size(min(subset_size, n), HumeConfig(num_classes=k).train_fraction), 20
    second_order = hypergradient != "first_order"
    if form == "gram":
        reads = 2 if second_order else 1
        return reads * n * n * 4, reads * 2 * s * k * n * n
    reads, products = (4, 4 if keeps_softmax(m, d2) else 5) if second_order else (2, 2)
    return reads * s * m * d2 * 4, products * 2 * s * k * m * d2


def device_bytes(device: str) -> int:
    """Memory of the device: the GPU's, or the machine's RAM."""
    if device == "cuda":
        return torch.cuda.get_device_properties(0).total_memory
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def setup_case(impl: str, scale: str, steps: int, threads: int, device: str) -> tuple:
    """The arguments of :func:`outer_iteration` for ``impl`` on random features of ``scale``:
    the same features and starting encoder for every implementation."""
    torch.set_num_threads(threads)
    n, d1, d2, k, _ = SCALES[scale]
    generator = torch.Generator().manual_seed(0)
    x1 = l2_normalise(torch.randn(n, d1, generator=generator)).to(device)
    x2 = torch.randn(n, d2, generator=generator).to(device)
    _, hypergradient, form = IMPLEMENTATIONS[impl]
    config = scale_config(scale, steps, hypergradient, form)
    gram = gram_matrix(x2) if inner_form_for(config, n, d2) == "gram" else None
    encoder = make_task_encoder(d1, k, generator).to(device)
    optimizer = torch.optim.Adam(encoder.parameters(), lr=config.outer_lr)
    return hypergradient, encoder, optimizer, x1, x2, gram, config, generator


def time_case(
    impl: str, scale: str, steps: int, iters: int, threads: int, device: str
) -> tuple[float, float]:
    """(seconds per outer iteration, peak memory in MB) in this (fresh) process."""
    run = setup_case(impl, scale, steps, threads, device)
    outer_iteration(*run)  # warm-up
    if device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    for _ in range(iters):
        outer_iteration(*run)
    if device == "cuda":
        torch.cuda.synchronize()
        peak_mb = torch.cuda.max_memory_allocated() / 2**20
    else:
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return (time.perf_counter() - start) / iters, peak_mb


def side_by_side(
    impls: tuple[str, str], scale: str, steps: int, rounds: int, threads: int, device: str
) -> list[dict[str, float]]:
    """Seconds of one outer iteration of each of two implementations A and B, at ``steps``
    and at twice as many inner steps, alternating A B A B in this process for ``rounds``
    rounds after one warm-up each: per round {"a_1", "b_1", "a_2", "b_2"} (1: ``steps``,
    2: twice)."""
    runs = [setup_case(impl, scale, steps, threads, device) for impl in impls]
    for run in runs:
        outer_iteration(*run)
    times = []
    for _ in range(rounds):
        row = {}
        for factor in (1, 2):
            for name, run in zip("ab", runs, strict=True):
                config = dataclasses.replace(run[6], adaptation_steps=factor * steps)
                if device == "cuda":
                    torch.cuda.synchronize()
                start = time.perf_counter()
                outer_iteration(*run[:6], config, run[7])
                if device == "cuda":
                    torch.cuda.synchronize()
                row[f"{name}_{factor}"] = time.perf_counter() - start
        times.append(row)
    return times


def at_paper_steps(once: float, twice: float, steps: int) -> tuple[float, float]:
    """(seconds per inner step, seconds per outer iteration at the paper's 300 steps) from
    the times of one outer iteration at ``steps`` and at twice as many: a fixed part per
    outer iteration (draws, gathers, labels, the task encoder's step) plus a part per step."""
    per_step = (twice - once) / steps
    return per_step, once + (PAPER_STEPS - steps) * per_step


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


def group_orders(scale: str, steps: int, rounds: int, threads: int) -> list[tuple[float, float]]:
    """The weights form with all subsets advancing together (A: no group budgets) against
    its cache-sized groups (B: the default budgets), alternating in this process:
    [(A, B) seconds per outer iteration, per round]."""
    run = setup_case("c-weights", scale, steps, threads, "cpu")
    budgets = {name: getattr(inner_forms, name) for name in ("GROUP_BYTES", "SOFTMAX_BYTES")}
    times = []
    for i in range(rounds + 1):  # the first round warms both up
        pair = []
        for together in (True, False):
            for name, value in budgets.items():
                setattr(inner_forms, name, 2**62 if together else value)
            start = time.perf_counter()
            outer_iteration(*run)
            pair.append(time.perf_counter() - start)
        if i:
            times.append((pair[0], pair[1]))
    return times


def product_orders(scale: str, reps: int = 20) -> dict:
    """Milliseconds of the logits product ``W X^T`` of one subset's training block (n, d2)
    with K = 10 rows, one thread, in both orders (class-major ``bmm(W, X^T)``; sample-major
    ``bmm(X, W^T)`` transposed, as descent.class_major_product does for large blocks), with
    the block in cache (one subset, repeated) and streamed (all 20 subsets in one bmm, per
    subset): the medians of ``reps`` repetitions."""
    torch.set_num_threads(1)
    n_all, _, d2, k, subset_size = SCALES[scale]
    n = train_size(min(subset_size, n_all), HumeConfig(num_classes=k).train_fraction)
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(20, n, d2, generator=generator)
    w = torch.randn(20, k, d2, generator=generator)

    def class_major(g):
        return torch.bmm(w[:g], x[:g].transpose(1, 2))

    def sample_major(g):
        return torch.bmm(x[:g], w[:g].transpose(1, 2)).transpose(1, 2).contiguous()

    row = {"scale": scale, "block_mib": round(n * d2 * 4 / 2**20, 2)}
    for name, product in (("class_major", class_major), ("sample_major", sample_major)):
        for where, g in (("in_cache", 1), ("streamed", 20)):
            product(g)
            times = []
            for _ in range(reps):
                start = time.perf_counter()
                product(g)
                times.append((time.perf_counter() - start) / g)
            row[f"{name}_{where}_ms"] = round(1e3 * sorted(times)[reps // 2], 3)
    return row


def group_order_rows(args, spawn) -> list[dict]:
    """The weights form's two orders side by side at every scale, one thread."""
    rows = []
    for scale in args.order_scales:
        with ProcessPoolExecutor(1, mp_context=spawn) as pool:
            times = pool.submit(group_orders, scale, args.steps, args.rounds, 1).result()
        block_mb = SCALES[scale][2] * min(SCALES[scale][0], SCALES[scale][4]) * 4 / 2**20
        for i, (together_s, groups_s) in enumerate(times):
            rows.append(
                {
                    "scale": scale,
                    "block_mib": round(block_mb, 1),
                    "round": i + 1,
                    "together_s_per_iter_at_300": round(together_s * PAPER_STEPS / args.steps, 2),
                    "groups_s_per_iter_at_300": round(groups_s * PAPER_STEPS / args.steps, 2),
                    "ratio": round(together_s / groups_s, 2),
                }
            )
            print(rows[-1], flush=True)
    return rows


def side_by_side_rows(args, spawn, bandwidths: dict[int, float]) -> list[dict]:
    """The reference loop (a) against the default, alternating in one process per (scale,
    threads): per inner step and per outer iteration at 300 steps (fixed part plus 300
    steps, from timings at ``--steps`` and twice as many), with the default's bytes read
    per inner step and its share of the copy bandwidth."""
    rows = []
    for scale in args.scales:
        n, _, d2, _, _ = SCALES[scale]
        form = inner_form_for(scale_config(scale, PAPER_STEPS, "closed_form", "auto"), n, d2)
        step_bytes, _ = step_traffic(scale, "closed_form", form)
        for threads in args.ab_threads:
            case = (("a", "c-" + form), scale, args.steps, args.rounds, threads, args.device)
            with ProcessPoolExecutor(1, mp_context=spawn) as pool:
                times = pool.submit(side_by_side, *case).result()
            for i, t in enumerate(times):
                reference_step, reference_300 = at_paper_steps(t["a_1"], t["a_2"], args.steps)
                default_step, default_300 = at_paper_steps(t["b_1"], t["b_2"], args.steps)
                rows.append(
                    {
                        "scale": scale,
                        "threads": threads,
                        "round": i + 1,
                        "inner_form": form,
                        "reference_ms_per_step": round(1e3 * reference_step, 1),
                        "default_ms_per_step": round(1e3 * default_step, 1),
                        "step_ratio": round(reference_step / default_step, 2),
                        "reference_s_per_iter_at_300": round(reference_300, 2),
                        "default_s_per_iter_at_300": round(default_300, 2),
                        "ratio_at_300": round(reference_300 / default_300, 2),
                        f"ratio_at_{args.steps}_scaled": round(t["a_1"] / t["b_1"], 2),
                        "default_mb_read_per_inner_step": round(step_bytes / 1e6),
                        "default_gb_per_s": round(step_bytes / default_step / 1e9, 1),
                        "copy_bandwidth_fraction": round(
                            step_bytes / default_step / 1e9 / bandwidths[threads], 2
                        ),
                    }
                )
                print(rows[-1], flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="digits scale, 30 steps, 1 iter")
    parser.add_argument("--scales", nargs="+", default=["digits", "cifar"], choices=list(SCALES))
    parser.add_argument(
        "--impls", nargs="+", default=list(IMPLEMENTATIONS), choices=IMPLEMENTATIONS
    )
    parser.add_argument("--steps", type=int, default=PAPER_STEPS, help="inner steps timed")
    parser.add_argument("--iters", type=int, default=2, help="outer iterations timed per case")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3, help="A B rounds side by side")
    parser.add_argument("--ab-threads", nargs="+", type=int, default=[1, 2])
    parser.add_argument(
        "--tables",
        nargs="+",
        default=["side", "orders", "impls"],
        choices=["side", "orders", "impls"],
        help="side by side with the reference loop; group and product orders; implementations",
    )
    parser.add_argument(
        "--order-scales", nargs="+", default=["demo", "digits", "cifar"], choices=list(SCALES)
    )
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--out", default="benchmarks/out/hume.csv")
    args = parser.parse_args()
    if args.quick:
        args.scales, args.steps, args.iters = ["digits"], 30, 1
        args.order_scales, args.rounds = ["demo", "digits"], 1
    spawn = multiprocessing.get_context("spawn")
    bandwidths = {}
    for threads in sorted({args.threads, *args.ab_threads}):
        with ProcessPoolExecutor(1, mp_context=spawn) as pool:
            bandwidths[threads] = pool.submit(bandwidth_gb_s, args.device, threads).result()
    device_name = torch.cuda.get_device_name() if args.device == "cuda" else "CPU"
    for threads, gb_s in bandwidths.items():
        print(f"device: {device_name}, {threads} threads, copy bandwidth {gb_s:.1f} GB/s")
    if "side" in args.tables:
        ab = pd.DataFrame(side_by_side_rows(args, spawn, bandwidths))
        print(ab.to_markdown(index=False))
        ab_out = Path(args.out).with_name(Path(args.out).stem + "_side_by_side.csv")
        ab_out.parent.mkdir(parents=True, exist_ok=True)
        ab.to_csv(ab_out, index=False)
        print(f"wrote {ab_out}")
    if "orders" in args.tables:
        with ProcessPoolExecutor(1, mp_context=spawn) as pool:
            products = [pool.submit(product_orders, scale).result() for scale in args.order_scales]
        products = pd.DataFrame(products)
        print(products.to_markdown(index=False))
        products_out = Path(args.out).with_name(Path(args.out).stem + "_products.csv")
        products.to_csv(products_out, index=False)
        print(f"wrote {products_out}")
        orders = pd.DataFrame(group_order_rows(args, spawn))
        print(orders.to_markdown(index=False))
        orders_out = Path(args.out).with_name(Path(args.out).stem + "_orders.csv")
        orders.to_csv(orders_out, index=False)
        print(f"wrote {orders_out}")
    if "impls" not in args.tables:
        return
    bandwidth = bandwidths[args.threads]
    rows = []
    for scale in args.scales:
        n, _, d2, _, _ = SCALES[scale]
        default_form = inner_form_for(
            scale_config(scale, PAPER_STEPS, "closed_form", "auto"), n, d2
        )
        reference_s = None
        for impl in args.impls:
            name, hypergradient, form = IMPLEMENTATIONS[impl]
            if form == "gram" and gram_bytes(scale) > device_bytes(args.device) / 2:
                print(f"{name} skipped at {scale} scale: needs {gram_bytes(scale) / 2**30:.0f} GiB")
                continue
            # a fresh process per case, so that its peak memory is its own
            with ProcessPoolExecutor(1, mp_context=spawn) as pool:
                per_iter, peak_mb = pool.submit(
                    time_case, impl, scale, args.steps, args.iters, args.threads, args.device
                ).result()
            at_paper = per_iter * PAPER_STEPS / args.steps
            used = inner_form_for(scale_config(scale, PAPER_STEPS, hypergradient, form), n, d2)
            step_bytes, step_flops = step_traffic(scale, hypergradient, used)
            min_bytes, flops = step_bytes * PAPER_STEPS, step_flops * PAPER_STEPS
            roofline_s = min_bytes / (bandwidth * 1e9)
            reference_s = at_paper if impl == "a" else reference_s
            rows.append(
                {
                    "scale": scale,
                    "implementation": name,
                    "inner_form": used,
                    "default": hypergradient == "closed_form" and used == default_form,
                    "device": device_name,
                    "steps_timed": args.steps,
                    "s_per_outer_iter_at_300_steps": round(at_paper, 3),
                    "speedup_vs_a": round(reference_s / at_paper, 2) if reference_s else None,
                    "peak_mb": round(peak_mb),
                    "h_per_run_1000_iters": round(at_paper * 1000 / 3600, 2),
                    "h_per_100_runs": round(at_paper * 1000 * 100 / 3600, 1),
                    "min_gb_read": round(min_bytes / 1e9, 1),
                    "roofline_s_per_iter": round(roofline_s, 3),
                    "roofline_fraction": round(roofline_s / at_paper, 3),
                    "matmul_gflop_per_s": round(flops / at_paper / 1e9, 1),
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
