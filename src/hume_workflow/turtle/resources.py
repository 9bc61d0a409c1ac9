"""TURTLE's scheduler requests: the memory and runtime of a run_turtle job, modelled from N,
the spaces' widths and the hyperparameters (torch-free: the Snakemake main process computes
them).

An outer iteration makes, per space, ``inner_steps + 2`` products of the (B, d_k) batch with
K columns (the heads, each inner step, the adapted classifiers) and ``inner_steps + 1`` the
other way (each inner step's gradient, the heads'), 2 B d_k K FLOP each, plus a fixed cost of
its small operations per space. Fitted through the medians of three rounds on random features
on one thread of the quiet 2-core CPU by ``python benchmarks/bench_turtle.py --shapes cifar
digits --threads 1 2 --rounds 3``: 0.34 s per iteration at CIFAR-10's shapes (B 10,000,
d 768 + 1536, K 10, M 10; 31 GFLOP/s), 4.8 ms at digits' (B 1,797, d 64 + 64).
Margins, start-up time and retries are the resource model's (plan/resources.py).
"""

from __future__ import annotations

from collections.abc import Sequence

from hume_workflow.hume.config import field_defaults
from hume_workflow.hume.resources import (
    BASE_BYTES,
    GPU_HOST_BYTES,
    GPU_SEC_PER_STEP,
    GPU_SPEEDUP,
    SCORE_DEFAULTS,
    score_seconds,
)
from hume_workflow.plan.resources import scaled_request
from hume_workflow.turtle.config import STACK_BYTES, TurtleConfig, hyperparameters

TURTLE_FLOPS = 3.1e10  # FLOP/s of the skinny products (K columns) on one CPU thread
SEC_PER_SPACE = 7e-4  # seconds per outer iteration and space of everything else
TURTLE_DEFAULTS = field_defaults(TurtleConfig)


def _turtle_model(
    n_fit: int,
    widths: Sequence[int],
    turtle: dict,
    score: dict,
    num_classes: int,
    gpu: bool,
    runs: int = 1,
) -> tuple[float, float]:
    """(seconds, host bytes) of a TURTLE job of ``runs`` runs, before margins. Keys absent
    from ``turtle`` and ``score`` take TurtleConfig's and ScoreConfig's defaults."""
    turtle = {**TURTLE_DEFAULTS, **hyperparameters(turtle)}
    score = {**SCORE_DEFAULTS, **score}
    batch, steps, k = min(turtle["batch_size"], n_fit), turtle["inner_steps"], num_classes
    products = (2 * steps + 3) * 2 * batch * sum(widths) * k
    per_iter = products / TURTLE_FLOPS + SEC_PER_SPACE * len(widths)
    if gpu:
        per_iter = per_iter / GPU_SPEEDUP + steps * GPU_SEC_PER_STEP
    scores = sum(score_seconds(n_fit, d, k, score) for d in widths)
    seconds = runs * (turtle["num_iters"] * per_iter + scores)
    batch_bytes = batch * sum(widths) * 4
    stacked = min(runs, max(1, int(STACK_BYTES // batch_bytes)))
    features = 2 * n_fit * sum(widths) * 4  # the spaces as read, and the fitted samples
    host = GPU_HOST_BYTES if gpu else BASE_BYTES
    return seconds, host + features + stacked * batch_bytes


def turtle_request(
    n_fit: int,
    widths: Sequence[int],
    turtle: dict,
    score: dict,
    num_classes: int,
    gpu: bool,
    attempt: int = 1,
    runs: int = 1,
) -> dict[str, int]:
    """{"mem_mb", "runtime" (minutes)} for a job of ``runs`` TURTLE runs on (n_fit, d_k)
    features of each space of ``widths``. ``turtle`` and ``score`` are the config's sections.
    """
    return scaled_request(
        *_turtle_model(n_fit, widths, turtle, score, num_classes, gpu, runs), attempt
    )
