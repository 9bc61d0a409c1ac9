"""The HUME objective: exact second-order hypergradient, orthogonal encoder, planted labeling."""

import dataclasses

import numpy as np
import pytest
import torch
from reference_hume import reference_outer_loss

from hume_workflow.aggregate.metrics import cluster_accuracy
from hume_workflow.errors import InputError
from hume_workflow.hume import inner_forms
from hume_workflow.hume.config import HumeConfig
from hume_workflow.hume.descent import (
    AdaptedCrossEntropy,
    adapt_inner_classifiers,
    init_inner_classifiers,
    largest_curvature,
    soft_cross_entropy,
)
from hume_workflow.hume.objective import l2_normalise, make_task_encoder, outer_loss
from hume_workflow.hume.score import generalisation_score
from hume_workflow.hume.sparsemax import sparsemax
from hume_workflow.hume.training import draw_subsets, run_hume, run_hume_many

torch.set_num_threads(1)


def tiny_problem():
    g = torch.Generator().manual_seed(0)
    S, n, d1, d2, K = 2, 12, 5, 4, 3
    phi1 = l2_normalise(torch.randn(S * n, d1, generator=g, dtype=torch.float64)).reshape(S, n, d1)
    phi2 = torch.randn(S, n, d2, generator=g, dtype=torch.float64)
    theta = torch.linalg.qr(torch.randn(d1, K, generator=g, dtype=torch.float64))[0].T.contiguous()
    w0, b0 = init_inner_classifiers(S, d2, K, g, torch.float64)
    config = HumeConfig(num_classes=K, inner_lr=0.5, adaptation_steps=5, train_fraction=0.75)
    return theta, phi1, phi2, w0, b0, config


def as_fit_set(phi1_subsets, phi2_subsets):
    """Subsets (S, n, d1), (S, n, d2) as the rows of one fit set and their indices (S, n)."""
    s, n = phi1_subsets.shape[:2]
    idx = torch.arange(s * n).view(s, n)
    return phi1_subsets.flatten(0, 1), phi2_subsets.flatten(0, 1), idx


def loss_at(theta, phi1, phi2, w0, b0, config):
    return outer_loss(theta, *as_fit_set(phi1, phi2), w0.clone(), b0.clone(), 1.0, config)[0]


@pytest.mark.parametrize("hypergradient", ["closed_form", "autograd"])
def test_hypergradient_matches_central_finite_differences(hypergradient):
    theta, phi1, phi2, w0, b0, config = tiny_problem()
    config = dataclasses.replace(config, hypergradient=hypergradient)
    theta = theta.requires_grad_()
    (grad,) = torch.autograd.grad(loss_at(theta, phi1, phi2, w0, b0, config), theta)
    eps = 1e-6
    fd = torch.zeros_like(theta)
    with torch.no_grad():
        base = theta.detach()
    for idx in np.ndindex(*theta.shape):
        plus, minus = base.clone(), base.clone()
        plus[idx] += eps
        minus[idx] -= eps
        fd[idx] = (
            loss_at(plus, phi1, phi2, w0, b0, config) - loss_at(minus, phi1, phi2, w0, b0, config)
        ).item() / (2 * eps)
    assert torch.linalg.norm(grad - fd) / torch.linalg.norm(fd) < 1e-5

    # The unroll is second order: detaching the labels inside the inner loop changes it.
    first_order = dataclasses.replace(config, hypergradient="first_order")
    theta_fo = base.clone().requires_grad_()
    (grad_fo,) = torch.autograd.grad(loss_at(theta_fo, phi1, phi2, w0, b0, first_order), theta_fo)
    assert torch.linalg.norm(grad - grad_fo) / torch.linalg.norm(grad) > 1e-2


def random_problem(S=3, n=40, d1=8, d2=6, K=4, steps=25, seed=1):
    """Random float64 subsets, encoder and inner initialisations, and a config to match."""
    g = torch.Generator().manual_seed(seed)
    phi1 = l2_normalise(torch.randn(S * n, d1, generator=g, dtype=torch.float64)).reshape(S, n, d1)
    phi2 = torch.randn(S, n, d2, generator=g, dtype=torch.float64)
    theta = torch.linalg.qr(torch.randn(d1, K, generator=g, dtype=torch.float64))[0].T.contiguous()
    w0, b0 = init_inner_classifiers(S, d2, K, g, torch.float64)
    config = HumeConfig(num_classes=K, inner_lr=0.3, adaptation_steps=steps, h_reg=2.0)
    return theta, phi1, phi2, w0, b0, config


