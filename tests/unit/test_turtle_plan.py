"""The plan of TURTLE tasks (``turtle.tasks``): the plan-time checks' one-line refusals, the
tasks and K values a config asks for, and what decides a run_turtle job.

tests/workflow/test_turtle_workflow.py proves through Snakemake that adding a task plans only
that task's jobs (a dry run).
"""

from __future__ import annotations

import copy

import pytest
from tiny_workflow import TINY, filled, preflight, refused_by_plan, schema

from hume_workflow.plan.methods import Task, config_tasks
from hume_workflow.plan.preflight import describe_config
from hume_workflow.turtle.config import hyperparameters

BOTH = ["pixels", "efficientnet_lite0"]  # TINY's two backbones


def with_tasks(tasks: list, pairs: list | None = None, **turtle) -> dict:
    """TINY with ``turtle.tasks`` (and its other ``turtle`` keys), and ``pairs`` if given."""
    config = copy.deepcopy(TINY)
    config["turtle"] = {"tasks": tasks, **turtle}
    if pairs is not None:
        config["pairs"] = pairs
    return config


@pytest.fixture(autouse=True)
def in_tmp(tmp_path, monkeypatch):
    """The checks read results/ relative to the working directory: an empty one."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_an_undeclared_backbone_is_named_with_the_nearest_declared_one(in_tmp):
    line = refused_by_plan(in_tmp, with_tasks([["pixels"], ["pixels", "efficientnet_lite"]]))
    assert line == (
        "config turtle.tasks[1]: 'efficientnet_lite' is not declared under 'backbones'; "
        "did you mean 'efficientnet_lite0'? (declared: efficientnet_lite0, pixels)"
    )
    # in the {spaces, num_classes} form too
    line = refused_by_plan(in_tmp, with_tasks([{"spaces": ["pixel"], "num_classes": 10}]))
    assert line.startswith("config turtle.tasks[0]: 'pixel' is not declared under 'backbones'")
    assert "did you mean 'pixels'?" in line


def test_a_space_listed_twice_in_a_task_is_refused(in_tmp):
    line = refused_by_plan(in_tmp, with_tasks([BOTH, ["efficientnet_lite0", "pixels", "pixels"]]))
    assert line == (
        "config turtle.tasks[1]=['efficientnet_lite0', 'pixels', 'pixels']: 'pixels' is listed "
        "twice; expected each space once"
    )


def test_the_same_task_twice_is_refused_whatever_its_form(in_tmp):
    """A list and {spaces, num_classes} of the same spaces are the same task (one folder)."""
    tasks = [["pixels"], BOTH, {"spaces": BOTH, "num_classes": [5, 10]}]
    line = refused_by_plan(in_tmp, with_tasks(tasks))
    assert line == (
        "config turtle.tasks[2]=['pixels', 'efficientnet_lite0']: the same task as "
        "turtle.tasks[1]; expected each task once"
    )


def test_a_config_without_pairs_and_tasks_is_refused(in_tmp):
    line = refused_by_plan(in_tmp, with_tasks([], pairs=[]))
    assert line.startswith("config pairs and turtle.tasks are both empty: expected at least one")
    assert refused_by_plan(in_tmp, changed_pairs([])).startswith("config pairs and turtle.tasks")


def changed_pairs(pairs: list) -> dict:
    """TINY with ``pairs`` and no ``turtle`` section at all (the schema's default: no task)."""
    return {**copy.deepcopy(TINY), "pairs": pairs}


def test_a_turtle_only_config_plans(in_tmp):
    config = with_tasks([BOTH, ["efficientnet_lite0"]], pairs=[])
    preflight(config)  # raises on a refusal
    assert config_tasks(filled(config)) == [
        Task("turtle", ("pixels", "efficientnet_lite0"), (10,)),
        Task("turtle", ("efficientnet_lite0",), (10,)),
    ]
    line = describe_config(filled(config), schema(), [])
    assert "2 TURTLE tasks x 2 runs" in line and "pairs" not in line
    assert "tasks=" not in line  # the task list is not a hyperparameter off the paper's


def test_a_turtle_only_config_gets_no_warning_about_hume_settings(in_tmp):
    """TINY's hume.subset_size (the default 10,000) is above its 240 samples: worth a warning
    where HUME runs, noise where it does not."""
    warnings = preflight(with_tasks([BOTH], pairs=[]))
    assert not [warning for warning in warnings if "hume." in warning]
    assert any("hume.subset_size" in warning for warning in preflight(with_tasks([BOTH])))


def test_tasks_of_both_methods_plan_side_by_side(in_tmp):
    config = with_tasks([BOTH])
    preflight(config)
    tasks = config_tasks(filled(config))
    assert [(t.method, t.name) for t in tasks] == [
        ("hume", "pixels--efficientnet_lite0"),
        ("hume", "efficientnet_lite0--pixels"),
        ("turtle", "pixels--efficientnet_lite0"),
    ]


def test_a_task_s_own_num_classes_sweeps_that_task_alone(in_tmp):
    config = with_tasks([["pixels"], {"spaces": BOTH, "num_classes": {"min": 4, "max": 12}}])
    preflight(config)  # a sweep need not match the dataset's 10 classes
    tasks = config_tasks(filled(config))
    assert [t.ks for t in tasks if t.method == "turtle"] == [(10,), tuple(range(4, 13))]
    assert all(t.ks == (10,) for t in tasks if t.method == "hume")
    line = describe_config(filled(config), schema(), [])
    assert "K in {4, 5, 6, 7, 8, 9, 10, 11, 12}" in line


def test_a_task_s_own_single_k_is_checked_against_the_classes_and_the_samples(in_tmp):
    config = with_tasks([["pixels"], {"spaces": BOTH, "num_classes": 7}])
    assert refused_by_plan(in_tmp, config) == (
        "config turtle.tasks[1].num_classes=7 but dataset source 'sklearn_digits' has 10 "
        "classes; set turtle.tasks[1].num_classes: 10"
    )
    # 300 digits, 20% held out: 240 samples to fit on in the inductive setting
    config = with_tasks([{"spaces": ["pixels"], "num_classes": [10, 300]}])
    line = refused_by_plan(in_tmp, config)
    assert line.startswith("config turtle.tasks[0].num_classes=[10, 300] (K=300): expected at most")
    assert "240 samples" in line


def test_one_run_per_k_of_a_task_s_sweep_is_refused_naming_the_task(in_tmp):
    config = with_tasks([{"spaces": ["pixels"], "num_classes": [5, 10]}])
    config |= {"num_runs": 1, "k_choice": {"criterion": "stability"}}
    line = refused_by_plan(in_tmp, config)
    assert line.startswith("config num_runs=1 with k_choice.criterion='stability': ")
    assert "turtle.tasks[0].num_classes=[5, 10]" in line


@pytest.mark.parametrize(
    ("task", "expected"),
    [
        ([], "config turtle.tasks[1]: expected at least 1 entries"),
        ({"spaces": ["pixels"], "k": 3}, "config turtle.tasks[1].k: unknown key"),
    ],
    ids=["empty task", "unknown key"],
)
def test_the_schema_refuses_a_malformed_task_in_one_line(in_tmp, task, expected):
    assert refused_by_plan(in_tmp, with_tasks([BOTH, task])).startswith(expected)


def test_a_run_s_params_are_the_hyperparameters_not_the_task_list(in_tmp):
    """run_turtle's params (workflow/rules/turtle.smk: ``hyperparameters`` of the filled
    section): the same whatever other tasks the config lists, so adding a task reruns no
    other task's jobs; a hyperparameter is among them."""
    one = filled(with_tasks([BOTH], num_iters=50))["turtle"]
    more = filled(with_tasks([BOTH, ["pixels"], {"spaces": ["efficientnet_lite0"]}], num_iters=50))
    assert hyperparameters(more["turtle"]) == hyperparameters(one)
    assert "tasks" not in hyperparameters(one) and hyperparameters(one)["num_iters"] == 50
    other_gamma = filled(with_tasks([BOTH], num_iters=50, gamma=1.0))["turtle"]
    assert hyperparameters(other_gamma) != hyperparameters(one)
