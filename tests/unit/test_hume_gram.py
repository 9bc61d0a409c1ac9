"""The gram form of the inner descent: the same objective and hypergradient as the weights
form and the per-subset reference loop, on logits over all N samples (hume.inner_form)."""

import dataclasses

import numpy as np
import pytest
import torch
from reference_hume import reference_outer_loss

from hume_workflow.hume.config import HumeConfig
from hume_workflow.hume.descent import gram_matrix, init_inner_classifiers
from hume_workflow.hume.objective import (
    inner_form_for,
    l2_normalise,
    outer_losses,
    outer_losses_gram,
)
from hume_workflow.hume.training import draw_subsets, run_hume_many

torch.set_num_threads(1)


def full_problem(n=50, m=40, S=3, d1=8, d2=6, K=4, steps=25, seed=1):
    """Float64 features of N samples, S random subsets of m, an encoder, inner inits, config."""
    g = torch.Generator().manual_seed(seed)
    x1 = l2_normalise(torch.randn(n, d1, generator=g, dtype=torch.float64))
    x2 = torch.randn(n, d2, generator=g, dtype=torch.float64)
    theta = torch.linalg.qr(torch.randn(d1, K, generator=g, dtype=torch.float64))[0].T.contiguous()
    w0, b0 = init_inner_classifiers(S, d2, K, g, torch.float64)
    idx = draw_subsets(n, S, m, g)
    config = HumeConfig(
        num_classes=K, inner_lr=0.3, adaptation_steps=steps, h_reg=2.0, subset_size=m
    )
    return theta, x1, x2, idx, w0, b0, config


def gram_loss(theta, x1, x2, idx, w0, b0, tau, config):
    """The mean over subsets of the gram form's outer loss of one run."""
    loss = outer_losses_gram(
        theta[None, None], x1, x2, gram_matrix(x2), idx, w0[:, None], b0[:, None], tau, config
    )[0]
    return loss.mean()


