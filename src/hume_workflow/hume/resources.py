"""HUME's scheduler requests: the memory and runtime of a run_hume job, modelled from N, d1,
d2 and the hyperparameters (torch-free: the Snakemake main process computes them).

Margins, start-up time and retries are the resource model's (plan/resources.py).
"""

from __future__ import annotations

from hume_workflow.hume.config import HumeConfig, ScoreConfig, field_defaults
from hume_workflow.hume.inner_forms import (
    GROUP_BYTES,
    SOFTMAX_BYTES,
    pick_inner_form,
    reverse_pass_bytes,
    train_size,
)
from hume_workflow.plan.resources import scaled_request

# HUME, seconds per outer iteration. Weights form (hume/inner_forms.py):
# S*T*m*K*(d2*SEC_PER_DIM + SEC_PER_UNIT), fitted (rounded) through 13.69 s (d2=1280) and
# 1.48 s (d2=64); gram form: T*4*S*K*N^2 / GRAM_FLOPS, 3.54 s (d2=1280); all measured at the
# paper's defaults (S=20, T=300, m=N=1797, K=10, closed-form hypergradient) on random
# features on the 2-core CPU (2 threads) by `python benchmarks/bench_resources.py`. At
# CIFAR's shapes (N=50,000, d2=1536, m=10,000) the weights form models 89 s against 75 s
# measured (10 inner steps scaled to 300, `python benchmarks/bench_hume.py`) and 89 s for a
# first outer iteration at all 300 steps.
SEC_PER_DIM = 9.3e-11
SEC_PER_UNIT = 7.8e-9
GRAM_FLOPS = 2.2e11
# On a GPU (an assumption, not yet measured): the arithmetic at
# ~200x the 2-core CPU (tens of TFLOP/s against the ~0.2 TFLOP/s above), plus kernel
# launches, ~0.6 ms per inner step of the batched forward and backward passes.
GPU_SPEEDUP = 200
GPU_SEC_PER_STEP = 6e-4
# Generalisation score (n_folds fits of multinomial logistic regression, up to max_iter
# L-BFGS iterations each, on the CPU): per iteration, a forward and a backward product of
# (n, d2) by (d2, K) at 5e10 FLOP/s, plus 10 ms of solver overhead. Measured: 10.5 s for
# digits (1797 x 64, K=10, 10 folds, 100 iterations) against 10.1 s modelled; 8.9 s for
# 10,000 x 512 (early convergence) against 14 s modelled.
SCORE_FLOPS = 5e10
SCORE_ITER_SEC = 0.01
BASE_BYTES = 700e6  # the interpreter, torch and this package (659 MB measured)
GPU_HOST_BYTES = 2e9  # host side of a GPU run: interpreter, torch and the CUDA context
# Memory kept by a run, per form. autograd: the (S, m, d2) phi2 subsets and GRAPH_TENSORS
# (S, m, K) float32 tensors per inner step for its double backward. closed form, weights
# form: one group of subsets at a time (hume/inner_forms.subset_groups): its gathered phi2
# blocks and, second order, what the reverse pass keeps of every inner step of each of its
# subsets (inner_forms.reverse_pass_bytes: the (K, n_train) softmax or the (K, d2 + 1)
# weights), at most the groups' budgets or one subset above them; and LABEL_TENSORS
# (S, m, K) tensors per run (labels, targets and their gradients). gram form: the (N, N)
# Gram matrix and the (S, K, N) softmax of every step.
# Measured peak RSS of the runs above: 755 MB (weights, d2=1280), 834 MB (weights, d2=64),
# 1188 MB (gram, d2=1280), by the same; 1710 MB for a CIFAR-shaped run (one outer iteration).
LABEL_TENSORS = 8
GRAPH_TENSORS = 4

# The task encoder's orthogonal parametrisation (hume/objective.py) completes its K x d1
# weight to a d1 x d1 orthogonal base: its registration (a QR of d1 x d1) costs ~d1^3 once,
# each outer step ~d1^3 (the map back through the base) and the process holds about four
# d1 x d1 float32 matrices. Fitted through d1 = 8,000 (9.4 s, 2.7 s per step, 1,563 MB peak)
# by `python benchmarks/bench_resources.py`; a run at d1 = 20,000 held 7.3 GB (1 GB modelled
# without these terms).
ENCODER_MAKE_SEC_PER_D3 = 1.8e-11
ENCODER_STEP_SEC_PER_D3 = 5.2e-12
ENCODER_MATRICES = 4
# What a config section that leaves a key out gets (the schema fills the same values).
HUME_DEFAULTS = field_defaults(HumeConfig)
SCORE_DEFAULTS = field_defaults(ScoreConfig)


