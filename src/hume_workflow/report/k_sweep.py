"""The report's view of a K sweep: the evidence for every K of each task, the chosen K."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from hume_workflow.formats.k_choice import KChoice
from hume_workflow.plan.layout import task_name
from hume_workflow.report import figures
from hume_workflow.report.names import task_columns
from hume_workflow.report.tables import bounds, drop_pair_columns

TaskKey = tuple[str, str, int]  # (method, task, K)


def task_key(method: str, spaces: Sequence[str], k: int) -> TaskKey:
    """The report's key of a task's runs or evaluation at K = ``k``."""
    return method, task_name(spaces), k


def evaluation(choice: KChoice, k: int, metrics: dict[TaskKey, dict]) -> dict:
    """The evaluation of ``choice``'s task at K = ``k`` in ``metrics`` ((method, task, K) ->
    that K's metrics.json)."""
    return metrics[task_key(choice.method, choice.spaces, k)]


def k_sweep_table(choices: list[KChoice], metrics: dict[TaskKey, dict]) -> pd.DataFrame:
    """One row per (task, K), named as in every table (``method``, ``task``, HUME's ``phi1``
    and ``phi2``): the label-free criteria, the runs, the vote's ACC with its
    bootstrap interval and ARI (None without truth) and whether the task's criterion chose
    that K.

    ``metrics``: (method, task, K) -> that K's evaluation (metrics.json).
    """
    rows = []
    for choice in choices:
        for k, values in sorted(choice.evidence.items()):
            evaluated = evaluation(choice, k, metrics)
            vote = evaluated["vote"]
            rows.append(
                {
                    **task_columns(choice.method, choice.spaces),
                    "k": k,
                    "chosen": k == choice.chosen_k,
                    "runs": choice.n_runs[k],
                    **values,
                    "vote_acc": vote["acc"],
                    **bounds(evaluated, "vote_acc"),
                    "vote_ari": vote["ari"],
                }
            )
    return drop_pair_columns(pd.DataFrame(rows))


def k_sweep_figure(choice: KChoice, metrics: dict[TaskKey, dict]) -> str:
    """The task's criteria against K (with ACC and ARI when the truth is known), base64 PNG."""
    votes = {k: evaluation(choice, k, metrics)["vote"] for k in choice.evidence}
    labelled = all(v["acc"] is not None for v in votes.values())
    return figures.k_sweep(
        choice.evidence, choice.criterion, choice.chosen_k, votes if labelled else None
    )