@pytest.mark.parametrize("hypergradient", ["closed_form", "autograd"])
@pytest.mark.parametrize("seed", [1, 2])
def test_batched_paths_equal_the_per_subset_reference_loop(hypergradient, seed):
    """Loss and theta-gradient of the batched implementation against the reference style: a
    Python loop over subsets, each unrolled by autograd (tests/reference_hume.py)."""
    theta, phi1, phi2, w0, b0, config = random_problem(seed=seed)
    tau = 0.5
    theta_ref = theta.clone().requires_grad_()
    ref = reference_outer_loss(theta_ref, phi1, phi2, w0, b0, tau, config)
    (grad_ref,) = torch.autograd.grad(ref, theta_ref)
    config = dataclasses.replace(config, hypergradient=hypergradient)
    theta_fast = theta.clone().requires_grad_()
    loss = outer_loss(theta_fast, *as_fit_set(phi1, phi2), w0, b0, tau, config)[0]
    (grad,) = torch.autograd.grad(loss, theta_fast)
    torch.testing.assert_close(loss, ref, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(grad, grad_ref, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize(
    "budgets",
    [
        {},
        {"GROUP_BYTES": 1},
        {"GROUP_BYTES": 1, "LARGE_BLOCK_BYTES": 0},
        {"GROUP_BYTES": 2 * 36 * 6 * 8, "LARGE_BLOCK_BYTES": 0},
        {"SOFTMAX_BYTES": 2 * 7 * 2 * 4 * 7 * 8},
        {"SOFTMAX_BYTES": 2 * 7 * 2 * 4 * 30 * 8, "LARGE_BLOCK_BYTES": 0},
    ],
    ids=[
        "together",
        "one-by-one",
        "one-by-one-large",
        "pairs-large",
        "kept-weights-pairs",
        "kept-softmax-pairs",
    ],
)
@pytest.mark.parametrize("second_order", [True, False])
def test_adapted_cross_entropy_in_every_order_equals_autograd(monkeypatch, budgets, second_order):
    """AdaptedCrossEntropy, whichever groups of subsets advance together and whichever
    product order they use, against autograd's double backward through the same steps: 5
    random subsets of 100 samples (30 training, 6 held out), each read by 2 runs (R = 2
    classifiers per block); the loss and the gradients of both label parts for a random
    cotangent, in float64. Without second order, only the held-out labels get a gradient."""
    for name, value in budgets.items():
        monkeypatch.setattr(inner_forms, name, value)
    g = torch.Generator().manual_seed(3)
    S, R, n, n_test, d, K, steps, lr = 5, 2, 30, 6, 6, 4, 7, 0.4
    features = torch.randn(100, d, generator=g, dtype=torch.float64)
    idx = draw_subsets(100, S, n + n_test, g)
    labels = torch.softmax(torch.randn(S, R, n + n_test, K, generator=g, dtype=torch.float64), -1)
    labels = labels * torch.rand(S, R, n + n_test, 1, generator=g, dtype=torch.float64)
    y_train = labels[:, :, :n].clone().requires_grad_(second_order)
    y_test = labels[:, :, n:].clone().requires_grad_()
    w0, b0 = init_inner_classifiers(S * R, d, K, g, torch.float64)
    cotangent = torch.randn(S, R, generator=g, dtype=torch.float64)

    args = (features, idx, w0.view(S, R, K, d), b0.view(S, R, K), steps, lr)
    ce = AdaptedCrossEntropy.apply(y_train, y_test, *args)
    inputs = (y_train, y_test) if second_order else (y_test,)
    grads = torch.autograd.grad((ce * cotangent).sum(), inputs)

    x = features[idx]
    w, b = adapt_inner_classifiers(
        x[:, :n].repeat_interleave(R, dim=0), y_train.flatten(0, 1), w0, b0, steps, lr
    )
    logits = torch.baddbmm(b.unsqueeze(1), x[:, n:].repeat_interleave(R, dim=0), w.mT)
    ce_ref = soft_cross_entropy(logits, y_test.flatten(0, 1)).view(S, R)
    grads_ref = torch.autograd.grad((ce_ref * cotangent).sum(), inputs)
    torch.testing.assert_close(ce, ce_ref, rtol=1e-12, atol=1e-12)
    for grad, grad_ref in zip(grads, grads_ref, strict=True):
        torch.testing.assert_close(grad, grad_ref, rtol=1e-10, atol=1e-12)


def test_subset_groups_cover_every_subset_once_within_both_budgets(monkeypatch):
    monkeypatch.setattr(inner_forms, "GROUP_BYTES", 100)
    monkeypatch.setattr(inner_forms, "SOFTMAX_BYTES", 1000)
    groups = inner_forms.subset_groups
    assert groups(5, 30) == [slice(0, 3), slice(3, 5)]
    assert groups(3, 500) == [slice(0, 1), slice(1, 2), slice(2, 3)]
    assert groups(4, 1) == [slice(0, 4)]
    assert groups(4, 1, kept_bytes=400) == [slice(0, 2), slice(2, 4)]
    assert groups(2, 1, kept_bytes=5000) == [slice(0, 1), slice(1, 2)]
    # on a GPU the blocks do not limit a group, only what it keeps
    monkeypatch.setattr(inner_forms, "GPU_SOFTMAX_BYTES", 1000)
    assert groups(5, 500, kept_bytes=400, gpu=True) == [slice(0, 2), slice(2, 4), slice(4, 5)]
    assert groups(3, 500, gpu=True) == [slice(0, 3)]


def test_the_reverse_pass_keeps_the_softmax_where_smaller_or_the_block_large():
    assert inner_forms.keeps_softmax(9000, 1536)  # CIFAR's 55 MB block
    assert not inner_forms.keeps_softmax(900, 64)  # the demo's: its weights are smaller
    assert inner_forms.keeps_softmax(50, 64)  # fewer samples than dimensions


def test_first_order_gradient_is_the_detached_inner_loop():
    """first_order equals the autograd unroll with the inner targets detached, by hand."""
    theta, phi1, phi2, w0, b0, config = random_problem()
    tau, n_train = 0.5, round(config.train_fraction * phi1.shape[1])
    theta_fo = theta.clone().requires_grad_()
    first_order = dataclasses.replace(config, hypergradient="first_order")
    (grad_fo,) = torch.autograd.grad(
        outer_loss(theta_fo, *as_fit_set(phi1, phi2), w0, b0, tau, first_order)[0], theta_fo
    )
    theta_hand = theta.clone().requires_grad_()
    labels = sparsemax(phi1 @ theta_hand.T / tau)
    w, b = adapt_inner_classifiers(
        phi2[:, :n_train], labels[:, :n_train].detach(), w0, b0, config.adaptation_steps, 0.3
    )
    logits = torch.baddbmm(b.unsqueeze(1), phi2[:, n_train:], w.transpose(1, 2))
    ce = -(labels[:, n_train:] * torch.log_softmax(logits, -1)).sum(-1).mean(-1)
    entropy = torch.special.entr(labels.mean(dim=1)).sum(-1)
    (grad_hand,) = torch.autograd.grad((ce - config.h_reg * entropy).mean(), theta_hand)
    torch.testing.assert_close(grad_fo, grad_hand, rtol=1e-10, atol=1e-12)


def test_task_encoder_stays_orthogonal():
    rng = np.random.default_rng(0)
    phi1, phi2 = rng.normal(size=(120, 8)), rng.normal(size=(120, 6))
    config = HumeConfig(
        num_classes=4,
        num_iters=15,
        adaptation_steps=3,
        num_subsets=2,
        subset_size=60,
        outer_lr=0.1,
        anneal=False,
    )
    result = run_hume(phi1, phi2, config, seed=0, progress=False)
    theta = result.theta.astype(np.float64)
    np.testing.assert_allclose(theta @ theta.T, np.eye(4), atol=1e-5)
    start = run_hume(phi1, phi2, dataclasses.replace(config, num_iters=1), seed=0, progress=False)
    assert np.abs(start.theta - result.theta).max() > 0.05  # it did move
    assert result.labels.shape == (120,)
    assert np.isfinite(result.loss_trace["loss"]).all()


def test_same_seed_gives_identical_runs_whatever_the_global_rng():
    rng = np.random.default_rng(0)
    phi1, phi2 = rng.normal(size=(80, 8)), rng.normal(size=(80, 6))
    config = HumeConfig(num_classes=3, num_iters=5, adaptation_steps=2, num_subsets=2)
    runs = []
    for global_seed in (1, 2):
        torch.manual_seed(global_seed)
        runs.append(run_hume(phi1, phi2, config, seed=7, progress=False))
    np.testing.assert_array_equal(runs[0].theta, runs[1].theta)
    np.testing.assert_array_equal(runs[0].labels, runs[1].labels)
    other = run_hume(phi1, phi2, config, seed=8, progress=False)
    assert not np.array_equal(other.theta, runs[0].theta)


def test_draw_subsets_are_without_replacement_and_capped():
    idx = draw_subsets(10, 3, 50, torch.Generator().manual_seed(0))
    assert idx.shape == (3, 10)
    assert all(len(set(row.tolist())) == 10 for row in idx)


def planted_spaces(n=300, seed=0):
    """Labels y (K=3) are linearly separable in both spaces; the labeling z is separable
    in phi1 only (phi2 carries no trace of it): HUME must prefer y."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    z = rng.integers(0, 3, n)
    means_y = rng.normal(size=(3, 6)) * 3
    means_z = rng.normal(size=(3, 6)) * 3
    phi1 = np.hstack([means_y[y], means_z[z]]) + rng.normal(size=(n, 12)) * 0.5
    phi2 = means_y[y] @ rng.normal(size=(6, 10)) + rng.normal(size=(n, 10)) * 0.5
    return phi1, phi2, y, z


# a budget with which the best of 4 seeds finds the planted labeling
PLANTED_CONFIG = HumeConfig(
    num_classes=3,
    num_iters=60,
    adaptation_steps=10,
    num_subsets=4,
    inner_lr=0.05,
    outer_lr=0.1,
    anneal_milestones=(40, 50),
)


def test_hume_recovers_the_planted_labeling():
    """As HUME is used: a few seeds, the best by generalisation score is the planted labeling."""
    phi1, phi2, y, z = planted_spaces()
    config = PLANTED_CONFIG
    runs = [run_hume(phi1, phi2, config, seed=seed, progress=False) for seed in range(4)]
    scores = [generalisation_score(phi2, r.labels).score for r in runs]
    best = runs[int(np.argmax(scores))]
    assert cluster_accuracy(best.labels, y) >= 0.95
    # the distractor labeling, separable in phi1 only, scores lower than the planted one
    assert generalisation_score(phi2, y).score > generalisation_score(phi2, z).score


def test_the_paper_defaults_run():
    """The faithful configuration (20 subsets x 300 second-order steps) for a few iterations."""
    phi1, phi2, _, _ = planted_spaces(n=200)
    config = dataclasses.replace(HumeConfig(num_classes=3), num_iters=2)
    assert (config.adaptation_steps, config.num_subsets, config.inner_lr) == (300, 20, 0.001)
    result = run_hume(phi1, phi2, config, seed=0, progress=False)
    assert np.isfinite(result.loss_trace["loss"]).all()
    assert result.labels.shape == (200,)


@pytest.mark.parametrize("bad", [{"num_classes": 1}, {"train_fraction": 1.0}, {"inner_lr": -1}])
def test_config_rejects_bad_values(bad):
    with pytest.raises(ValueError, match=next(iter(bad))):
        HumeConfig(**{"num_classes": 3, **bad})


@pytest.mark.parametrize("rand_init", [True, False])
def test_many_runs_in_one_process_equal_the_runs_made_one_by_one(rand_init):
    phi1, phi2, _, _ = planted_spaces()
    config = HumeConfig(
        num_classes=3,
        num_iters=6,
        num_subsets=3,
        subset_size=120,
        adaptation_steps=5,
        inner_lr=0.1,
        rand_init=rand_init,
    )
    together = run_hume_many(phi1, phi2, config, [3, 5, 8], progress=False)
    for seed, run in zip([3, 5, 8], together, strict=True):
        alone = run_hume(phi1, phi2, config, seed, progress=False)
        np.testing.assert_array_equal(run.labels, alone.labels)
        np.testing.assert_allclose(run.theta, alone.theta, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(run.loss_trace["loss"], alone.loss_trace["loss"], rtol=1e-5)


def test_shared_subsets_give_each_run_its_own_encoder_on_common_draws():
    """The planted problem with the subsets of each iteration shared by 4 runs."""
    phi1, phi2, y, _ = planted_spaces()
    config = PLANTED_CONFIG
    seeds = [0, 1, 2, 3]
    shared_config = dataclasses.replace(config, shared_subsets=True)
    shared = run_hume_many(phi1, phi2, shared_config, seeds, progress=False)
    independent = run_hume_many(phi1, phi2, config, seeds, progress=False)
    # the same seeds start from the same encoders but see other subsets: other trajectories
    assert not np.allclose(shared[0].loss_trace["loss"], independent[0].loss_trace["loss"])
    # runs on common draws still differ (own encoders and inner initialisations) ...
    assert not np.allclose(shared[0].theta, shared[1].theta)
    # ... and the best by score is still the planted labeling
    scores = [generalisation_score(phi2, r.labels).score for r in shared]
    assert cluster_accuracy(shared[int(np.argmax(scores))].labels, y) >= 0.95


@pytest.mark.parametrize("d1", [12, 40])
def test_uniform_encoder_init_is_gram_schmidt_of_linear_default_weight(d1):
    """The reference's start: nn.Linear's U(-1/sqrt(d1), 1/sqrt(d1)) weight, orthonormalised.
    Checked against Gram-Schmidt in float64 from the same generator draw."""
    k = 5
    encoder = make_task_encoder(d1, k, torch.Generator().manual_seed(3), "uniform")
    draw = torch.empty(k, d1).uniform_(
        -(d1**-0.5), d1**-0.5, generator=torch.Generator().manual_seed(3)
    )
    rows = []
    for w in draw.double().numpy():  # classical Gram-Schmidt, the slow way
        for q in rows:
            w = w - (w @ q) * q
        rows.append(w / np.linalg.norm(w))
    np.testing.assert_allclose(encoder.weight.detach().double().numpy(), np.stack(rows), atol=1e-5)


def test_haar_encoder_init_is_orthogonal_init_and_differs_from_uniform():
    haar = make_task_encoder(16, 4, torch.Generator().manual_seed(0), "haar").weight.detach()
    expected = torch.nn.init.orthogonal_(
        torch.empty(4, 16), generator=torch.Generator().manual_seed(0)
    )
    torch.testing.assert_close(haar, expected, atol=1e-5, rtol=0)
    uniform = make_task_encoder(16, 4, torch.Generator().manual_seed(0), "uniform").weight.detach()
    assert not torch.allclose(haar, uniform, atol=1e-3)
    torch.testing.assert_close(uniform @ uniform.T, torch.eye(4), atol=1e-5, rtol=0)


def test_unknown_encoder_init_names_the_key():
    with pytest.raises(InputError, match=r"config hume.encoder_init='gaussian': expected one of"):
        HumeConfig(num_classes=3, encoder_init="gaussian")


def test_largest_curvature_is_the_top_eigenvalue_with_a_bias_column():
    rng = np.random.default_rng(1)
    x = rng.normal(2.0, 3.0, size=(200, 7))
    with_bias = np.c_[x, np.ones(200)]
    expected = np.linalg.eigvalsh(with_bias.T @ with_bias / 200)[-1]
    assert largest_curvature(torch.as_tensor(x, dtype=torch.float32)) == pytest.approx(
        expected, rel=1e-5
    )


def test_relative_inner_lr_is_the_absolute_step_over_lambda_max():
    """inner_lr_mode relative with c runs exactly as absolute with c / lambda_max; with c
    unchanged, phi2 ten times larger gives the same labels here (the step follows the scale;
    only the bias column does not scale)."""
    rng = np.random.default_rng(2)
    phi1, phi2 = rng.normal(size=(90, 6)), rng.normal(1.0, 1.0, size=(90, 5))
    base = dict(num_classes=3, num_iters=4, adaptation_steps=3, num_subsets=2, subset_size=60)
    relative = HumeConfig(**base, inner_lr=0.5, inner_lr_mode="relative")
    curvature = largest_curvature(torch.as_tensor(phi2, dtype=torch.float32))
    absolute = HumeConfig(**base, inner_lr=0.5 / curvature)
    run_rel = run_hume(phi1, phi2, relative, seed=3, progress=False)
    run_abs = run_hume(phi1, phi2, absolute, seed=3, progress=False)
    np.testing.assert_allclose(run_rel.theta, run_abs.theta, atol=1e-5)
    scaled = run_hume(phi1, 10 * phi2, relative, seed=3, progress=False)
    np.testing.assert_array_equal(scaled.labels, run_rel.labels)
    with pytest.raises(InputError, match=r"config hume.inner_lr_mode='fixed'"):
        HumeConfig(num_classes=3, inner_lr_mode="fixed")
