"""TURTLE runs: the labeling of a set of spaces that linear classifiers on every space learn best.

The objective (docs/algorithm.md, "TURTLE"; Gadetsky, Jiang & Brbic, ICML 2024, Eq. 12-13):
each space k has a weight-normalised linear head ``theta_k`` (K x d_k, bias K), and the soft
labeling of a sample is the mean over the spaces of ``softmax(theta_k phi_k(x))``. At every
outer iteration a batch of samples is drawn; per space a linear classifier ``w_k`` (freshly
drawn by default) takes ``inner_steps`` Adam steps on the cross-entropy against the batch's
soft labels, held fixed (first order: nothing is differentiated through the inner steps); the
outer loss is ``sum_k CE(w_k phi_k, labeling) - gamma sum_k H(mean labeling of space k)``,
differentiated in the heads only and followed by one Adam step.

Everything is written out in closed form, for all runs of a job at once as tensors with a
leading run axis (R, ...): the gradient of a softmax cross-entropy of a linear model is
``(softmax(Z W^T + b) - Y)^T Z / B``, that of the soft labels goes back through the softmax
and the weight normalisation by hand, and Adam is torch's update, written for stacked
tensors. No autograd graph is built. tests/reference_turtle.py holds the same mathematics
written as the reference implementation does (``nn.Linear``, weight norm, ``torch.optim.Adam``,
autograd), and the tests hold the two together on the same draws.

Every random draw of a run comes from its own generator, in a fixed order: the heads (weight,
then bias, space by space), then per outer iteration the batch's indices
(:func:`batch_indices`) and, cold-started, the inner classifiers (:func:`linear_init`, space by
space); warm-started, the inner classifiers are drawn once, after the heads.

Example::

    from hume_workflow.turtle.config import STACK_BYTES, TurtleConfig
    from hume_workflow.turtle.training import run_turtle_many
    [result] = run_turtle_many([phi_a, phi_b], TurtleConfig(num_classes=10), [0])
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from tqdm import tqdm

from hume_workflow.turtle.config import STACK_BYTES, TurtleConfig

log = logging.getLogger(__name__)

ADAM_EPS = 1e-8  # torch.optim.Adam's default, the reference's
#: The loss parts recorded per outer iteration, per run.
TRACE_PARTS = ("cross_entropy", "entropy", "loss")


@dataclass
class TurtleResult:
    """What one run found. Arrays are over the evaluation samples (n_eval,)."""

    labels: np.ndarray  # (n_eval,) int64, argmax of the mean over spaces of the heads' softmax
    fit_labels: np.ndarray  # (N,) int64, the same of the samples fitted on
    confidence: np.ndarray  # (n_eval,) float32, the largest entry of that mean
    weights: list[np.ndarray]  # per space (K, d_k) float32, the heads with the norm folded in
    biases: list[np.ndarray]  # per space (K,) float32
    loss_trace: dict[str, np.ndarray] = field(default_factory=dict)  # part -> (num_iters,)
    wall_time_s: float = 0.0


def linear_init(
    num_classes: int, width: int, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """A linear layer's start as ``nn.Linear`` draws it: weight (K, d), then bias (K,), each
    uniform in (-1/sqrt(d), 1/sqrt(d))."""
    bound = 1 / math.sqrt(width)
    weight = torch.rand(num_classes, width, generator=generator) * (2 * bound) - bound
    bias = torch.rand(num_classes, generator=generator) * (2 * bound) - bound
    return weight, bias


def batch_indices(n_samples: int, batch_size: int, generator: torch.Generator) -> torch.Tensor:
    """(B,) the indices of one outer iteration's batch: uniform, without replacement,
    B = min(batch_size, n_samples)."""
    return torch.randperm(n_samples, generator=generator)[: min(batch_size, n_samples)]


class Adam:
    """torch.optim.Adam's update (no weight decay, no amsgrad) of one stacked tensor."""

    def __init__(self, param: torch.Tensor, lr: float, beta1: float, beta2: float) -> None:
        self.param, self.lr, self.beta1, self.beta2 = param, lr, beta1, beta2
        self.exp_avg = torch.zeros_like(param)
        self.exp_avg_sq = torch.zeros_like(param)
        self.steps = 0

    def step(self, grad: torch.Tensor) -> None:
        """One step of ``param`` along ``grad`` (same shape), in place."""
        self.steps += 1
        self.exp_avg.lerp_(grad, 1 - self.beta1)
        self.exp_avg_sq.mul_(self.beta2).addcmul_(grad, grad, value=1 - self.beta2)
        step_size = self.lr / (1 - self.beta1**self.steps)
        denom = (self.exp_avg_sq.sqrt() / math.sqrt(1 - self.beta2**self.steps)).add_(ADAM_EPS)
        self.param.addcdiv_(self.exp_avg, denom, value=-step_size)


