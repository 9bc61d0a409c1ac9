"""The inner problem: linear classifiers on phi2 adapted by unrolled gradient descent.

Two exact forms of the same descent and of its hypergradient: on the classifiers'
weights (:class:`UnrolledDescent`) and on their logits through the Gram matrix of
phi2 (:class:`GramUnrolledDescent`).
"""

from __future__ import annotations

import torch


def largest_curvature(phi2: torch.Tensor) -> float:
    """lambda_max of [phi2, 1]^T [phi2, 1] / n for ``phi2`` (n, d2): the inner loss (mean
    softmax cross-entropy of a linear classifier with bias) has curvature at most
    lambda_max / 2, so gradient descent on it is stable for steps below 4 / lambda_max."""
    x = torch.cat(
        [phi2.double(), torch.ones(len(phi2), 1, dtype=torch.float64, device=phi2.device)], 1
    )
    return float(torch.linalg.eigvalsh(x.T @ x / len(x))[-1])


def init_inner_classifiers(
    num_subsets: int, d2: int, num_classes: int, generator: torch.Generator, dtype: torch.dtype
) -> tuple[torch.Tensor, torch.Tensor]:
    """Weights (S, K, d2) and biases (S, K) drawn like ``nn.Linear``'s default: U(+-1/sqrt(d2))."""
    bound = 1.0 / d2**0.5
    w = (torch.rand(num_subsets, num_classes, d2, generator=generator, dtype=dtype) * 2 - 1) * bound
    b = (torch.rand(num_subsets, num_classes, generator=generator, dtype=dtype) * 2 - 1) * bound
    return w, b


def soft_cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean over samples of ``-sum_k targets_k log softmax_k(logits)``; (S, n, K) -> (S,)."""
    return -(targets * torch.log_softmax(logits, dim=-1)).sum(-1).mean(-1)


def adapt_inner_classifiers(
    phi2_train: torch.Tensor,
    labels_train: torch.Tensor,
    w0: torch.Tensor,
    b0: torch.Tensor,
    steps: int,
    lr: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Plain gradient descent on the soft-label cross-entropy, kept in the autograd graph.

    Args:
        phi2_train: (S, n_train, d2) inputs of the S inner problems.
        labels_train: (S, n_train, K) soft targets (not detached: the unroll is second order).
        w0, b0: (S, K, d2) and (S, K) initial weights and biases.

    Returns:
        The adapted weights (S, K, d2) and biases (S, K), differentiable w.r.t. the targets.
    """
    w, b = w0.detach().requires_grad_(), b0.detach().requires_grad_()
    for _ in range(steps):
        logits = torch.baddbmm(b.unsqueeze(1), phi2_train, w.transpose(1, 2))
        loss = soft_cross_entropy(logits, labels_train).sum()  # subsets are independent
        grad_w, grad_b = torch.autograd.grad(loss, (w, b), create_graph=True)
        w, b = w - lr * grad_w, b - lr * grad_b
    return w, b


class UnrolledDescent(torch.autograd.Function):
    """Plain gradient descent of S linear softmax classifiers on soft targets, with the exact
    reverse pass through every step written in closed form.

    For one subset with inputs X (n, d), targets Y (n, K) of row sums s, and parameters
    (W, b), a step is ``W <- W - lr R^T X``, ``b <- b - lr 1^T R`` with
    ``R = (softmax(X W^T + b) * s - Y) / n``: the gradient of the mean soft-label
    cross-entropy. Going back through a step with the adjoints (V, c) of its output, and
    ``Z = X V^T + c`` (how the logits move along them), ``P`` the step's softmax:

    - the targets receive ``-lr/n (<P, Z> - Z)`` (row-wise inner product);
    - the adjoints become ``V - lr M^T X``, ``c - lr 1^T M`` with
      ``M = s P * (Z - <P, Z>) / n``, a Hessian-vector product of the inner loss.

    Only the per-step parameters are stored (T x (S, R*K, d)); the softmax is recomputed, and
    one matmul with [W_t; V] gives both the logits and Z. Logits are kept class-major,
    (S, R*K, n), the layout in which CPU matmul kernels handle the thin K dimension best.
    This is the same mathematics as autograd's double backward through the unrolled steps
    (tested to float64 precision against it and against finite differences), without its graph.
    """

    @staticmethod
    def forward(ctx, targets, inputs, w0, b0, steps, lr):
        """targets (S, R, n, K), inputs (S, n, d), w0 (S, R, K, d), b0 (S, R, K) -> (w_T, b_T).

        R classifiers per subset (one per run sharing the subset) read each input block once.
        """
        s, r, n, k = targets.shape
        d = inputs.shape[-1]
        targets_t = targets.transpose(2, 3).contiguous()  # (S, R, K, n)
        inputs_t = inputs.transpose(1, 2)  # (S, d, n), a view
        mass = targets_t.sum(2, keepdim=True)  # (S, R, 1, n)
        keep = ctx.needs_input_grad[0]
        ws, bs = [], []
        w, b = w0.reshape(s, r * k, d), b0
        for _ in range(steps):
            if keep:
                ws.append(w)
                bs.append(b)
            logits = torch.bmm(w, inputs_t).view(s, r, k, n) + b.unsqueeze(-1)
            residual = (torch.softmax(logits, dim=2) * mass - targets_t) / n
            w = w - lr * torch.bmm(residual.view(s, r * k, n), inputs)
            b = b - lr * residual.sum(-1)
        if keep:
            ctx.save_for_backward(targets_t, inputs, torch.stack(ws), torch.stack(bs))
        ctx.lr = lr
        return w.view(s, r, k, d), b

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_w, grad_b):
        targets_t, inputs, ws, bs = ctx.saved_tensors
        s, r, k, n = targets_t.shape
        lr = ctx.lr
        inputs_t = inputs.transpose(1, 2)
        mass = targets_t.sum(2, keepdim=True)
        grad_targets = torch.zeros_like(targets_t)
        v = torch.zeros_like(ws[0]) if grad_w is None else grad_w.reshape(ws[0].shape)
        c = torch.zeros_like(bs[0]) if grad_b is None else grad_b
        for t in reversed(range(ws.shape[0])):
            both = torch.bmm(torch.cat([ws[t], v], dim=1), inputs_t).view(s, 2, r, k, n)
            p = torch.softmax(both[:, 0] + bs[t].unsqueeze(-1), dim=2)
            z = both[:, 1] + c.unsqueeze(-1)
            pz = (p * z).sum(2, keepdim=True)
            grad_targets -= (lr / n) * (pz - z)
            m = mass * p * (z - pz) / n
            v = v - lr * torch.bmm(m.view(s, r * k, n), inputs)
            c = c - lr * m.sum(-1)
        return grad_targets.transpose(2, 3), None, None, None, None, None


