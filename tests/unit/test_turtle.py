"""TURTLE (turtle/): the closed-form runs against the reference-style loop, the outer gradient
against finite differences, Adam against torch's, clusters recovered, the config, the run
file and the scoring of a job's runs."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from fake_runs import write_fake_run
from reference_turtle import reference_labels, reference_turtle
from scipy.special import softmax

from hume_workflow.aggregate.metrics import compute_metrics
from hume_workflow.data.synthetic import gaussian_two_spaces
from hume_workflow.errors import InputError
from hume_workflow.formats.run import read_run, write_run
from hume_workflow.hume.config import ScoreConfig
from hume_workflow.hume.score import generalisation_score
from hume_workflow.turtle import training
from hume_workflow.turtle.config import TurtleConfig
from hume_workflow.turtle.runs import execute_runs
from hume_workflow.turtle.training import (
    Adam,
    Heads,
    Linears,
    outer_gradients,
    run_turtle_many,
)

torch.set_num_threads(1)

N = 90  # samples of the random spaces
WIDTHS = {1: (6,), 2: (6, 9), 3: (5, 8, 4)}
# a small budget with steps large enough that the heads move far from their start
SMALL = {"num_iters": 25, "inner_steps": 3, "inner_lr": 0.05, "outer_lr": 0.05, "gamma": 2.0}


def random_spaces(n_spaces: int, n: int = N, seed: int = 0) -> list[np.ndarray]:
    """``n_spaces`` random float32 spaces of ``n`` samples (WIDTHS)."""
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((n, d)).astype(np.float32) for d in WIDTHS[n_spaces]]


def own_labels(weights, biases, spaces) -> np.ndarray:
    """(n,) argmax over K of the mean over spaces of softmax(x W^T + b), in float64 numpy."""
    mean = sum(
        softmax(x.astype(np.float64) @ w.T.astype(np.float64) + b, axis=1)
        for w, b, x in zip(weights, biases, spaces, strict=True)
    )
    return mean.argmax(axis=1)


# ---- 1. the closed form is the reference loop ----------------------------------------------------


@pytest.mark.parametrize("batch_size", [32, N], ids=["batch<N", "batch=N"])
@pytest.mark.parametrize("warm_start", [False, True], ids=["cold", "warm"])
@pytest.mark.parametrize("n_spaces", [1, 2, 3])
def test_closed_form_is_the_reference_loop_on_the_same_draws(n_spaces, warm_start, batch_size):
    """tests/reference_turtle.py (nn.Linear, weight_norm, torch.optim.Adam, autograd), fed the
    library's draws in the library's order: same labels, same losses at every iteration,
    same heads."""
    spaces = random_spaces(n_spaces, seed=n_spaces)
    config = TurtleConfig(num_classes=4, batch_size=batch_size, warm_start=warm_start, **SMALL)
    seed = 7
    [result] = run_turtle_many(spaces, config, [seed], progress=False)
    tensors = [torch.from_numpy(x) for x in spaces]
    heads, trace = reference_turtle(tensors, config, seed)
    for part in ("cross_entropy", "entropy", "loss"):
        np.testing.assert_allclose(result.loss_trace[part], trace[part], rtol=1e-5, atol=1e-5)
    # the heads moved: the comparison is not of the starting draws alone
    assert abs(trace["loss"][-1] - trace["loss"][0]) > 1e-2
    for head, weight, bias in zip(heads, result.weights, result.biases, strict=True):
        # g v / |v| from the parameters (head.weight is recomputed at a forward only)
        v, g = head.weight_v.detach(), head.weight_g.detach()
        expected = (g * v / v.norm(dim=1, keepdim=True)).numpy()
        np.testing.assert_allclose(weight, expected, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(bias, head.bias.detach().numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(result.labels, reference_labels(heads, tensors).numpy())
    np.testing.assert_array_equal(result.fit_labels, result.labels)  # no eval_spaces: the same


@pytest.mark.parametrize("warm_start", [False, True], ids=["cold", "warm"])
def test_a_run_is_the_same_alone_or_among_other_seeds(warm_start, monkeypatch):
    """Three seeds in one call, advanced in groups of two (STACK_BYTES lowered to two runs'
    batches), each give what a call of their seed alone gives."""
    spaces = random_spaces(2)
    evals = [x[:40] + 0.5 for x in spaces]
    config = TurtleConfig(num_classes=3, batch_size=50, warm_start=warm_start, **SMALL)
    batch_bytes = 50 * sum(x.shape[1] for x in spaces) * 4
    monkeypatch.setattr(training, "STACK_BYTES", 2 * batch_bytes)
    together = run_turtle_many(spaces, config, [4, 11, 5], evals, progress=False)
    assert len(together) == 3
    for seed, result in zip([4, 11, 5], together, strict=True):
        [alone] = run_turtle_many(spaces, config, [seed], evals, progress=False)
        np.testing.assert_array_equal(result.labels, alone.labels)
        np.testing.assert_array_equal(result.fit_labels, alone.fit_labels)
        for part, values in alone.loss_trace.items():
            np.testing.assert_allclose(result.loss_trace[part], values, rtol=1e-6, atol=1e-6)
        for w, w_alone in zip(result.weights, alone.weights, strict=True):
            np.testing.assert_allclose(w, w_alone, rtol=1e-5, atol=1e-6)
    # seeds are not interchangeable: the runs differ
    assert not np.allclose(together[0].weights[0], together[1].weights[0])


# ---- 2. the outer gradient is the derivative of the returned loss --------------------------------


def float64_problem(widths=(5, 7, 3), runs=2, k=4, batch=20, seed=0):
    """Heads and inner classifiers of ``runs`` runs on a batch of each space, in float64,
    moved off their start (norms unlike the directions', nonzero biases)."""
    g = torch.Generator().manual_seed(seed)
    config = TurtleConfig(num_classes=k)
    heads, inner, batches = [], [], []
    for d in widths:
        batches.append(torch.randn(runs, batch, d, generator=g, dtype=torch.float64))
        weight = torch.randn(runs, k, d, generator=g, dtype=torch.float64)
        bias = torch.randn(runs, k, generator=g, dtype=torch.float64)
        head = Heads(weight, bias, config)
        head.norm.mul_(1 + torch.rand(runs, k, 1, generator=g, dtype=torch.float64))
        heads.append(head)
        inner.append(
            Linears(
                torch.randn(runs, k, d, generator=g, dtype=torch.float64),
                torch.randn(runs, k, generator=g, dtype=torch.float64),
                config,
            )
        )
    return heads, inner, batches


@pytest.mark.parametrize("gamma", [0.0, 3.0])
@pytest.mark.parametrize("widths", [(5,), (5, 7, 3)], ids=["1 space", "3 spaces"])
def test_outer_gradient_is_central_differences_of_the_loss(widths, gamma):
    heads, inner, batches = float64_problem(widths)
    losses, gradients = outer_gradients(heads, inner, batches, gamma)
    assert set(losses) == {"cross_entropy", "entropy", "loss"}
    # cross_entropy is the mean over the spaces, the loss holds their sum
    total = len(widths) * losses["cross_entropy"] - gamma * losses["entropy"]
    torch.testing.assert_close(losses["loss"], total, rtol=1e-12, atol=1e-12)

    def loss(run: int) -> float:
        return float(outer_gradients(heads, inner, batches, gamma)[0]["loss"][run])

    rng = np.random.default_rng(1)
    eps = 1e-6
    for head, grads in zip(heads, gradients, strict=True):
        for name, param, grad in zip(
            ("direction", "norm", "bias"),
            (head.direction, head.norm, head.bias),
            grads,
            strict=True,
        ):
            assert grad.shape == param.shape, name
            for _ in range(4):
                idx = tuple(int(rng.integers(0, s)) for s in param.shape)
                start = param[idx].item()
                param[idx] = start + eps
                plus = loss(idx[0])
                param[idx] = start - eps
                minus = loss(idx[0])
                param[idx] = start
                numeric = (plus - minus) / (2 * eps)
                assert grad[idx].item() == pytest.approx(numeric, rel=1e-6, abs=1e-9), (name, idx)
    # each run's loss depends on its own heads only: the other run's gradient is its own
    assert not torch.allclose(gradients[0][0][0], gradients[0][0][1])


# ---- 3. Adam -------------------------------------------------------------------------------------


def test_adam_is_torch_s_adam_step_by_step():
    """Stacked (R, n) parameters on a random convex quadratic per run, betas unlike the
    defaults: the same iterates as torch.optim.Adam at every step."""
    g = torch.Generator().manual_seed(0)
    runs, n = 3, 6
    a = torch.randn(runs, n, n, generator=g, dtype=torch.float64)
    curvature = a @ a.transpose(1, 2) + torch.eye(n, dtype=torch.float64)
    target = torch.randn(runs, n, generator=g, dtype=torch.float64)
    start = torch.randn(runs, n, generator=g, dtype=torch.float64)

    def gradient(x: torch.Tensor) -> torch.Tensor:  # of 1/2 (x-t)^T A (x-t)
        return torch.einsum("rij,rj->ri", curvature, x - target)

    ours, theirs = start.clone(), start.clone().requires_grad_()
    adam = Adam(ours, lr=0.05, beta1=0.8, beta2=0.95)
    reference = torch.optim.Adam([theirs], lr=0.05, betas=(0.8, 0.95))
    for _ in range(12):
        adam.step(gradient(ours))
        reference.zero_grad()
        theirs.grad = gradient(theirs.detach())
        reference.step()
        torch.testing.assert_close(ours, theirs.detach(), rtol=1e-12, atol=1e-12)
    assert adam.steps == 12
    assert not torch.allclose(ours, start)  # it moved


# ---- 4. clusters shared by the spaces are recovered ----------------------------------------------


def agreeing_spaces(k: int = 4, per_class: int = 60):
    """Three spaces of the same K clusters (gaussian_two_spaces and a third random linear map
    of the first space) and the true labels."""
    phi1, phi2, truth = gaussian_two_spaces(k, per_class, d1=12, d2=10, spread=0.3, seed=3)
    rng = np.random.default_rng(5)
    phi3 = phi1 @ rng.standard_normal((12, 8)) + 0.02 * rng.standard_normal((len(phi1), 8))
    return [phi1, phi2, phi3.astype(np.float32)], truth


@pytest.mark.parametrize("n_spaces", [2, 3])
def test_turtle_recovers_clusters_the_spaces_agree_on(n_spaces):
    spaces, truth = agreeing_spaces()
    config = TurtleConfig(num_classes=4, num_iters=150, inner_steps=5, inner_lr=0.05, outer_lr=0.05)
    results = run_turtle_many(spaces[:n_spaces], config, [0, 1], progress=False)
    for result in results:
        metrics = compute_metrics(result.labels, truth)
        assert metrics["acc"] > 0.95 and metrics["ari"] > 0.9, metrics


# ---- 5. the config and the run file --------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("gamma", -0.5),
        ("num_iters", 0),
        ("batch_size", 0),
        ("inner_steps", 0),
        ("inner_lr", 0.0),
        ("outer_lr", -1e-3),
        ("beta1", 1.0),
        ("beta2", -0.1),
    ],
)
def test_config_refuses_a_bad_value_naming_its_key(key, value):
    with pytest.raises(InputError) as caught:
        TurtleConfig(num_classes=3, **{key: value})
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"config turtle.{key}={value}: expected ")


