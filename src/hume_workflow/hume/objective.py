"""HUME's outer objective: the task encoder's labels, the adapted classifiers' held-out
cross-entropy, minus the entropy of the mean label.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn.utils import parametrizations

from hume_workflow.choices import EncoderInit
from hume_workflow.errors import InputError
from hume_workflow.hume.config import HumeConfig
from hume_workflow.hume.descent import (
    AdaptedCrossEntropy,
    GramUnrolledDescent,
    adapt_inner_classifiers,
    soft_cross_entropy,
)
from hume_workflow.hume.inner_forms import pick_inner_form, train_size
from hume_workflow.hume.sparsemax import sparsemax


def l2_normalise(x: torch.Tensor) -> torch.Tensor:
    """Rows of ``x`` (n_samples, dim) scaled to unit Euclidean norm."""
    return x / x.norm(dim=1, keepdim=True).clamp_min(1e-12)


def make_task_encoder(
    d1: int, num_classes: int, generator: torch.Generator, init: EncoderInit = "uniform"
) -> nn.Linear:
    """A bias-free linear map d1 -> K whose K x d1 weight has orthonormal rows.

    ``init`` "uniform" (the reference implementation's start): nn.Linear's default entries,
    U(-1/sqrt(d1), 1/sqrt(d1)), orthonormalised by registering the orthogonal
    parametrisation (a QR of the weight); "haar": a Haar-uniform frame (nn.init.orthogonal_).
    Both draw from ``generator`` only.
    """
    if d1 < num_classes:
        raise InputError(
            f"phi1 has dimension {d1} < dataset.num_classes={num_classes}: the orthogonal task "
            "encoder needs at least K dimensions; pair a wider phi1 (or a pca_dim >= K)"
        )
    encoder = nn.Linear(d1, num_classes, bias=False)
    with torch.no_grad():
        if init == "haar":
            nn.init.orthogonal_(encoder.weight, generator=generator)
        else:  # nn.Linear.reset_parameters' weight, from the run's generator
            nn.init.kaiming_uniform_(encoder.weight, a=math.sqrt(5), generator=generator)
    # Registering orthonormalises the weight (QR) and completes it to a d1 x d1 orthogonal
    # base with torch.randn from the global RNG; seed it from the run's generator so the run
    # is reproducible.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(torch.randint(2**62, (1,), generator=generator)))
        return parametrizations.orthogonal(encoder)


def encoder_labels(
    theta: torch.Tensor, phi1: torch.Tensor, num_subsets: int, tau: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """The soft labels of every fit sample under each task encoder, and which encoders each
    subset reads.

    Args:
        theta: (E, R, K, d1) task encoders: E groups of R runs; subset j is read by the R
            encoders of group ``j // (num_subsets // E)`` (E = 1: all subsets are shared by
            the R runs; E = number of runs with R = 1: each run has its own consecutive
            subsets; E = num_subsets: one group per subset).
        phi1: (N, d1) L2-normalised features of all fit samples.

    Returns:
        labels (E, R, N, K) = sparsemax(phi1 theta^T / tau), and owner (S,) the group of each
        subset.

    Raises:
        ValueError: ``num_subsets`` is not a multiple of E.
    """
    groups = theta.shape[0]
    if num_subsets % groups:
        raise ValueError(f"{num_subsets} subsets cannot be split among {groups} encoder groups")
    labels = sparsemax(phi1 @ theta.transpose(-1, -2) / tau)
    owner = torch.arange(num_subsets, device=phi1.device) // (num_subsets // groups)
    return labels, owner


def outer_losses(
    theta: torch.Tensor,
    phi1: torch.Tensor,
    phi2: torch.Tensor,
    idx: torch.Tensor,
    w0: torch.Tensor,
    b0: torch.Tensor,
    tau: float,
    config: HumeConfig,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """HUME's outer objective of R runs on S subsets, each (subset, run) on its own.

    Args:
        theta: (E, R, K, d1) task encoders, E groups of R runs (:func:`encoder_labels`).
        phi1: (N, d1) L2-normalised, phi2: (N, d2) features of all fit samples.
        idx: (S, m) the subsets' sample indices, the first ``round(train_fraction * m)`` of
            each its training part.
        w0, b0: (S, R, K, d2), (S, R, K) initial inner classifiers.
        config: hyperparameters; ``config.hypergradient`` picks how the gradient goes back
            through the inner steps (closed_form, autograd or first_order).

    Returns:
        (loss, cross_entropy, entropy), each (S, R).
    """
    s, m = idx.shape
    r, k = theta.shape[1:3]
    n_train = train_size(m, config.train_fraction)
    labels_all, owner = encoder_labels(theta, phi1, s, tau)
    labels = labels_all[owner[:, None], :, idx].transpose(1, 2)  # (S, R, m, K)
    labels_train, labels_test = labels[:, :, :n_train], labels[:, :, n_train:]
    steps, lr = config.adaptation_steps, config.inner_lr
    if config.hypergradient == "autograd":  # the runs' copies of each subset, flattened
        w, b = adapt_inner_classifiers(
            phi2[idx[:, :n_train]].repeat_interleave(r, dim=0),
            labels_train.flatten(0, 1),
            w0.flatten(0, 1),
            b0.flatten(0, 1),
            steps,
            lr,
        )
        w, b = w.view(s, r, k, -1), b.view(s, r, k)
        logits_test = phi2[idx[:, n_train:]].unsqueeze(1) @ w.transpose(-1, -2) + b.unsqueeze(2)
        cross_entropy = soft_cross_entropy(logits_test, labels_test)
    else:
        if config.hypergradient == "first_order":
            labels_train = labels_train.detach()
        cross_entropy = AdaptedCrossEntropy.apply(
            labels_train, labels_test, phi2, idx, w0, b0, steps, lr
        )
    return _outer_terms(cross_entropy, labels, config.h_reg)


def _outer_terms(
    cross_entropy: torch.Tensor, labels: torch.Tensor, h_reg: float
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(loss, cross_entropy, entropy), each (S, R), from the adapted classifiers' held-out
    cross-entropy (S, R) and the labels of the whole subsets (S, R, m, K)."""
    entropy = torch.special.entr(labels.mean(dim=2)).sum(-1)
    return cross_entropy - h_reg * entropy, cross_entropy, entropy