class GramUnrolledDescent(torch.autograd.Function):
    """The descent of :class:`UnrolledDescent` run on the classifiers' logits over all N samples.

    With G = X X^T + 1 1^T, the (N, N) Gram matrix of phi2 with a constant bias feature, a
    step ``W <- W - lr R^T X``, ``b <- b - lr 1^T R`` moves the logits ``Z = W X^T + b 1^T``
    (rows: classes, columns: samples) by ``Z <- Z - lr R G``: the inner loop needs neither
    the weights nor phi2, only G. Samples outside a classifier's training set have zero
    targets and so zero mass: their residual is 0 and they do not pull on the descent, while
    their logits are still carried along (the held-out part of a subset reads its logits
    there). Going back, the adjoint A of the logits gives ``U = A G`` (how the next logits
    move), then the targets receive ``-lr/count (<P, U> - U)`` and A becomes
    ``A - lr M``, ``M = s P * (U - <P, U>) / count``: the formulas of UnrolledDescent with U
    in place of ``X V^T + c``. Stored: the softmax of every step, T x (C, K, N).
    """

    @staticmethod
    def forward(ctx, targets, gram, z0, steps, lr, count):
        """targets (C, N, K) zero outside each training set, gram (N, N), z0 (C, K, N) -> z_T.

        ``count`` is the number of training samples of each classifier (the mean's divisor).
        """
        c, n, k = targets.shape
        targets_t = targets.transpose(1, 2).contiguous()  # (C, K, N)
        mass = targets_t.sum(1, keepdim=True)  # (C, 1, N)
        keep = ctx.needs_input_grad[0] or ctx.needs_input_grad[2]
        probs = z0.new_empty((steps, c, k, n)) if keep else None
        z = z0
        for t in range(steps):
            p = torch.softmax(z, dim=1)
            if keep:
                probs[t] = p
            residual = (p * mass - targets_t) / count
            z = z - lr * (residual.view(c * k, n) @ gram).view(c, k, n)
        if keep:
            ctx.save_for_backward(targets_t, gram, probs)
        ctx.lr, ctx.count = lr, count
        return z

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_z):
        targets_t, gram, probs = ctx.saved_tensors
        c, k, n = targets_t.shape
        scale = ctx.lr / ctx.count
        mass = targets_t.sum(1, keepdim=True)
        grad_targets = torch.zeros_like(targets_t)
        adjoint = grad_z
        for t in reversed(range(probs.shape[0])):
            p = probs[t]
            u = (adjoint.reshape(c * k, n) @ gram).view(c, k, n)
            pu = (p * u).sum(1, keepdim=True)
            grad_targets -= scale * (pu - u)
            adjoint = adjoint - scale * mass * p * (u - pu)
        grad_z0 = adjoint if ctx.needs_input_grad[2] else None
        return grad_targets.transpose(1, 2), None, grad_z0, None, None, None


def gram_matrix(phi2: torch.Tensor) -> torch.Tensor:
    """(N, N) inner products of the rows of ``phi2`` (N, d2) with a constant bias feature
    appended: ``phi2 phi2^T + 1``, the matrix that moves the inner logits in the gram form."""
    return torch.addmm(phi2.new_ones(()), phi2, phi2.T)
