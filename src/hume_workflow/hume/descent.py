"""The inner problem: linear classifiers on phi2 adapted by unrolled gradient descent.

Two exact forms of the same descent and of its hypergradient: on the classifiers'
weights (:class:`AdaptedCrossEntropy`) and on their logits through the Gram matrix of
phi2 (:class:`GramUnrolledDescent`).
"""

from __future__ import annotations

from collections.abc import Iterator

import torch

from hume_workflow.hume import inner_forms
from hume_workflow.hume.inner_forms import keeps_softmax, reverse_pass_bytes, subset_groups


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


def _gathered_groups(
    features: torch.Tensor, idx: torch.Tensor, kept_bytes: int
) -> Iterator[tuple[slice, torch.Tensor]]:
    """(group, its inputs (G, m, d)) for each group of :func:`subset_groups`, gathered from
    ``features`` (N, d) by ``idx`` (S, m) into one buffer reused by every group (a new
    allocation of that size per group would be filled page by page)."""
    m, d = idx.shape[1], features.shape[1]
    block_bytes = m * d * features.element_size()
    groups = subset_groups(idx.shape[0], block_bytes, kept_bytes, features.is_cuda)
    buffer = features.new_empty(((groups[0].stop - groups[0].start) * m, d))
    for g in groups:
        rows = idx[g].reshape(-1)
        yield g, torch.index_select(features, 0, rows, out=buffer[: len(rows)]).view(-1, m, d)