def inner_form_for(config: HumeConfig, n_fit: int, d2: int) -> str:
    """``weights`` or ``gram``: the inner form a run on ``n_fit`` samples of width ``d2``
    uses (``config.inner_form``, or for ``auto`` the cheaper one: inner_forms.py)."""
    c = config
    return pick_inner_form(
        c.inner_form, c.hypergradient, n_fit, c.subset_size, c.train_fraction, d2
    )


def outer_losses_gram(
    theta: torch.Tensor,
    phi1: torch.Tensor,
    phi2: torch.Tensor,
    gram: torch.Tensor,
    idx: torch.Tensor,
    w0: torch.Tensor,
    b0: torch.Tensor,
    tau: float,
    config: HumeConfig,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """:func:`outer_losses` in the gram form: the same values and gradients.

    Args:
        theta: (E, R, K, d1) task encoders, E groups of R runs (:func:`encoder_labels`).
        phi1: (N, d1) L2-normalised, phi2: (N, d2) features of all fit samples;
            gram: (N, N) ``gram_matrix(phi2)``.
        idx: (S, n) the subsets' sample indices, the first ``round(train_fraction * n)`` of
            each its training part.
        w0, b0: (S, R, K, d2), (S, R, K) initial inner classifiers.

    Returns:
        (loss, cross_entropy, entropy), each (S, R).
    """
    s, m = idx.shape
    r, k = theta.shape[1:3]
    n = phi2.shape[0]
    n_train = train_size(m, config.train_fraction)
    labels_all, owner = encoder_labels(theta, phi1, s, tau)  # (E, R, N, K), (S,)
    labels_all = labels_all[owner]  # (S, R, N, K)
    in_train = torch.zeros(s, n, dtype=phi2.dtype, device=phi2.device)
    in_train.scatter_(1, idx[:, :n_train], 1.0)
    targets = labels_all * in_train[:, None, :, None]  # (S, R, N, K)
    if config.hypergradient == "first_order":
        targets = targets.detach()
    z0 = (w0 @ phi2.T + b0.unsqueeze(-1)).flatten(0, 1)  # (S*R, K, N)
    z = GramUnrolledDescent.apply(
        targets.flatten(0, 1), gram, z0, config.adaptation_steps, config.inner_lr, n_train
    ).view(s, r, k, n)
    logits_test = z.gather(3, idx[:, None, None, n_train:].expand(s, r, k, -1))
    labels = labels_all.gather(2, idx[:, None, :, None].expand(s, r, m, k))
    cross_entropy = soft_cross_entropy(logits_test.transpose(2, 3), labels[:, :, n_train:])
    return _outer_terms(cross_entropy, labels, config.h_reg)


def outer_loss(
    theta: torch.Tensor,
    phi1: torch.Tensor,
    phi2: torch.Tensor,
    idx: torch.Tensor,
    w0: torch.Tensor,
    b0: torch.Tensor,
    tau: float,
    config: HumeConfig,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """HUME's outer objective of one run averaged over S subsets.

    Args:
        theta: (K, d1) task encoder; phi1 (N, d1), phi2 (N, d2), idx (S, m) as in
            :func:`outer_losses`; w0, b0: (S, K, d2), (S, K) initial inner classifiers.

    Returns:
        (loss, cross_entropy, entropy): the scalar loss and the per-subset (S,) parts.
    """
    loss, cross_entropy, entropy = outer_losses(
        theta[None, None], phi1, phi2, idx, w0[:, None], b0[:, None], tau, config
    )
    return loss.mean(), cross_entropy[:, 0], entropy[:, 0]