def test_config_refuses_fewer_than_two_classes_and_accepts_the_edges():
    with pytest.raises(InputError, match=r"^config dataset.num_classes=1: expected at least 2$"):
        TurtleConfig(num_classes=1)
    TurtleConfig(num_classes=2, gamma=0.0, beta1=0.0, beta2=0.0, num_iters=1, batch_size=1)


def test_from_config_leaves_out_the_tasks():
    section = {"tasks": [["a", "b"]], "gamma": 3.0, "num_iters": 7}
    config = TurtleConfig.from_config(5, section)
    assert config == TurtleConfig(num_classes=5, gamma=3.0, num_iters=7)


def test_run_file_keeps_every_head_and_bias(tmp_path):
    spaces = random_spaces(2, n=60)
    split = np.repeat([0, 1], 30)
    config = TurtleConfig(num_classes=3, **SMALL)
    score = ScoreConfig(n_folds=3, max_iter=30)
    [record] = execute_runs(
        spaces, split, "inductive", config, [2], ["a", "b"], score, "cpu", False
    )
    path = tmp_path / "seed2.h5"
    write_run(path, record, {"dataset": "test"})
    read = read_run(path, arrays=("labels", "eval_indices", "encoder", "bias", "trace"))
    assert (read.method, read.spaces, read.seed, read.num_classes) == ("turtle", ("a", "b"), 2, 3)
    assert read.hyperparameters == dataclasses.asdict(config)
    assert read.score == record.score and read.kappa == record.kappa
    np.testing.assert_array_equal(read.labels, record.labels)
    np.testing.assert_array_equal(read.eval_indices, record.eval_indices)
    for name in ("encoders", "biases", "trace"):
        stored, written = getattr(read, name), getattr(record, name)
        assert set(stored) == set(written), name
        for key in written:
            np.testing.assert_array_equal(stored[key], written[key])
    assert read.encoders["b"].shape == (3, 9) and read.biases["b"].shape == (3,)


