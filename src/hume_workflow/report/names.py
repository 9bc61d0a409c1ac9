"""How the report names a task: by its method and its spaces, everywhere it names one.

A HUME task is an ordered pair, "HUME pixels → efficientnet_lite0" (phi1 → phi2: labels of
phi1 that generalise in phi2); a TURTLE task a set of spaces searched together, "TURTLE
pixels + efficientnet_lite0". The tables name a task by two columns, ``method`` (e.g.
"turtle") and ``task`` (its folder name, plan/layout.py, e.g. "pixels--efficientnet_lite0"),
and keep HUME's ``phi1``/``phi2`` for HUME's rows only (empty for other methods).
"""

from __future__ import annotations

from collections.abc import Sequence

from hume_workflow.plan.layout import task_name, task_spaces
from hume_workflow.plan.methods import METHODS

#: The methods whose task is an ordered pair (phi1, phi2), named with an arrow.
PAIR_METHODS = ("hume",)


def method_title(method: str) -> str:
    """A method's name in text: "HUME", "TURTLE" (its record's title; the name upper-cased
    for a method the planner does not know)."""
    return METHODS[method].title if method in METHODS else method.upper()


def task_title(method: str, spaces: Sequence[str]) -> str:
    """A task named with its method: "HUME a → b", "TURTLE a + b + c", "TURTLE a"."""
    joiner = " → " if method in PAIR_METHODS else " + "
    return f"{method_title(method)} {joiner.join(spaces)}"


def row_title(row: dict) -> str:
    """:func:`task_title` of a table row with ``method`` and ``task`` (its folder name)."""
    return task_title(row["method"], task_spaces(row["task"]))


def task_of(metrics: dict) -> tuple[str, list[str]]:
    """(method, spaces) of a task's evaluation (metrics.json, the report's view of it); a
    dict without them names a HUME pair by its ``phi1`` and ``phi2``."""
    if "spaces" in metrics:
        return metrics.get("method", "hume"), list(metrics["spaces"])
    return "hume", [metrics["phi1"], metrics["phi2"]]


def task_columns(method: str, spaces: Sequence[str]) -> dict[str, str | None]:
    """The columns that name a task in every table: ``method``, ``task`` (the folder name)
    and HUME's ``phi1``, ``phi2`` (None for another method's task)."""
    pair = method in PAIR_METHODS and len(spaces) == 2
    return {
        "method": method,
        "task": task_name(spaces),
        "phi1": spaces[0] if pair else None,
        "phi2": spaces[1] if pair else None,
    }


#: The columns of :func:`task_columns` that only HUME's rows fill (dropped when all empty).
PAIR_COLUMNS = ("phi1", "phi2")
