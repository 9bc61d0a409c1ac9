"""Sparsemax (Martins & Astudillo, 2016): the Euclidean projection onto the simplex."""

from __future__ import annotations

import torch


def sparsemax(z: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Project each vector of ``z`` along ``dim`` onto the probability simplex.

    ``sparsemax(z) = argmin_{p in simplex} ||p - z||^2``, computed in closed form by
    sorting: with ``z`` sorted in decreasing order, the support size is the largest
    ``k`` with ``1 + k z_(k) > sum_{j<=k} z_(j)`` and the threshold is
    ``(sum_{j<=k} z_(j) - 1) / k``. Autograd through the sort and the gathered
    threshold gives the exact (almost everywhere) Jacobian.

    Args:
        z: scores of any shape, e.g. (n_samples, K).
        dim: the dimension that sums to one in the output.

    Returns:
        A tensor of the shape of ``z``, non-negative, summing to one along ``dim``.
    """
    z = z.movedim(dim, -1)
    z_sorted, _ = torch.sort(z, dim=-1, descending=True)
    k = torch.arange(1, z.shape[-1] + 1, device=z.device, dtype=z.dtype)
    cumsum = z_sorted.cumsum(dim=-1)
    in_support = 1 + k * z_sorted > cumsum
    support_size = in_support.sum(dim=-1, keepdim=True)  # >= 1 always
    threshold = (cumsum.gather(-1, support_size - 1) - 1) / support_size.to(z.dtype)
    return torch.clamp(z - threshold, min=0).movedim(-1, dim)