def test_a_hume_run_file_reads_without_biases(tmp_path):
    encoder = {"a": np.arange(6, dtype=np.float32).reshape(2, 3)}
    path = write_fake_run(tmp_path / "seed0.h5", 0, [0, 1, 1], 0.5, encoders=encoder)
    read = read_run(path, arrays=("labels", "encoder", "bias"))
    assert read.biases is None
    np.testing.assert_array_equal(read.encoders["a"], encoder["a"])


# ---- 6. a job's runs: scored in every space, labelling the evaluation samples --------------------


@pytest.mark.parametrize("setting", ["inductive", "transductive"])
def test_execute_runs_scores_by_the_mean_over_spaces_and_labels_the_eval_samples(setting):
    spaces, _ = agreeing_spaces(k=3, per_class=30)
    spaces = spaces[:2]
    split = np.random.default_rng(0).permutation(np.repeat([0, 1], [60, 30]))
    config = TurtleConfig(num_classes=3, **SMALL)
    score = ScoreConfig(n_folds=3, max_iter=50)
    names = ["first", "second"]
    records = execute_runs(spaces, split, setting, config, [0, 3], names, score, "cpu", False)
    fit = np.flatnonzero(split == 0) if setting == "inductive" else np.arange(len(split))
    evaluated = np.flatnonzero(split == 1) if setting == "inductive" else np.arange(len(split))
    assert [r.seed for r in records] == [0, 3]
    for record in records:
        assert record.method == "turtle" and record.spaces == ("first", "second")
        assert record.setting == setting and record.num_classes == 3
        np.testing.assert_array_equal(record.eval_indices, evaluated)
        weights = [record.encoders[name] for name in names]
        biases = [record.biases[name] for name in names]
        assert [w.shape for w in weights] == [(3, 12), (3, 10)]
        # the labels are the heads' of the evaluation samples
        heads_eval = own_labels(weights, biases, [x[evaluated] for x in spaces])
        np.testing.assert_array_equal(record.labels, heads_eval)
        assert record.confidence.shape == evaluated.shape
        # the score: the mean over the spaces of each space's score of the fitted labels
        fit_labels = own_labels(weights, biases, [x[fit] for x in spaces])
        per_space = [generalisation_score(x[fit], fit_labels, 3, 50) for x in spaces]
        assert record.score == pytest.approx(np.mean([s.score for s in per_space]), abs=1e-12)
        assert record.kappa == pytest.approx(np.mean([s.kappa for s in per_space]), abs=1e-12)
        assert record.n_clusters == len(np.unique(fit_labels))
        assert set(record.trace) == {"cross_entropy", "entropy", "loss"}
        assert all(len(values) == config.num_iters for values in record.trace.values())
    assert not np.array_equal(records[0].encoders["first"], records[1].encoders["first"])


