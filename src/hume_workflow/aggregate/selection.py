"""Selection: a pair's runs ranked by generalisation score, the top n kept to vote."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from hume_workflow.aggregate.vote import select_top
from hume_workflow.formats.run import RunInfo
from hume_workflow.formats.selection import RankedRun, Selection

log = logging.getLogger(__name__)


def select_runs(runs: Mapping[int, RunInfo], top_n: int | None) -> Selection:
    """Rank runs ({seed: run}, e.g. :func:`~hume_workflow.formats.run.read_runs`) by
    generalisation score and keep the top ``top_n`` (None: all).

    Degenerate runs (fewer than two clusters used; score 0) are ranked like the others, so
    last, and counted; fewer runs than ``top_n`` keeps them all. Either is logged in one line
    and written to ``note``.
    """
    scores = {seed: run.score for seed, run in runs.items()}
    selected, ranked = select_top(scores, top_n), select_top(scores, None)
    degenerate = [seed for seed in ranked if runs[seed].degenerate]
    notes = []
    if top_n is not None and top_n > len(runs):
        notes.append(f"top_n={top_n} but only {len(runs)} runs: voting all of them")
    if degenerate:
        in_vote = len(set(degenerate) & set(selected))
        notes.append(
            f"{len(degenerate)} of {len(runs)} runs degenerate (fewer than two clusters used, "
            f"score 0), {in_vote} of them voting: seeds {degenerate}"
        )
    for note in notes:
        log.warning(note)
    return Selection(
        top_n=top_n,
        n_runs=len(runs),
        n_selected=len(selected),
        n_degenerate=len(degenerate),
        note="; ".join(notes) or None,
        selected=selected,
        ranked=[
            RankedRun(seed, runs[seed].score, runs[seed].degenerate, runs[seed].n_clusters)
            for seed in ranked
        ],
    )
