"""The methods the workflow runs, one record each: what the planner knows of a method.

A method labels a dataset from a *task*, an ordered tuple of spaces (plan/layout.py). Its
record names the config section of its hyperparameters and reads its tasks from the config;
its algorithm is a sub-package (``hume/``, ``turtle/``) and its runs are written by one rule,
``run_<name>`` (workflow/rules/<name>.smk), as every method's run file (formats/run.py).
Selection, vote, K choice, evaluation, export, prediction and the report read those files
without knowing which method wrote them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from hume_workflow.plan.layout import task_name
from hume_workflow.plan.sweep import class_counts, pair_class_counts, turtle_task_entries

#: A method's tasks in a config: (spaces in the method's order, their K values), in order.
TaskList = list[tuple[tuple[str, ...], list[int]]]


@dataclass(frozen=True)
class Method:
    """What the planner knows of one method."""

    name: str  # the path segment of its results and the suffix of its rule run_<name>
    title: str  # its name in the plan's line and the logs, e.g. "HUME"
    section: str  # the config section of its hyperparameters
    task_noun: str  # what the plan's line calls its tasks, e.g. "pairs"
    tasks: Callable[[dict], TaskList]  # its tasks in a (defaults-filled) config


def hume_tasks(config: dict) -> TaskList:
    """HUME's tasks: each of ``pairs`` as (phi1, phi2), with its K values."""
    return list(pair_class_counts(config).items())


def turtle_tasks(config: dict) -> TaskList:
    """TURTLE's tasks: each of ``turtle.tasks`` as its spaces, with its K values."""
    entries = turtle_task_entries(config)
    return [(spaces, class_counts(value, key)) for spaces, key, value in entries]


METHODS: dict[str, Method] = {
    "hume": Method("hume", "HUME", "hume", "pairs", hume_tasks),
    "turtle": Method("turtle", "TURTLE", "turtle", "TURTLE tasks", turtle_tasks),
}


@dataclass(frozen=True)
class Task:
    """One set of runs the config asks for: a method on an ordered tuple of spaces, at each K."""

    method: str
    spaces: tuple[str, ...]  # backbone names, in the method's order (HUME: phi1, phi2)
    ks: tuple[int, ...]  # increasing

    @property
    def name(self) -> str:
        """The task's folder name (plan/layout.py)."""
        return task_name(self.spaces)


def config_tasks(config: dict) -> list[Task]:
    """Every task of the config, method by method, each in the config's order."""
    return [
        Task(method.name, tuple(spaces), tuple(ks))
        for method in METHODS.values()
        for spaces, ks in method.tasks(config)
    ]