def test_execute_runs_refuses_more_classes_than_fitted_samples():
    spaces = random_spaces(1, n=10)
    split = np.repeat([0, 1], [3, 7])
    with pytest.raises(InputError, match=r"^config dataset.num_classes=4: expected at most the 3"):
        execute_runs(spaces, split, "inductive", TurtleConfig(num_classes=4), [0], ["a"])


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_runs_give_the_cpu_labels_from_the_same_draws():
    """The same seeds on CUDA draw the same heads and batches (drawn on the CPU) and give the
    CPU's labels, heads within float32 reordering, and are the same twice (determinism)."""
    spaces = random_spaces(2, n=600)
    config = TurtleConfig(num_classes=4, num_iters=40, batch_size=256)
    cpu = run_turtle_many(spaces, config, [0, 1], progress=False)
    cuda = run_turtle_many(spaces, config, [0, 1], device="cuda", progress=False)
    again = run_turtle_many(spaces, config, [0, 1], device="cuda", progress=False)
    for a, b, c in zip(cpu, cuda, again, strict=True):
        assert (a.labels == b.labels).mean() > 0.99
        for wa, wb in zip(a.weights, b.weights, strict=True):
            np.testing.assert_allclose(wa, wb, rtol=1e-3, atol=1e-4)
        np.testing.assert_array_equal(b.labels, c.labels)
        for wb, wc in zip(b.weights, c.weights, strict=True):
            np.testing.assert_array_equal(wb, wc)
