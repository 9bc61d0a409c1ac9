"""One HUME run: search for the labeling of phi1 that a linear model on phi2 generalises best.

The objective (HUME_SPEC.md, "One HUME run"; Gadetsky & Brbic, NeurIPS 2023, Eq. 3-5):
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

    from hume_workflow.hume import HumeConfig, run_hume
    result = run_hume(phi1, phi2, HumeConfig(num_classes=10, num_iters=50), seed=0)
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
from torch import nn
from torch.nn.utils import parametrizations
from tqdm import tqdm

from hume_workflow.errors import InputError
from hume_workflow.inner_forms import INNER_FORMS, pick_inner_form, train_size
from hume_workflow.sparsemax import sparsemax

log = logging.getLogger(__name__)

# How the outer gradient goes back through the inner optimisation. closed_form and autograd
# are the same exact second-order hypergradient (closed_form is faster and lighter);
# first_order detaches the labels inside the inner loop (as TURTLE does): cheaper, not HUME's.
HYPERGRADIENTS = ("closed_form", "autograd", "first_order")


@dataclass(frozen=True)
class HumeConfig:
    """Hyperparameters of one HUME run; the defaults are the paper's (HUME_SPEC.md)."""

    num_classes: int
    inner_lr: float = 0.001
    outer_lr: float = 0.001
    tau: float = 0.1
    h_reg: float = 10.0
    num_iters: int = 1000
    adaptation_steps: int = 300
    num_subsets: int = 20
    subset_size: int = 10000
    train_fraction: float = 0.9
    anneal: bool = True
    anneal_milestones: tuple[int, ...] = (100, 200)
    rand_init: bool = True
    grad_clip: float = 1.0
    hypergradient: str = "closed_form"
    shared_subsets: bool = False  # runs of one process draw common subsets (run_hume_many)
    inner_form: str = "auto"  # where the inner descent runs: inner_forms.py

    def __post_init__(self) -> None:
        """Raises InputError naming the config key (``hume.<field>``, ``dataset.num_classes``)."""
        if self.hypergradient not in HYPERGRADIENTS:
            raise InputError(
                f"config hume.hypergradient={self.hypergradient!r}: expected one of "
                f"{', '.join(HYPERGRADIENTS)}"
            )
        if self.inner_form not in INNER_FORMS:
            raise InputError(
                f"config hume.inner_form={self.inner_form!r}: expected one of "
                f"{', '.join(INNER_FORMS)}"
            )
        if self.inner_form == "gram" and self.hypergradient == "autograd":
            raise InputError(
                "config hume.inner_form='gram' needs hypergradient closed_form or first_order "
                "(autograd unrolls the weights); set hume.hypergradient: closed_form"
            )
        if self.num_classes < 2:
            raise InputError(f"config dataset.num_classes={self.num_classes}: expected at least 2")
        if not 0 < self.train_fraction < 1:
            raise InputError(
                f"config hume.train_fraction={self.train_fraction}: expected a value in (0, 1)"
            )
        for name in ("inner_lr", "outer_lr", "tau", "grad_clip"):
            if getattr(self, name) <= 0:
                raise InputError(
                    f"config hume.{name}={getattr(self, name)}: expected a positive number"
                )
        for name in ("num_iters", "adaptation_steps", "num_subsets", "subset_size"):
            if getattr(self, name) < 1:
                raise InputError(
                    f"config hume.{name}={getattr(self, name)}: expected a positive integer"
                )


@dataclass
class HumeResult:
    """What one run found. Arrays are over the evaluation samples (n_eval,)."""

    labels: np.ndarray  # (n_eval,) int64 hard labels, argmax(theta phi1)
    confidence: np.ndarray  # (n_eval,) float32, max of the soft label sparsemax(theta phi1 / tau)
    mean_soft_label: np.ndarray  # (K,) float32, mean soft label over the evaluation samples
    theta: np.ndarray  # (K, d1) float32, the final task encoder
    loss_trace: dict[str, np.ndarray] = field(default_factory=dict)  # per outer iteration
    wall_time_s: float = 0.0


def l2_normalise(x: torch.Tensor) -> torch.Tensor:
    """Rows of ``x`` (n_samples, dim) scaled to unit Euclidean norm."""
    return x / x.norm(dim=1, keepdim=True).clamp_min(1e-12)


def make_task_encoder(d1: int, num_classes: int, generator: torch.Generator) -> nn.Linear:
    """A bias-free linear map d1 -> K whose K x d1 weight has orthonormal rows."""
    if d1 < num_classes:
        raise InputError(
            f"phi1 has dimension {d1} < dataset.num_classes={num_classes}: the orthogonal task "
            "encoder needs at least K dimensions; pair a wider phi1 (or a pca_dim >= K)"
        )
    encoder = nn.Linear(d1, num_classes, bias=False)
    with torch.no_grad():
        nn.init.orthogonal_(encoder.weight, generator=generator)
    # Registering completes the K x d1 weight to a d1 x d1 orthogonal base with torch.randn
    # from the global RNG; seed it from the run's generator so the run is reproducible.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(torch.randint(2**62, (1,), generator=generator)))
        return parametrizations.orthogonal(encoder)


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