def score_seconds(n_fit: int, width: int, num_classes: int, score: dict) -> float:
    """Seconds of one generalisation score of ``n_fit`` samples in a ``width``-wide space
    (``score``: the config's section, filled)."""
    per_iter = 4 * n_fit * width * num_classes / SCORE_FLOPS + SCORE_ITER_SEC
    return score["n_folds"] * score["max_iter"] * per_iter


def encoder_model(d1: int) -> tuple[float, float, float]:
    """(seconds to make, seconds per outer step, bytes) of the orthogonal task encoder on a
    d1-wide phi1: its d1 x d1 terms, on top of the rest of a run."""
    cube = float(d1) ** 3
    return (
        ENCODER_MAKE_SEC_PER_D3 * cube,
        ENCODER_STEP_SEC_PER_D3 * cube,
        ENCODER_MATRICES * float(d1) ** 2 * 4,
    )


def _hume_model(
    n_fit: int,
    d1: int,
    d2: int,
    hume: dict,
    score: dict,
    num_classes: int,
    gpu: bool,
    runs: int = 1,
) -> tuple[float, float]:
    """(seconds, host bytes) of a HUME job of ``runs`` runs, before margins.

    The inner steps train on ``train_fraction`` of each subset and the outer loss reads the
    rest, so the model counts all m samples of a subset. Keys absent from ``hume`` and
    ``score`` take :class:`HumeConfig`'s and :class:`ScoreConfig`'s defaults.
    """
    hume = {**HUME_DEFAULTS, **hume}
    score = {**SCORE_DEFAULTS, **score}
    m = min(hume["subset_size"], n_fit)
    s, t, k = hume["num_subsets"], hume["adaptation_steps"], num_classes
    hypergradient = hume["hypergradient"]
    form = pick_inner_form(hume["inner_form"], hypergradient, n_fit, m, hume["train_fraction"], d2)
    if form == "gram":
        per_iter = t * 4 * s * k * n_fit * n_fit / GRAM_FLOPS
    else:
        per_iter = s * t * m * k * (d2 * SEC_PER_DIM + SEC_PER_UNIT)
    if gpu:
        per_iter = per_iter / GPU_SPEEDUP + t * GPU_SEC_PER_STEP
    score_sec = score_seconds(n_fit, d2, k, score)
    make, step, encoder_bytes = encoder_model(d1)
    seconds = runs * (make + hume["num_iters"] * (per_iter + step) + score_sec)
    features = n_fit * (d1 + d2) * 4 + runs * encoder_bytes
    if gpu:
        return seconds, GPU_HOST_BYTES + features
    if form == "gram":
        return seconds, BASE_BYTES + features + n_fit * n_fit * 4 + runs * s * t * k * n_fit * 4
    if hypergradient == "autograd":
        kept = runs * (s * m * d2 * 4 + s * t * m * k * 4 * GRAPH_TENSORS)
    else:
        n_train = train_size(m, hume["train_fraction"])
        steps = reverse_pass_bytes(t, k, n_train, d2) if hypergradient == "closed_form" else 0
        block = m * d2 * 4
        # what one group holds, at most: within both budgets, or one subset above them
        group = max(GROUP_BYTES, block) + max(SOFTMAX_BYTES, steps)
        kept = min(s * runs * (block + steps), group) + runs * LABEL_TENSORS * s * m * k * 4
    return seconds, BASE_BYTES + features + kept


def hume_request(
    n_fit: int,
    d1: int,
    d2: int,
    hume: dict,
    score: dict,
    num_classes: int,
    gpu: bool,
    attempt: int = 1,
    runs: int = 1,
) -> dict[str, int]:
    """{"mem_mb", "runtime" (minutes)} for a job of ``runs`` HUME runs on (n_fit, d1) and
    (n_fit, d2) features. ``hume`` and ``score`` are the config's sections of those names.
    """
    model = _hume_model(n_fit, d1, d2, hume, score, num_classes, gpu, runs)
    return scaled_request(*model, attempt)