@pytest.mark.parametrize("subset_size", [20, 40, 50])  # samples outside subsets, and none
@pytest.mark.parametrize("seed", [1, 2])
def test_gram_form_equals_the_per_subset_reference_loop(subset_size, seed):
    theta, x1, x2, idx, w0, b0, config = full_problem(m=subset_size, seed=seed)
    tau = 0.5
    theta_ref = theta.clone().requires_grad_()
    ref = reference_outer_loss(theta_ref, x1[idx], x2[idx], w0, b0, tau, config)
    (grad_ref,) = torch.autograd.grad(ref, theta_ref)
    theta_gram = theta.clone().requires_grad_()
    loss = gram_loss(theta_gram, x1, x2, idx, w0, b0, tau, config)
    (grad,) = torch.autograd.grad(loss, theta_gram)
    torch.testing.assert_close(loss, ref, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(grad, grad_ref, rtol=1e-10, atol=1e-12)


def test_gram_form_hypergradient_matches_central_finite_differences():
    theta, x1, x2, idx, w0, b0, config = full_problem(n=24, m=12, S=2, d1=5, d2=4, K=3, steps=5)
    config = dataclasses.replace(config, inner_lr=0.5, train_fraction=0.75)
    base = theta.clone()
    theta = theta.requires_grad_()
    (grad,) = torch.autograd.grad(gram_loss(theta, x1, x2, idx, w0, b0, 1.0, config), theta)
    eps = 1e-6
    fd = torch.zeros_like(base)
    for i in np.ndindex(*base.shape):
        plus, minus = base.clone(), base.clone()
        plus[i] += eps
        minus[i] -= eps
        fd[i] = (
            gram_loss(plus, x1, x2, idx, w0, b0, 1.0, config)
            - gram_loss(minus, x1, x2, idx, w0, b0, 1.0, config)
        ).item() / (2 * eps)
    assert torch.linalg.norm(grad - fd) / torch.linalg.norm(fd) < 1e-5


def test_gram_form_equals_the_weights_form_with_runs_sharing_subsets_and_first_order():
    """R runs on shared subsets (theta (1, R, K, d1)), second and first order: every (S, R)
    loss part and the gradient of every run agree between the two forms."""
    _, x1, x2, idx, _, _, config = full_problem(m=30)
    g = torch.Generator().manual_seed(5)
    r, s, k, d2 = 2, idx.shape[0], config.num_classes, x2.shape[1]
    thetas = torch.stack(
        [torch.linalg.qr(torch.randn(8, k, generator=g, dtype=torch.float64))[0].T for _ in "ab"]
    )[None]  # (1, R, K, d1)
    w0 = torch.rand(s, r, k, d2, generator=g, dtype=torch.float64) - 0.5
    b0 = torch.rand(s, r, k, generator=g, dtype=torch.float64) - 0.5
    for hypergradient in ("closed_form", "first_order"):
        cfg = dataclasses.replace(config, hypergradient=hypergradient)
        results = []
        for form in ("weights", "gram"):
            theta = thetas.clone().requires_grad_()
            if form == "weights":
                parts = outer_losses(theta, x1, x2, idx, w0, b0, 0.5, cfg)
            else:
                parts = outer_losses_gram(theta, x1, x2, gram_matrix(x2), idx, w0, b0, 0.5, cfg)
            (grad,) = torch.autograd.grad(parts[0].sum(), theta)
            results.append((*parts, grad))
        for weights_part, gram_part in zip(*results, strict=True):
            torch.testing.assert_close(gram_part, weights_part, rtol=1e-10, atol=1e-12)
    assert results[0][3].abs().max() > 0  # the gradient is not trivially zero


def test_runs_in_the_gram_form_equal_runs_in_the_weights_form():
    """Whole float32 runs (several seeds in one process): the same labels; theta and the loss
    traces equal up to float32 rounding."""
    rng = np.random.default_rng(0)
    phi1, phi2 = rng.normal(size=(150, 12)), rng.normal(size=(150, 40))
    config = HumeConfig(
        num_classes=4,
        num_iters=15,
        adaptation_steps=10,
        num_subsets=3,
        subset_size=100,
        inner_lr=0.1,
        outer_lr=0.05,
        anneal_milestones=(10,),
    )
    runs = {
        form: run_hume_many(
            phi1, phi2, dataclasses.replace(config, inner_form=form), [0, 1], progress=False
        )
        for form in ("weights", "gram")
    }
    for weights_run, gram_run in zip(runs["weights"], runs["gram"], strict=True):
        np.testing.assert_array_equal(gram_run.labels, weights_run.labels)
        np.testing.assert_allclose(gram_run.theta, weights_run.theta, atol=1e-5)
        for part, trace in weights_run.loss_trace.items():
            np.testing.assert_allclose(gram_run.loss_trace[part], trace, rtol=1e-4, atol=1e-5)
    assert not np.allclose(runs["gram"][0].theta, runs["gram"][1].theta)


def test_auto_picks_the_cheaper_form():
    paper = HumeConfig(num_classes=10)
    # digits with 1280-dim features: N^2 = 3.2M against 2 n_train d2 = 4.1M
    assert inner_form_for(paper, n_fit=1797, d2=1280) == "gram"
    # CIFAR-10 (50,000 samples, subsets of 10,000): the Gram matrix is far costlier
    assert inner_form_for(paper, n_fit=50000, d2=1536) == "weights"
    # the demo's 64-dim PCA features: the weights form
    assert inner_form_for(paper, n_fit=1797, d2=64) == "weights"
    for form in ("weights", "gram"):
        forced = dataclasses.replace(paper, inner_form=form)
        assert inner_form_for(forced, n_fit=50000, d2=64) == form
    # autograd unrolls the weights, whatever auto would pick
    autograd = dataclasses.replace(paper, hypergradient="autograd")
    assert inner_form_for(autograd, n_fit=1797, d2=1280) == "weights"


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"inner_form": "logits"}, "inner_form='logits': expected one of auto, weights, gram"),
        (
            {"inner_form": "gram", "hypergradient": "autograd"},
            "needs hume.hypergradient closed_form",
        ),
    ],
)
def test_config_rejects_bad_inner_forms(bad, message):
    with pytest.raises(ValueError, match=message):
        HumeConfig(num_classes=3, **bad)