def outer_losses(
    theta: torch.Tensor,
    phi1_subsets: torch.Tensor,
    phi2_subsets: torch.Tensor,
    w0: torch.Tensor,
    b0: torch.Tensor,
    tau: float,
    config: HumeConfig,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """HUME's outer objective of R runs on S subsets, each (subset, run) on its own.

    Args:
        theta: (S, R, K, d1) task encoders, or (1, R, K, d1) when all subsets are shared by
            the R runs.
        phi1_subsets: (S, n, d1) L2-normalised phi1 of each subset; phi2_subsets: (S, n, d2).
            The first ``round(train_fraction * n)`` samples of a subset are its training part.
        w0, b0: (S, R, K, d2), (S, R, K) initial inner classifiers.
        config: hyperparameters; ``config.hypergradient`` picks how the gradient goes back
            through the inner steps (closed_form, autograd or first_order).

    Returns:
        (loss, cross_entropy, entropy), each (S, R).
    """
    s, n = phi1_subsets.shape[:2]
    r, k = theta.shape[1:3]
    n_train = train_size(n, config.train_fraction)
    labels = sparsemax(phi1_subsets.unsqueeze(1) @ theta.transpose(-1, -2) / tau)  # (S, R, n, K)
    labels_train = labels[:, :, :n_train]
    phi2_train, phi2_test = phi2_subsets[:, :n_train], phi2_subsets[:, n_train:]
    steps, lr = config.adaptation_steps, config.inner_lr
    if config.hypergradient == "autograd":  # the runs' copies of each subset, flattened
        w, b = adapt_inner_classifiers(
            phi2_train.repeat_interleave(r, dim=0),
            labels_train.flatten(0, 1),
            w0.flatten(0, 1),
            b0.flatten(0, 1),
            steps,
            lr,
        )
        w, b = w.view(s, r, k, -1), b.view(s, r, k)
    else:
        if config.hypergradient == "first_order":
            labels_train = labels_train.detach()
        w, b = UnrolledDescent.apply(labels_train, phi2_train, w0, b0, steps, lr)
    logits_test = phi2_test.unsqueeze(1) @ w.transpose(-1, -2) + b.unsqueeze(2)
    return _outer_terms(logits_test, labels, n_train, config.h_reg)


def _outer_terms(
    logits_test: torch.Tensor, labels: torch.Tensor, n_train: int, h_reg: float
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(loss, cross_entropy, entropy), each (S, R), from the adapted classifiers' logits on
    the held-out part (S, R, n - n_train, K) and the labels of the whole subsets (S, R, n, K)."""
    cross_entropy = soft_cross_entropy(logits_test, labels[:, :, n_train:])
    entropy = torch.special.entr(labels.mean(dim=2)).sum(-1)
    return cross_entropy - h_reg * entropy, cross_entropy, entropy


def gram_matrix(phi2: torch.Tensor) -> torch.Tensor:
    """(N, N) inner products of the rows of ``phi2`` (N, d2) with a constant bias feature
    appended: ``phi2 phi2^T + 1``, the matrix that moves the inner logits in the gram form."""
    return torch.addmm(phi2.new_ones(()), phi2, phi2.T)


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
        theta: (S, R, K, d1) or (1, R, K, d1) task encoders, as in :func:`outer_losses`.
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
    labels_all = sparsemax(phi1 @ theta.transpose(-1, -2) / tau)  # (S or 1, R, N, K)
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
    labels = labels_all.expand(s, -1, -1, -1).gather(2, idx[:, None, :, None].expand(s, r, m, k))
    return _outer_terms(logits_test.transpose(2, 3), labels, n_train, config.h_reg)


def outer_loss(
    theta: torch.Tensor,
    phi1_subsets: torch.Tensor,
    phi2_subsets: torch.Tensor,
    w0: torch.Tensor,
    b0: torch.Tensor,
    tau: float,
    config: HumeConfig,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """HUME's outer objective of one run averaged over S subsets.

    Args:
        theta: (K, d1) task encoder; phi1_subsets (S, n, d1), phi2_subsets (S, n, d2) as in
            :func:`outer_losses`; w0, b0: (S, K, d2), (S, K) initial inner classifiers.

    Returns:
        (loss, cross_entropy, entropy): the scalar loss and the per-subset (S,) parts.
    """
    loss, cross_entropy, entropy = outer_losses(
        theta[None, None], phi1_subsets, phi2_subsets, w0[:, None], b0[:, None], tau, config
    )
    return loss.mean(), cross_entropy[:, 0], entropy[:, 0]


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
    s, k = config.num_subsets, config.num_classes
    if config.subset_size > n:
        log.info("subset_size=%d capped at the %d training samples", config.subset_size, n)
    form = inner_form_for(config, n, d2)
    log.info("inner descent in the %s form (inner_form=%s)", form, config.inner_form)
    gram = gram_matrix(x2) if form == "gram" else None

    generators = [torch.Generator().manual_seed(seed) for seed in seeds]
    encoders = [make_task_encoder(x1.shape[1], k, g).to(device) for g in generators]
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
            theta_s = theta.repeat_interleave(s, dim=0).unsqueeze(1)  # (R*S, 1, K, d1)
        idx, w0, b0 = idx.to(device), w0.to(device), b0.to(device)
        if gram is None:
            losses, ce, ent = outer_losses(theta_s, x1[idx], x2[idx], w0, b0, tau, config)
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


def config_dict(config: HumeConfig) -> dict:
    """The hyperparameters as a JSON-serialisable dict (recorded in every run file)."""
    out = asdict(config)
    out["anneal_milestones"] = list(config.anneal_milestones)
    return out
