"""TURTLE's scheduler requests (turtle/resources.py): they grow with every size, take the
config's defaults for absent keys, and are computed without torch."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from tiny_workflow import REPO

from hume_workflow.turtle import resources
from hume_workflow.turtle.resources import turtle_request

SCORE_OFF = {"n_folds": 0}  # the model without the generalisation score
CIFAR_WIDTHS = (768, 1536)


@pytest.mark.parametrize("gpu", [False, True])
def test_turtle_request_grows_with_every_size(gpu):
    def request(n, widths, iters, runs, attempt=1):
        turtle = {"num_iters": iters}
        return turtle_request(n, widths, turtle, {}, 10, gpu, attempt, runs)

    grid = [
        (n, widths, iters, runs)
        for n in (1797, 50000)
        for widths in ((64,), (64, 64), CIFAR_WIDTHS)
        for iters in (100, 6000)
        for runs in (1, 4)
    ]
    for n, widths, iters, runs in grid:
        base = request(n, widths, iters, runs)
        bigger = {
            "N": request(2 * n, widths, iters, runs),
            "width": request(n, tuple(2 * d for d in widths), iters, runs),
            "space": request(n, (*widths, 32), iters, runs),
            "num_iters": request(n, widths, 2 * iters, runs),
            "runs": request(n, widths, iters, 2 * runs),
            "attempt": request(n, widths, iters, runs, attempt=2),
        }
        for size, grown in bigger.items():
            assert grown["runtime"] >= base["runtime"], (size, n, widths, iters, runs)
            assert grown["mem_mb"] >= base["mem_mb"], (size, n, widths, iters, runs)
    # at CIFAR's shapes and the reference's budget each size shows in the runtime
    base = request(50000, CIFAR_WIDTHS, 6000, 1)
    for grown in (
        request(100000, CIFAR_WIDTHS, 6000, 1),  # the score's folds: the batch is capped
        request(50000, (768, 3072), 6000, 1),
        request(50000, CIFAR_WIDTHS, 12000, 1),
        request(50000, CIFAR_WIDTHS, 6000, 2),
    ):
        assert grown["runtime"] > base["runtime"]
    # memory: the features held grow with N and the widths
    assert request(100000, CIFAR_WIDTHS, 6000, 1)["mem_mb"] > base["mem_mb"]
    assert request(50000, (768, 3072), 6000, 1)["mem_mb"] > base["mem_mb"]


def test_a_batch_below_n_caps_the_iteration_cost():
    """An iteration's products are of the batch: B = min(batch_size, N)."""
    small_batch = {"batch_size": 1000, "num_iters": 6000}
    seconds = [
        resources._turtle_model(n, CIFAR_WIDTHS, small_batch, SCORE_OFF, 10, gpu=False)[0]
        for n in (1000, 50000)
    ]
    assert seconds[0] == pytest.approx(seconds[1])
    full = resources._turtle_model(1000, CIFAR_WIDTHS, {"batch_size": 50000}, SCORE_OFF, 10, False)
    default = resources._turtle_model(1000, CIFAR_WIDTHS, {}, SCORE_OFF, 10, False)
    assert full == default  # capped at N either way


def test_stacked_runs_hold_their_batches_together_when_they_are_small():
    """Digits' batches (1,797 x 128) are stacked: four runs hold four batches; CIFAR's
    (10,000 x 2,304 floats, above STACK_BYTES) run one at a time: one batch whatever the runs."""
    digits = [resources._turtle_model(1797, (64, 64), {}, {}, 10, False, r)[1] for r in (1, 4)]
    assert digits[1] - digits[0] == pytest.approx(3 * 1797 * 128 * 4)
    cifar = [resources._turtle_model(50000, CIFAR_WIDTHS, {}, {}, 10, False, r)[1] for r in (1, 4)]
    assert cifar[0] == cifar[1]


def test_gpu_is_faster_than_cpu():
    cpu = turtle_request(50000, CIFAR_WIDTHS, {}, {}, 10, gpu=False)
    gpu = turtle_request(50000, CIFAR_WIDTHS, {}, {}, 10, gpu=True)
    assert gpu["runtime"] < cpu["runtime"]


@pytest.mark.parametrize(
    ("n", "widths", "measured_s"),
    [(50000, CIFAR_WIDTHS, 0.34), (1797, (64, 64), 4.8e-3)],
    ids=["cifar10", "digits"],
)
def test_model_matches_the_measured_iteration(n, widths, measured_s):
    """One outer iteration at the reference's defaults, as benchmarks/bench_turtle.py
    measured it on one thread (turtle/resources.py's docstring)."""
    seconds, _ = resources._turtle_model(n, widths, {"num_iters": 1}, SCORE_OFF, 10, gpu=False)
    assert seconds == pytest.approx(measured_s, rel=0.25)


def test_absent_keys_take_the_defaults_and_the_tasks_change_nothing():
    defaults = {
        "gamma": 10.0,
        "num_iters": 6000,
        "batch_size": 10000,
        "inner_steps": 10,
        "inner_lr": 0.001,
        "outer_lr": 0.001,
    }
    base = turtle_request(50000, CIFAR_WIDTHS, {}, {}, 10, False)
    assert turtle_request(50000, CIFAR_WIDTHS, defaults, {}, 10, False) == base
    with_tasks = {"tasks": [["a", "b"], ["a"]]}
    assert turtle_request(50000, CIFAR_WIDTHS, with_tasks, {}, 10, False) == base
    more_steps = turtle_request(50000, CIFAR_WIDTHS, {"inner_steps": 20}, {}, 10, False)
    assert more_steps["runtime"] > base["runtime"]


def test_import_does_not_load_torch():
    """The Snakemake main process imports the TURTLE model to size run_turtle jobs."""
    code = "import sys, hume_workflow.turtle.resources; print('torch' in sys.modules)"
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "False"
