"""One HUME run: search for the labeling of phi1 that a linear model on phi2 generalises best.

The objective (docs/algorithm.md, "Objective"; Gadetsky & Brbic, NeurIPS 2023, Eq. 3-5):
the task encoder ``theta`` (K x d1, orthonormal rows) labels a sample ``x`` with
``t(x) = sparsemax(theta phi1(x) / tau)``. For each random subset of the training samples a
freshly initialised linear classifier on phi2 is trained on the first ``train_fraction`` of
the subset by ``adaptation_steps`` steps of gradient descent on the soft-label cross-entropy;
the steps stay in the autograd graph (second order), so the outer loss, the cross-entropy of
the adapted classifier on the rest of the subset minus ``h_reg`` times the entropy of the
subset's mean label, is differentiated through the whole inner optimisation into ``theta``.

All ``num_subsets`` inner problems of an outer iteration are solved together as batched
tensors of shape (S, n, d); the mathematics is that of a loop over subsets. When the samples
are few next to phi2's width, the inner problems are instead solved on their logits through
the Gram matrix of phi2 (``inner_form``: the same mathematics, cheaper there).

Example::

    from hume_workflow.hume.config import HumeConfig
    from hume_workflow.hume.training import run_hume
    result = run_hume(phi1, phi2, HumeConfig(num_classes=10, num_iters=50), seed=0)
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field, replace

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from hume_workflow.hume.config import HumeConfig
from hume_workflow.hume.descent import gram_matrix, init_inner_classifiers, largest_curvature
from hume_workflow.hume.objective import (
    inner_form_for,
    l2_normalise,
    make_task_encoder,
    outer_losses,
    outer_losses_gram,
)
from hume_workflow.hume.sparsemax import sparsemax

log = logging.getLogger(__name__)


@dataclass
class HumeResult:
    """What one run found. Arrays are over the evaluation samples (n_eval,)."""

    labels: np.ndarray  # (n_eval,) int64 hard labels, argmax(theta phi1)
    confidence: np.ndarray  # (n_eval,) float32, max of the soft label sparsemax(theta phi1 / tau)
    mean_soft_label: np.ndarray  # (K,) float32, mean soft label over the evaluation samples
    theta: np.ndarray  # (K, d1) float32, the final task encoder
    loss_trace: dict[str, np.ndarray] = field(default_factory=dict)  # per outer iteration
    wall_time_s: float = 0.0


def draw_subsets(
    n_samples: int, num_subsets: int, subset_size: int, generator: torch.Generator
) -> torch.Tensor:
    """(S, m) indices: S independent uniform subsets without replacement, in random order."""
    m = min(subset_size, n_samples)
    return torch.rand(num_subsets, n_samples, generator=generator).argsort(dim=1)[:, :m]


def run_hume(
    phi1: np.ndarray,
    phi2: np.ndarray,
    config: HumeConfig,
    seed: int,
    eval_phi1: np.ndarray | None = None,
    device: str = "cpu",
    progress: bool = True,
) -> HumeResult:
    """Run HUME once.

    Args:
        phi1: (n_train, d1) features of the task-encoder space (L2-normalised here).
        phi2: (n_train, d2) features of the inner classifiers' space, used as is.
        config: hyperparameters.
        seed: seeds the run's own generator (initialisation, subsets, inner inits).
        eval_phi1: (n_eval, d1) samples to label at the end (inductive setting); None labels
            the training samples (transductive setting).

    Returns:
        A HumeResult with the labels of the evaluation samples.
    """
    return run_hume_many(phi1, phi2, config, [seed], eval_phi1, device, progress)[0]


def run_hume_many(
    phi1: np.ndarray,
    phi2: np.ndarray,
    config: HumeConfig,
    seeds: list[int],
    eval_phi1: np.ndarray | None = None,
    device: str = "cpu",
    progress: bool = True,
) -> list[HumeResult]:
    """Run HUME once per seed, all runs advancing together in the same tensor operations.

    Each run keeps its own generator, encoder, inner initialisations and optimiser, so with
    independent subsets (the default) every run is the run :func:`run_hume` makes with its
    seed. ``config.shared_subsets`` draws the subsets of each outer iteration once for all runs
    (from a generator seeded by all the seeds): each run still sees uniformly random
    subsets, but the runs are no longer independent in their draws; in exchange one read of
    each phi2 block serves all runs (their classifiers become the columns of one matmul).

    Args: as :func:`run_hume`, with ``seeds`` (R,) instead of one seed.

    Returns:
        One HumeResult per seed, in order.
    """
    if phi1.shape[0] != phi2.shape[0]:
        raise ValueError(f"phi1 has {phi1.shape[0]} samples but phi2 has {phi2.shape[0]}")
    start = time.perf_counter()
    dtype = torch.float32
    x1 = l2_normalise(torch.as_tensor(phi1, dtype=dtype)).to(device)
    x2 = torch.as_tensor(phi2, dtype=dtype).to(device)
    n, d2 = x2.shape
    if config.inner_lr_mode == "relative":  # the step as a multiple of 1 / lambda_max
        curvature = largest_curvature(x2)
        step = config.inner_lr / curvature
        log.info(
            "inner step %.4g = inner_lr %g / lambda_max %.4g of phi2",
            step,
            config.inner_lr,
            curvature,
        )
        config = replace(config, inner_lr=step, inner_lr_mode="absolute")
    s, k = config.num_subsets, config.num_classes
    if config.subset_size > n:
        log.info("subset_size=%d capped at the %d training samples", config.subset_size, n)
    form = inner_form_for(config, n, d2)
    log.info("inner descent in the %s form (inner_form=%s)", form, config.inner_form)
    gram = gram_matrix(x2) if form == "gram" else None

    generators = [torch.Generator().manual_seed(seed) for seed in seeds]
    encoders = [
        make_task_encoder(x1.shape[1], k, g, config.encoder_init).to(device) for g in generators
    ]
    optimizers = [torch.optim.Adam(e.parameters(), lr=config.outer_lr) for e in encoders]
    milestones = list(config.anneal_milestones) if config.anneal else []
    schedulers = [torch.optim.lr_scheduler.MultiStepLR(o, milestones, 0.1) for o in optimizers]
    fixed_inits = None
    if not config.rand_init:  # one w0 per run drawn once and reused (the paper's ImageNet)
        fixed_inits = [init_inner_classifiers(1, d2, k, g, dtype) for g in generators]
    shared = None
    if config.shared_subsets:
        shared = torch.Generator().manual_seed(
            int(np.random.SeedSequence(seeds).generate_state(1)[0])
        )
    tau = config.tau

    def inner_init(r: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(S, K, d2), (S, K): run r's initial inner classifiers of this iteration."""
        if fixed_inits is None:
            return init_inner_classifiers(s, d2, k, generators[r], dtype)
        return fixed_inits[r][0].expand(s, -1, -1), fixed_inits[r][1].expand(s, -1)

    trace_parts = ("loss", "cross_entropy", "entropy")
    history = np.zeros((len(trace_parts), len(seeds), config.num_iters), np.float32)
    desc = f"HUME seed{'s' if len(seeds) > 1 else ''} {','.join(map(str, seeds))}"
    for it in tqdm(range(config.num_iters), desc=desc, disable=not progress):
        theta = torch.stack([e.weight for e in encoders])  # (R, K, d1)
        if shared is not None:
            idx = draw_subsets(n, s, config.subset_size, shared)  # (S, m), for every run
            inits = [inner_init(r) for r in range(len(seeds))]
            w0 = torch.stack([w for w, _ in inits], dim=1)  # (S, R, K, d2)
            b0 = torch.stack([b for _, b in inits], dim=1)
            theta_s = theta.unsqueeze(0)  # (1, R, K, d1)
        else:  # run r's subsets are rows r*S .. (r+1)*S - 1, each with one classifier
            draws = [
                (draw_subsets(n, s, config.subset_size, g), *inner_init(r))
                for r, g in enumerate(generators)
            ]
            idx = torch.cat([d[0] for d in draws])  # (R*S, m)
            w0 = torch.cat([d[1] for d in draws]).unsqueeze(1)  # (R*S, 1, K, d2)
            b0 = torch.cat([d[2] for d in draws]).unsqueeze(1)
            theta_s = theta.unsqueeze(1)  # (R, 1, K, d1): run r reads rows r*S .. (r+1)*S - 1
        idx, w0, b0 = idx.to(device), w0.to(device), b0.to(device)
        if gram is None:
            losses, ce, ent = outer_losses(theta_s, x1, x2, idx, w0, b0, tau, config)
        else:
            losses, ce, ent = outer_losses_gram(theta_s, x1, x2, gram, idx, w0, b0, tau, config)
        if shared is None:  # (R*S, 1) -> (S, R)
            losses, ce, ent = (t.view(len(seeds), s).T for t in (losses, ce, ent))
        per_run = losses.mean(dim=0)  # (R,): each run's own loss, averaged over its subsets
        for optimizer in optimizers:
            optimizer.zero_grad(set_to_none=True)
        per_run.sum().backward()  # the runs share no parameters: each gets its own gradient
        for encoder, optimizer, scheduler in zip(encoders, optimizers, schedulers, strict=True):
            nn.utils.clip_grad_norm_(encoder.parameters(), config.grad_clip)
            optimizer.step()
            scheduler.step()
        # one copy to the host per iteration, whatever the number of runs
        history[:, :, it] = torch.stack([per_run, ce.mean(0), ent.mean(0)]).detach().cpu()
        if it + 1 in milestones:  # tau drops with the learning rate
            tau /= 10

    wall = (time.perf_counter() - start) / len(seeds)
    with torch.no_grad():
        x_eval = (
            x1
            if eval_phi1 is None
            else l2_normalise(torch.as_tensor(eval_phi1, dtype=dtype)).to(device)
        )
        results = []
        for r, encoder in enumerate(encoders):
            theta = encoder.weight.detach()
            scores = x_eval @ theta.T
            soft = sparsemax(scores / tau)
            results.append(
                HumeResult(
                    labels=scores.argmax(dim=1).cpu().numpy().astype(np.int64),
                    confidence=soft.max(dim=1).values.cpu().numpy().astype(np.float32),
                    mean_soft_label=soft.mean(dim=0).cpu().numpy().astype(np.float32),
                    theta=theta.cpu().numpy().astype(np.float32),
                    loss_trace={part: history[i, r] for i, part in enumerate(trace_parts)},
                    wall_time_s=wall,
                )
            )
    return results