class Linears:
    """One linear layer per run on one space, stacked: weight (R, K, d), bias (R, K), with
    its Adam state."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor, config: TurtleConfig) -> None:
        self.weight, self.bias = weight, bias
        lr, b1, b2 = config.inner_lr, config.beta1, config.beta2
        self.optimisers = (Adam(weight, lr, b1, b2), Adam(bias, lr, b1, b2))

    def logits(self, z: torch.Tensor) -> torch.Tensor:
        """(R, K, B) = weight z^T + bias, of z (R, B, d) (a view: z weight^T is faster)."""
        return torch.baddbmm(self.bias.unsqueeze(1), z, self.weight.transpose(1, 2)).transpose(1, 2)

    def descend(self, z: torch.Tensor, targets: torch.Tensor) -> None:
        """One Adam step on the mean soft-label cross-entropy of ``z`` (R, B, d) against
        ``targets`` (R, K, B): its gradient is (softmax(logits) - targets) z / B."""
        residual = torch.softmax(self.logits(z), dim=1).sub_(targets).div_(z.shape[1])
        self.optimisers[0].step(torch.bmm(residual, z))
        self.optimisers[1].step(residual.sum(dim=2))


class Heads:
    """The weight-normalised heads of every run on one space: direction v (R, K, d), norm g
    (R, K, 1) and bias (R, K); the weight is g v / |v| row by row (``nn.utils.weight_norm``
    at dim 0, starting with g = |v|)."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor, config: TurtleConfig) -> None:
        self.direction, self.bias = weight, bias
        self.norm = weight.norm(dim=2, keepdim=True)
        lr, b1, b2 = config.outer_lr, config.beta1, config.beta2
        self.optimisers = [Adam(p, lr, b1, b2) for p in (self.direction, self.norm, self.bias)]

    def weight(self) -> torch.Tensor:
        """(R, K, d) the heads' weights, g v / |v|."""
        return self.direction * (self.norm / self.direction.norm(dim=2, keepdim=True))

    def probabilities(self, z: torch.Tensor) -> torch.Tensor:
        """(R, K, B) softmax over K of the heads' logits of z (R, B, d)."""
        logits = torch.baddbmm(self.bias.unsqueeze(1), z, self.weight().transpose(1, 2))
        return torch.softmax(logits.transpose(1, 2), dim=1)

    def gradients(self, z: torch.Tensor, grad_logits: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """(direction (R, K, d), norm (R, K, 1), bias (R, K)): the loss's gradient in the
        heads' parameters, given its gradient in their logits of z, (R, K, B): back through
        the linear map and the weight normalisation."""
        grad_weight = torch.bmm(grad_logits, z)  # (R, K, d)
        length = self.direction.norm(dim=2, keepdim=True)
        unit = self.direction / length
        grad_norm = (grad_weight * unit).sum(dim=2, keepdim=True)
        grad_direction = (grad_weight - grad_norm * unit).mul_(self.norm / length)
        return grad_direction, grad_norm, grad_logits.sum(dim=2)

    def step(self, gradients: Sequence[torch.Tensor]) -> None:
        """One Adam step of (direction, norm, bias) along ``gradients``."""
        for optimiser, grad in zip(self.optimisers, gradients, strict=True):
            optimiser.step(grad)


def outer_step(
    heads: Sequence[Heads],
    inner: Sequence[Linears],
    batches: Sequence[torch.Tensor],
    config: TurtleConfig,
) -> dict[str, torch.Tensor]:
    """One outer iteration of every run: the inner classifiers' steps, then the heads' step.

    Args:
        heads, inner: per space, the runs' heads and inner classifiers (already drawn anew
            when cold-started).
        batches: per space, (R, B, d_k) the runs' batch features. Per-sample arrays are
            (R, K, B): a softmax over a short K is fast along a middle axis, not the last.

    Returns:
        the loss parts before the heads' step (:func:`outer_gradients`).
    """
    labeling = torch.stack([h.probabilities(z) for h, z in zip(heads, batches, strict=True)]).mean(
        dim=0
    )
    for _ in range(config.inner_steps):
        for classifier, z in zip(inner, batches, strict=True):
            classifier.descend(z, labeling)
    losses, gradients = outer_gradients(heads, inner, batches, config.gamma)
    for h, grads in zip(heads, gradients, strict=True):
        h.step(grads)
    return losses


def outer_gradients(
    heads: Sequence[Heads],
    inner: Sequence[Linears],
    batches: Sequence[torch.Tensor],
    gamma: float,
) -> tuple[dict[str, torch.Tensor], list[tuple[torch.Tensor, ...]]]:
    """The outer loss of every run and its gradient in the heads, the inner classifiers held
    fixed (first order).

    Returns:
        the loss parts, each (R,): ``cross_entropy`` (the mean over the spaces of the inner
        classifiers' cross-entropy against the labeling), ``entropy`` (the sum over the
        spaces of the entropy of the space's mean labeling) and ``loss`` (the objective: the
        sum over the spaces of the cross-entropy - gamma entropy); and per space the gradient
        of ``loss`` (:meth:`Heads.gradients`).
    """
    n_spaces, n_batch = len(batches), batches[0].shape[1]
    probabilities = [h.probabilities(z) for h, z in zip(heads, batches, strict=True)]
    labeling = torch.stack(probabilities).mean(dim=0)  # (R, K, B)
    log_probs = sum(
        torch.log_softmax(c.logits(z), dim=1) for c, z in zip(inner, batches, strict=True)
    )
    cross_entropy = -(labeling * log_probs).sum(dim=1).mean(dim=1)  # (R,)
    grad_labeling = log_probs.div_(-n_batch * n_spaces)  # d CE / d p_k for every space k
    entropy, gradients = torch.zeros_like(cross_entropy), []
    for h, z, p in zip(heads, batches, probabilities, strict=True):
        mean = p.mean(dim=2)  # (R, K)
        entropy += torch.special.entr(mean).sum(dim=1)
        grad_p = grad_labeling + (gamma / n_batch) * (mean.log() + 1).unsqueeze(2)
        gradients.append(h.gradients(z, p * (grad_p - (p * grad_p).sum(dim=1, keepdim=True))))
    losses = {"cross_entropy": cross_entropy / n_spaces, "entropy": entropy}
    return losses | {"loss": cross_entropy - gamma * entropy}, gradients


def label_samples(
    heads: Sequence[Heads], spaces: Sequence[torch.Tensor], chunk: int = 65536
) -> tuple[torch.Tensor, torch.Tensor]:
    """(R, n) labels and (R, n) confidences of samples ``spaces`` (per space (n, d_k)): the
    argmax and the largest entry of the mean over spaces of the heads' softmax."""
    labels, confidence = [], []
    n = spaces[0].shape[0]
    for start in range(0, n, chunk):
        parts = [
            h.probabilities(z[start : start + chunk].expand(len(h.bias), -1, -1))
            for h, z in zip(heads, spaces, strict=True)
        ]
        best = torch.stack(parts).mean(dim=0).max(dim=1)
        labels.append(best.indices)
        confidence.append(best.values)
    return torch.cat(labels, dim=1), torch.cat(confidence, dim=1)


def run_turtle_many(
    spaces: Sequence[np.ndarray],
    config: TurtleConfig,
    seeds: Sequence[int],
    eval_spaces: Sequence[np.ndarray] | None = None,
    device: str = "cpu",
    progress: bool = True,
) -> list[TurtleResult]:
    """Run TURTLE once per seed; runs are advanced together in groups whose batches fit in
    ``STACK_BYTES`` (at CIFAR's shapes one run at a time: stacked, they leave the cache).

    Args:
        spaces: per space, (N, d_k) features of the samples to fit on, same order.
        seeds: one run per seed; a run's draws come from its own generator (the module's
            docstring gives their order), so a run is the same whatever job it is in.
        eval_spaces: per space, (n_eval, d_k) the samples to label; None: ``spaces``.
        device: where the runs are computed, e.g. "cpu" or "cuda".

    Returns:
        one :class:`TurtleResult` per seed, in order (``wall_time_s``: its group's time / its
        group's runs).
    """
    features = [_tensor(x, device) for x in spaces]
    eval_features = features if eval_spaces is None else [_tensor(x, device) for x in eval_spaces]
    batch_bytes = min(config.batch_size, spaces[0].shape[0]) * sum(x.shape[1] for x in spaces) * 4
    group = max(1, int(STACK_BYTES // batch_bytes))
    results = []
    for first in range(0, len(seeds), group):
        group_seeds = seeds[first : first + group]
        results += _run_group(features, eval_features, config, group_seeds, device, progress)
    return results


def _tensor(x: np.ndarray, device: str) -> torch.Tensor:
    """x as a float32 tensor on ``device``."""
    return torch.as_tensor(np.ascontiguousarray(x), dtype=torch.float32, device=device)


def _run_group(
    features: Sequence[torch.Tensor],
    eval_features: Sequence[torch.Tensor],
    config: TurtleConfig,
    seeds: Sequence[int],
    device: str,
    progress: bool,
) -> list[TurtleResult]:
    """The runs of ``seeds``, stacked along a leading run axis (:func:`run_turtle_many`)."""
    start = time.perf_counter()
    n, k, runs = features[0].shape[0], config.num_classes, len(seeds)
    generators = [torch.Generator().manual_seed(seed) for seed in seeds]
    widths = [x.shape[1] for x in features]

    def draw_linears(cls: type) -> list:
        """Per space, the runs' layers, drawn run by run (space by space in each run)."""
        draws = [[linear_init(k, d, g) for d in widths] for g in generators]
        return [
            cls(
                torch.stack([run[s][0] for run in draws]).to(device),
                torch.stack([run[s][1] for run in draws]).to(device),
                config,
            )
            for s in range(len(widths))
        ]

    heads = draw_linears(Heads)
    inner = draw_linears(Linears) if config.warm_start else None
    trace = {part: np.empty((runs, config.num_iters)) for part in TRACE_PARTS}
    n_batch = min(config.batch_size, n)
    # (R, B, d_k) per space, filled in place: a fresh tensor per iteration costs page faults
    batches = [x.new_empty(runs, n_batch, x.shape[1]) for x in features]
    desc = f"TURTLE seeds {seeds[0]}-{seeds[-1]}" if runs > 1 else f"TURTLE seed {seeds[0]}"
    for it in tqdm(range(config.num_iters), desc=desc, disable=not progress, mininterval=5):
        rows = torch.stack([batch_indices(n, config.batch_size, g) for g in generators])
        if not config.warm_start:
            inner = draw_linears(Linears)
        # a batch is a set: its rows in increasing order are read faster, same mathematics
        rows = rows.sort(dim=1).values.flatten().to(device)
        for x, batch in zip(features, batches, strict=True):
            torch.index_select(x, 0, rows, out=batch.view(-1, x.shape[1]))
        losses = outer_step(heads, inner, batches, config)
        for part, values in losses.items():
            trace[part][:, it] = values.cpu().numpy()
    labels, confidence = label_samples(heads, eval_features)
    fit_labels = labels if eval_features is features else label_samples(heads, features)[0]
    elapsed = (time.perf_counter() - start) / runs
    weights = [h.weight().cpu().numpy() for h in heads]
    return [
        TurtleResult(
            labels=labels[r].cpu().numpy().astype(np.int64),
            fit_labels=fit_labels[r].cpu().numpy().astype(np.int64),
            confidence=confidence[r].cpu().numpy().astype(np.float32),
            weights=[w[r] for w in weights],
            biases=[h.bias[r].cpu().numpy() for h in heads],
            loss_trace={part: values[r].copy() for part, values in trace.items()},
            wall_time_s=elapsed,
        )
        for r in range(runs)
    ]
