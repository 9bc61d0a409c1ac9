"""HUME's generalisation score in torch: all cross-validation folds fitted at once.

Computes what :func:`hume_workflow.hume.score.generalisation_score` computes (same shuffled
folds, per-fold standardisation, unregularised multinomial logistic regression, pooled
held-out accuracy, same edge cases) but fits the ``F`` folds' models together with a
batched L-BFGS written here: every fold keeps its own history, step length and stopping
test, so the folds stay independent optimisation problems, as in sklearn's per-fold
``L-BFGS-B`` fits (history 10, gradient tolerance 1e-4, ``max_iter`` iterations).
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.model_selection import KFold

HISTORY = 10  # L-BFGS memory, as scipy's L-BFGS-B used by sklearn
GTOL = 1e-4  # sklearn's default tol: stop when max |gradient| of a fold's mean loss <= GTOL
WOLFE_DECREASE, WOLFE_CURVATURE = 1e-3, 0.9  # strong Wolfe constants of L-BFGS-B's search
BRACKET_TOL = 0.1  # a search ends when its bracket is this narrow, relative to the step
MAX_LINE_SEARCH = 50  # evaluations before a fold's line search gives up (sklearn's maxls)

Pair = tuple[torch.Tensor, torch.Tensor, torch.Tensor]  # L-BFGS s (F, P), y (F, P), 1 / s.y (F,)


class _FoldsProblem:
    """Mean cross-entropy of F independent multinomial logistic regressions on shared rows.

    Parameters ``theta`` (F, d * K + K) hold each fold's weights (d, K) and bias (K,) for
    its standardised features ``(x - mean_f) / std_f``; the standardisation is folded into
    the weights so that x (N, d) is never copied per fold. A fold whose training part holds
    two classes fits sklearn's binomial model instead: the first class's logit stays 0.
    """

    def __init__(
        self,
        x: torch.Tensor,
        y: torch.Tensor,
        train: torch.Tensor,
        mean: torch.Tensor,
        std: torch.Tensor,
        present: torch.Tensor,
    ) -> None:
        """x (N, d); y (N,) class indices; train (F, N) bool; mean, std (F, d); present (F, K)."""
        self.x, self.mean, self.std = x, mean, std
        n_folds, n_classes = present.shape
        self.shape = (n_folds, x.shape[1], n_classes)
        weight = train.T.to(x.dtype) / train.sum(1).to(x.dtype)  # (N, F): 1/n_f on train rows
        self.target = torch.nn.functional.one_hot(y, n_classes).to(x.dtype)[:, None, :]
        self.row_weight = weight[:, :, None]  # (N, F, 1)
        self.absent = ~present  # (F, K): classes a fold never saw are never predicted
        free = present.clone()  # (F, K): classes whose weights are fitted
        binary = present.sum(1) == 2
        free[binary, present[binary].to(torch.uint8).argmax(1)] = False
        self.free = free.to(x.dtype)

    def logits(self, theta: torch.Tensor) -> torch.Tensor:
        """(N, F, K) logits of every row under every fold's model; absent classes at -inf."""
        n_folds, d, k = self.shape
        w = theta[:, : d * k].view(n_folds, d, k) / self.std[:, :, None]
        b = theta[:, d * k :] - torch.einsum("fd,fdk->fk", self.mean, w)
        z = (self.x @ w.permute(1, 0, 2).reshape(d, n_folds * k)).view(-1, n_folds, k) + b
        return z.masked_fill(self.absent, float("-inf"))

    def loss_grad(self, theta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Each fold's mean training cross-entropy (F,) and its gradient (F, d * K + K)."""
        n_folds, d, k = self.shape
        log_p = torch.log_softmax(self.logits(theta), dim=2)
        terms = torch.nan_to_num(log_p, neginf=0.0) * self.target * self.row_weight
        loss = -terms.sum((0, 2), dtype=torch.float64)  # float32 sums hide the last decreases
        residual = (log_p.exp() - self.target) * self.row_weight * self.free  # (N, F, K)
        grad_b = residual.sum(0)  # (F, K)
        grad_w = (self.x.T @ residual.view(-1, n_folds * k)).view(d, n_folds, k).permute(1, 0, 2)
        grad_w = (grad_w - self.mean[:, :, None] * grad_b[:, None, :]) / self.std[:, :, None]
        return loss, torch.cat([grad_w.reshape(n_folds, d * k), grad_b], dim=1)


def _direction(grad: torch.Tensor, pairs: list[Pair], gamma: torch.Tensor) -> torch.Tensor:
    """-H grad (F, P) per fold by the L-BFGS two-loop recursion over (s, y, rho) pairs."""
    q = grad.clone()
    alphas = []
    for s, y, rho in reversed(pairs):
        alpha = rho * (s * q).sum(1)
        q -= alpha[:, None] * y
        alphas.append(alpha)
    r = gamma[:, None] * q
    for (s, y, rho), alpha in zip(pairs, reversed(alphas), strict=True):
        r += s * (alpha - rho * (y * r).sum(1))[:, None]
    return -r


def _cubic_min(
    a: torch.Tensor,
    fa: torch.Tensor,
    da: torch.Tensor,
    b: torch.Tensor,
    fb: torch.Tensor,
    db: torch.Tensor,
) -> torch.Tensor:
    """Minimiser (F,) of the cubic matching values f and slopes d at steps a and b; nan if none."""
    d1 = da + db - 3 * (fa - fb) / (a - b)
    d2 = torch.sign(b - a) * (d1**2 - da * db).sqrt()
    return b - (b - a) * (db + d2 - d1) / (db - da + 2 * d2)


def _line_search(
    problem: _FoldsProblem,
    theta: torch.Tensor,
    loss: torch.Tensor,
    grad: torch.Tensor,
    direction: torch.Tensor,
    step: torch.Tensor,
    active: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-fold strong Wolfe step along direction (F, P), all folds evaluated together.

    Extrapolates until the minimum along the line is bracketed, then zooms in by safeguarded
    cubic interpolation (Nocedal & Wright, algorithms 3.5 and 3.6), with sklearn's constants.
    Returns the step (F,), 0 where it failed, with the loss (F,) and gradient (F, P) there.
    """
    slope = (grad * direction).sum(1)  # (F,) derivative along the line at step 0
    lo_t, lo_f, lo_d, lo_g = torch.zeros_like(slope), loss, slope, grad  # best step so far
    hi_t, hi_f, hi_d = lo_t, lo_f, lo_d  # other end of the bracket, once bracketed
    bracketed = torch.zeros_like(active)
    done = ~active
    for _ in range(MAX_LINE_SEARCH):
        f, g = problem.loss_grad(theta + step[:, None] * direction)
        d = (g * direction).sum(1)
        searching = ~done
        high = searching & ((f > loss + WOLFE_DECREASE * step * slope) | (f >= lo_f))
        low = searching & ~high
        wolfe = low & (d.abs() <= -WOLFE_CURVATURE * slope)
        flip = low & ~wolfe & torch.where(bracketed, d * (hi_t - lo_t) >= 0, d >= 0)
        hi_t = torch.where(high, step, torch.where(flip, lo_t, hi_t))
        hi_f = torch.where(high, f, torch.where(flip, lo_f, hi_f))
        hi_d = torch.where(high, d, torch.where(flip, lo_d, hi_d))
        bracketed |= high | flip
        prev_t, prev_f, prev_d = lo_t, lo_f, lo_d
        lo_t, lo_f, lo_d = (
            torch.where(low, new, old) for new, old in ((step, lo_t), (f, lo_f), (d, lo_d))
        )
        lo_g = torch.where(low[:, None], g, lo_g)
        width = (hi_t - lo_t).abs()
        done |= wolfe | (bracketed & (width <= BRACKET_TOL * torch.maximum(lo_t, hi_t)))
        if done.all():
            break
        zoom = _cubic_min(lo_t, lo_f, lo_d, hi_t, hi_f, hi_d)
        left, right = (
            torch.minimum(lo_t, hi_t) + 0.1 * width,
            torch.maximum(lo_t, hi_t) - 0.1 * width,
        )
        zoom = torch.where(zoom.isnan(), (lo_t + hi_t) / 2, zoom.clamp(left, right))
        extra = _cubic_min(prev_t, prev_f, prev_d, lo_t, lo_f, lo_d)
        left, right = lo_t + 1.1 * (lo_t - prev_t), lo_t + 4 * (lo_t - prev_t)
        extra = torch.where(extra.isnan(), right, extra.clamp(left, right))
        step = torch.where(done, lo_t, torch.where(bracketed, zoom, extra))
        step = step.to(slope.dtype)  # float64 losses must not promote the steps
    return lo_t, lo_f, lo_g


def _minimise(problem: _FoldsProblem, theta: torch.Tensor, max_iter: int) -> torch.Tensor:
    """Batched L-BFGS with a per-fold strong Wolfe line search; returns theta (F, P).

    As in L-BFGS-B, the first step tries length 1 / |gradient| and later ones 1. A fold stops
    when max |gradient| <= GTOL, when its loss stops decreasing (relative change <= 64 eps,
    sklearn's ftol), when its line search fails, or after max_iter steps.
    """
    ftol = 64 * torch.finfo(torch.float64).eps
    loss, grad = problem.loss_grad(theta)
    active = grad.abs().amax(1) > GTOL
    pairs: list[Pair] = []
    gamma = torch.ones_like(active, dtype=theta.dtype)
    for it in range(max_iter):
        if not active.any():
            break
        direction = _direction(grad, pairs, gamma) * active[:, None]
        step = 1 / direction.norm(dim=1).clamp_min(1e-30) if it == 0 else torch.ones_like(gamma)
        step, new_loss, new_grad = _line_search(
            problem, theta, loss, grad, direction, torch.where(active, step, 0.0), active
        )
        active &= step > 0  # a failed line search ends that fold
        s = step[:, None] * direction
        theta = theta + s
        y = torch.where(active[:, None], new_grad - grad, 0.0)
        sy = (s * y).sum(1)
        yy = (y * y).sum(1)
        curved = sy > torch.finfo(theta.dtype).eps * yy.clamp_min(1e-30)
        rho = torch.where(curved, 1 / torch.where(curved, sy, 1.0), 0.0)  # 0: pair is a no-op
        gamma = torch.where(curved, sy / torch.where(curved, yy, 1.0), gamma)
        pairs = [*pairs[-(HISTORY - 1) :], (s, y, rho)]
        decrease = (loss - new_loss) / torch.maximum(loss.abs(), new_loss.abs()).clamp_min(1.0)
        loss = torch.where(active, new_loss, loss)
        grad = torch.where(active[:, None], new_grad, grad)
        active &= (grad.abs().amax(1) > GTOL) & (decrease > ftol)
    return theta


def generalisation_score_torch(
    phi2: np.ndarray,
    labels: np.ndarray,
    n_folds: int = 10,
    max_iter: int = 100,
    device: str = "cpu",
    fold_seed: int = 0,
    dtype: torch.dtype | None = None,
) -> float:
    """Pooled cross-validated accuracy of unregularised multinomial LR on ``phi2``, batched.

    Same folds (``KFold(min(n_folds, N), shuffle=True, random_state=fold_seed)``), edge
    cases and pooled accuracy as ``generalisation_score(...).score``; one cluster scores 0.0.
    The arguments are those of :func:`held_out_predictions_torch`.
    """
    labels = np.asarray(labels)
    predicted = held_out_predictions_torch(
        phi2, labels, n_folds, max_iter, device, fold_seed, dtype
    )
    return float((predicted == labels).mean()) if len(np.unique(labels)) > 1 else 0.0


def held_out_predictions_torch(
    phi2: np.ndarray,
    labels: np.ndarray,
    n_folds: int = 10,
    max_iter: int = 100,
    device: str = "cpu",
    fold_seed: int = 0,
    dtype: torch.dtype | None = None,
) -> np.ndarray:
    """(N,) each sample's label as predicted by the fold that held it out, batched.

    Args:
        phi2: (N, d) features.
        labels: (N,) hard labels of one run (one class: every fold predicts it).
        device: where the features and the fits live.
        dtype: float64 on CPU and float32 elsewhere when None.
    """
    labels = np.asarray(labels)
    if phi2.shape[0] != labels.shape[0]:
        raise ValueError(f"phi2 has {phi2.shape[0]} samples but labels has {labels.shape[0]}")
    classes, y_np = np.unique(labels, return_inverse=True)
    if len(classes) < 2:
        return labels.copy()
    n = len(labels)
    splits = list(KFold(min(n_folds, n), shuffle=True, random_state=fold_seed).split(phi2))
    train_np = np.zeros((len(splits), n), dtype=bool)
    for f, (train_idx, _) in enumerate(splits):
        train_np[f, train_idx] = True
    dtype = dtype or (torch.float64 if torch.device(device).type == "cpu" else torch.float32)
    x = torch.as_tensor(phi2, dtype=dtype, device=device)
    x = x - x.mean(0, dtype=torch.float64).to(dtype)  # centred: the folded bias stays accurate
    y = torch.as_tensor(y_np, device=device)
    train = torch.as_tensor(train_np, device=device)
    stats = [torch.var_mean(x[t], dim=0, correction=0) for t in train]
    std = torch.stack([v.sqrt() for v, _ in stats])
    std = torch.where(std < 10 * torch.finfo(dtype).eps, 1.0, std)  # as StandardScaler
    mean = torch.stack([m for _, m in stats])
    present = train.to(dtype) @ torch.nn.functional.one_hot(y, len(classes)).to(dtype) > 0
    problem = _FoldsProblem(x, y, train, mean, std, present)
    theta = x.new_zeros(len(splits), x.shape[1] * len(classes) + len(classes))
    theta = _minimise(problem, theta, max_iter)
    predicted = problem.logits(theta).argmax(2)  # (N, F)
    held_out = (~train).to(torch.int64).argmax(0)  # (N,) the fold that holds each sample out
    own = predicted.gather(1, held_out[:, None])[:, 0]
    return classes[own.cpu().numpy()]