def class_major_product(w: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``w x^T``, (G, rows, d) by (G, n, d) -> (G, rows, n): the layout in which a softmax
    over the classes is fast. Computed sample-major and transposed where the inputs are a
    large block (inner_forms.LARGE_BLOCK_BYTES), the faster product for thin ``w``."""
    if x.shape[1] * x.shape[2] * x.element_size() > inner_forms.LARGE_BLOCK_BYTES:
        return torch.bmm(x, w.transpose(1, 2)).transpose(1, 2).contiguous()
    return torch.bmm(w, x.transpose(1, 2))


class AdaptedCrossEntropy(torch.autograd.Function):
    """The held-out soft-label cross-entropy of linear softmax classifiers adapted to each
    subset's training part by plain gradient descent, with its exact gradient through every
    step written in closed form.

    For one subset with training inputs X (n, d), targets Y (n, K) of row sums s, and
    parameters (W, b), a step is ``W <- W - lr R^T X``, ``b <- b - lr 1^T R`` with
    ``R = (P s - Y) / n``, ``P = softmax(X W^T + b)``: the gradient of the mean soft-label
    cross-entropy. The held-out loss of the final classifier, on inputs X' (n', d) with
    targets Y', gives the adjoints ``V = A^T X'``, ``c = 1^T A``, ``A = (P' s' - Y') / n'``.
    Going back through a step, with ``Z = X V^T + c`` (how its logits move along them):

    - the targets receive ``-lr/n (<P, Z> - Z)`` (row-wise inner product);
    - the adjoints become ``V - lr M^T X``, ``c - lr 1^T M`` with
      ``M = s P * (Z - <P, Z>) / n``, a Hessian-vector product of the inner loss.

    Each (subset, run) loss depends on its own targets only, so its gradient is computed in
    the forward pass and scaled by the incoming gradient in the backward pass. The subsets
    advance in cache-sized groups (:func:`subset_groups`), each through all its steps forward
    and back while its inputs are in cache; the softmax of each step is kept for the way back
    (T x (G, R*K, n)) for one group at a time, or where that is more than the step's weights
    and the block is small (:func:`inner_forms.keeps_softmax`), the weights, from which one
    product with [W_t; V] recomputes the softmax and Z. Logits are class-major, (G, R*K, n). This is
    the same mathematics as autograd's double backward through the unrolled steps (tested to
    float64 precision against it, against a per-subset reference loop and against finite
    differences), without its graph.
    """

    @staticmethod
    def forward(ctx, labels_train, labels_test, features, idx, w0, b0, steps, lr):
        """labels_train (S, R, n, K), labels_test (S, R, n', K), features (N, d), idx
        (S, n + n') the rows of each subset, training part first, w0 (S, R, K, d), b0
        (S, R, K) -> the held-out cross-entropy (S, R).

        The R classifiers of a subset (one per run sharing it) read its inputs together.
        """
        s, r, n, k = labels_train.shape
        n_test, d = labels_test.shape[2], features.shape[1]
        y_train = labels_train.transpose(2, 3).contiguous()  # (S, R, K, n)
        y_test = labels_test.transpose(2, 3).contiguous()  # (S, R, K, n')
        mass = y_train.sum(2, keepdim=True)  # (S, R, 1, n)
        second_order, direct = ctx.needs_input_grad[:2]
        grad_train = torch.zeros_like(y_train) if second_order else None
        grad_test = torch.empty_like(y_test) if direct else None
        cross_entropy = y_test.new_empty((s, r))
        keep_softmax = keeps_softmax(n, d, features.element_size())
        kept = reverse_pass_bytes(steps, r * k, n, d, features.element_size())
        for g, x in _gathered_groups(features, idx, kept if second_order else 0):
            x_train, x_test, y, mass_g = x[:, :n], x[:, n:], y_train[g], mass[g]
            kept_steps = []  # each step's softmax, or its weights to recompute the softmax from
            w, b = w0[g].reshape(-1, r * k, d), b0[g]
            for _ in range(steps):
                logits = class_major_product(w, x_train).view(-1, r, k, n) + b.unsqueeze(-1)
                p = torch.softmax(logits, dim=2)
                if second_order:
                    kept_steps.append(p if keep_softmax else (w, b))
                residual = (p * mass_g - y) / n
                w = w - lr * torch.bmm(residual.view(-1, r * k, n), x_train)
                b = b - lr * residual.sum(-1)
            logits = class_major_product(w, x_test).view(-1, r, k, n_test) + b.unsqueeze(-1)
            log_p = torch.log_softmax(logits, dim=2)
            cross_entropy[g] = -(y_test[g] * log_p).sum(2).mean(-1)
            if direct:
                grad_test[g] = -log_p / n_test
            if second_order:
                adjoint = (log_p.exp() * y_test[g].sum(2, keepdim=True) - y_test[g]) / n_test
                v = torch.bmm(adjoint.view(-1, r * k, n_test), x_test)
                c = adjoint.sum(-1)
                grad_y = grad_train[g]
                for kept_step in reversed(kept_steps):
                    if keep_softmax:
                        p, z = kept_step, class_major_product(v, x_train)
                    else:  # one product gives the step's logits and how they move
                        w_t, b_t = kept_step
                        both = class_major_product(torch.cat([w_t, v], dim=1), x_train)
                        logits = both[:, : r * k].view(-1, r, k, n) + b_t.unsqueeze(-1)
                        p, z = torch.softmax(logits, dim=2), both[:, r * k :]
                    z = z.reshape(-1, r, k, n) + c.unsqueeze(-1)
                    pz = (p * z).sum(2, keepdim=True)
                    grad_y -= (lr / n) * (pz - z)
                    m = mass_g * p * (z - pz) / n
                    v = v - lr * torch.bmm(m.view(-1, r * k, n), x_train)
                    c = c - lr * m.sum(-1)
        ctx.save_for_backward(grad_train, grad_test)
        return cross_entropy

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_cross_entropy):
        grad_train, grad_test = ctx.saved_tensors
        scale = grad_cross_entropy[:, :, None, None]
        return (
            None if grad_train is None else (grad_train * scale).transpose(2, 3),
            None if grad_test is None else (grad_test * scale).transpose(2, 3),
            *(None,) * 6,
        )


class GramUnrolledDescent(torch.autograd.Function):
    """The descent of :class:`AdaptedCrossEntropy` run on the classifiers' logits over all N
    samples.

    With G = X X^T + 1 1^T, the (N, N) Gram matrix of phi2 with a constant bias feature, a
    step ``W <- W - lr R^T X``, ``b <- b - lr 1^T R`` moves the logits ``Z = W X^T + b 1^T``
    (rows: classes, columns: samples) by ``Z <- Z - lr R G``: the inner loop needs neither
    the weights nor phi2, only G. Samples outside a classifier's training set have zero
    targets and so zero mass: their residual is 0 and they do not pull on the descent, while
    their logits are still carried along (the held-out part of a subset reads its logits
    there). Going back, the adjoint A of the logits gives ``U = A G`` (how the next logits
    move), then the targets receive ``-lr/count (<P, U> - U)`` and A becomes
    ``A - lr M``, ``M = s P * (U - <P, U>) / count``: the formulas of AdaptedCrossEntropy with U
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
