"""HUME's outer loss written the straightforward way: a Python loop over subsets, each with its
own linear classifier unrolled by autograd (``create_graph=True``), the style of the authors'
implementation. The reference that the batched and the closed-form paths are tested and
benchmarked against; slow on purpose, never used by the pipeline.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from hume_workflow.hume.config import HumeConfig
from hume_workflow.hume.sparsemax import sparsemax


def reference_outer_loss(
    theta: torch.Tensor,
    phi1_subsets: torch.Tensor,
    phi2_subsets: torch.Tensor,
    w0: torch.Tensor,
    b0: torch.Tensor,
    tau: float,
    config: HumeConfig,
) -> torch.Tensor:
    """The mean over subsets of HUME's outer loss, one subset at a time.

    Args:
        theta: (K, d1) task encoder; phi1_subsets: (S, n, d1) L2-normalised; phi2_subsets:
            (S, n, d2); w0, b0: (S, K, d2), (S, K) initial inner classifiers.
    """
    total = 0.0
    num_subsets, n = phi1_subsets.shape[:2]
    n_train = round(config.train_fraction * n)
    for s in range(num_subsets):
        labels = sparsemax(phi1_subsets[s] @ theta.T / tau)  # (n, K)
        x_train, x_test = phi2_subsets[s, :n_train], phi2_subsets[s, n_train:]
        w, b = w0[s].clone().requires_grad_(), b0[s].clone().requires_grad_()
        for _ in range(config.adaptation_steps):
            inner = F.cross_entropy(F.linear(x_train, w, b), labels[:n_train])
            grad_w, grad_b = torch.autograd.grad(inner, (w, b), create_graph=True)
            w, b = w - config.inner_lr * grad_w, b - config.inner_lr * grad_b
        held_out = F.cross_entropy(F.linear(x_test, w, b), labels[n_train:])
        mean_label = labels.mean(dim=0)
        entropy = -(mean_label * torch.log(mean_label.clamp_min(1e-30))).sum()
        total = total + (held_out - config.h_reg * entropy)
    return total / num_subsets
