"""sparsemax equals the Euclidean projection onto the simplex; its gradient is exact."""

import numpy as np
import pytest
import torch

from hume_workflow.hume.sparsemax import sparsemax


def project_by_bisection(v: np.ndarray, iters: int = 200) -> np.ndarray:
    """Independent reference: find t with sum(max(v - t, 0)) = 1 by bisection."""
    lo, hi = v.min() - 1.0, v.max()
    for _ in range(iters):
        mid = (lo + hi) / 2
        if np.maximum(v - mid, 0).sum() > 1:
            lo = mid
        else:
            hi = mid
    return np.maximum(v - (lo + hi) / 2, 0)


@pytest.mark.parametrize("tau", [0.1, 1.0, 10.0])
def test_sparsemax_is_the_simplex_projection(tau):
    rng = np.random.default_rng(0)
    z = rng.normal(size=(200, 7))
    z[:20, 1] = z[:20, 0]  # ties
    z[20:30] = z[20:30, :1]  # all equal
    z[30:40, :3] = 5.0  # ties at the top
    out = sparsemax(torch.tensor(z / tau)).numpy()
    expected = np.stack([project_by_bisection(row / tau) for row in z])
    np.testing.assert_allclose(out, expected, atol=1e-9)
    np.testing.assert_allclose(out.sum(1), 1.0, atol=1e-12)
    assert (out >= 0).all()


def test_sparsemax_along_other_dim_and_batched():
    z = torch.randn(3, 5, 4, dtype=torch.float64)
    out = sparsemax(z, dim=1)
    expected = sparsemax(z.transpose(1, 2)).transpose(1, 2)
    torch.testing.assert_close(out, expected)


def test_sparsemax_gradient_matches_finite_differences():
    z = torch.randn(6, 5, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x: sparsemax(x / 0.5), (z,), eps=1e-6, atol=1e-6)


def test_sparsemax_jacobian_is_the_closed_form():
    """J = diag(s) - s s^T / |S| on the support S (Martins & Astudillo, Eq. 12)."""
    z = torch.tensor([0.9, 0.5, 0.4, -1.0], dtype=torch.float64)
    jac = torch.autograd.functional.jacobian(sparsemax, z)
    support = (sparsemax(z) > 0).double()
    expected = torch.diag(support) - torch.outer(support, support) / support.sum()
    torch.testing.assert_close(jac, expected)
