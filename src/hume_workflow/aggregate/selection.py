"""Selection: a task's runs ranked by generalisation score, the top n kept to vote."""

from __future__ import annotations

import logging
from collections.abc import Mapping

import numpy as np

from hume_workflow.aggregate.collapse import (
    clusters_used,
    collapsed,
    largest_share_of_collapsed,
    most_clusters_of_collapsed,
)
from hume_workflow.aggregate.ranking import select_top
from hume_workflow.aggregate.weights import VOTE_WEIGHTS, VoteWeights
from hume_workflow.choices import check_choice
from hume_workflow.formats.run import RunRecord
from hume_workflow.formats.selection import RankedRun, Selection

log = logging.getLogger(__name__)


def select_runs(
    runs: Mapping[int, RunRecord],
    top_n: int | None,
    num_classes: int,
    weights: VoteWeights = "uniform",
) -> Selection:
    """Rank runs ({seed: run}, read with their labels: ``read_runs(paths, arrays=("labels",))``)
    of K = ``num_classes`` by generalisation score and keep the top ``top_n`` (None: all), to
    vote with ``weights`` (:func:`~hume_workflow.aggregate.weights.run_weights`).

    Degenerate runs (fewer than two clusters used; score 0) are ranked like the others, so
    last, and counted; so are collapsed runs (:func:`~hume_workflow.aggregate.collapse.collapsed`),
    which still vote. Fewer runs than ``top_n`` keeps them all. Each of these is logged in one
    line and written to ``note``, and so is :func:`collapse_warning` when most runs collapsed.

    Raises:
        ValueError: a run's labels were not read.
    """
    check_choice("aggregation.weights", weights, VOTE_WEIGHTS)
    scores = {seed: run.score for seed, run in runs.items()}
    selected, ranked = select_top(scores, top_n), select_top(scores, None)
    degenerate = [seed for seed in ranked if runs[seed].degenerate]
    failed = [seed for seed in ranked if collapsed(labels_of(runs[seed]), num_classes)]
    notes = []
    if top_n is not None and top_n > len(runs):
        notes.append(f"top_n={top_n} but only {len(runs)} runs: voting all of them")
    if degenerate:
        in_vote = len(set(degenerate) & set(selected))
        notes.append(
            f"{len(degenerate)} of {len(runs)} runs degenerate (fewer than two clusters used, "
            f"score 0), {in_vote} of them voting: seeds {degenerate}"
        )
    if failed:
        notes.append(collapse_count(failed, len(runs), num_classes))
    used = [clusters_used(runs[seed].labels) for seed in failed]
    if warning := collapse_warning(len(failed), len(runs), num_classes, used):
        notes.append(warning)
    for note in notes:
        log.warning(note)
    return Selection(
        top_n=top_n,
        n_runs=len(runs),
        n_selected=len(selected),
        n_degenerate=len(degenerate),
        note="; ".join(notes) or None,
        selected=selected,
        ranked=[ranked_run(seed, runs[seed], seed in failed) for seed in ranked],
        n_collapsed=len(failed),
        weights=weights,
    )


def labels_of(run: RunRecord) -> np.ndarray:
    """The labels (n_eval,) of a run read with them.

    Raises:
        ValueError: its labels were not read (``read_runs(paths, arrays=("labels",))``).
    """
    if run.labels is None:
        raise ValueError(
            f"{run.path}: labels not read; expected the run read with arrays=('labels',)"
        )
    return run.labels


def ranked_run(seed: int, run: RunRecord, is_collapsed: bool) -> RankedRun:
    """The manifest's entry of ``run``."""
    return RankedRun(seed, run.score, run.degenerate, run.n_clusters, is_collapsed, run.kappa)


def collapse_count(seeds: list[int], n_runs: int, num_classes: int) -> str:
    """One line counting the collapsed runs ``seeds`` of ``n_runs`` and stating the rule."""
    most, share = most_clusters_of_collapsed(num_classes), largest_share_of_collapsed(num_classes)
    return (
        f"{len(seeds)} of {n_runs} runs collapsed (at most {most} of {num_classes} clusters "
        f"used, or one cluster holding more than {float(share):.0%} of the samples): "
        f"seeds {seeds}"
    )


def collapse_warning(
    n_collapsed: int, n_runs: int, num_classes: int, clusters_used: list[int]
) -> str | None:
    """One plain sentence when most runs (more than half) collapsed, else None.

    ``clusters_used``: how many clusters each collapsed run uses (one entry per run).
    """
    if 2 * n_collapsed <= n_runs:
        return None
    low, high = min(clusters_used), max(clusters_used)
    span = str(low) if low == high else f"{low}-{high}"
    return (
        f"{n_collapsed} of {n_runs} runs collapsed (they use {span} of K = {num_classes} "
        "clusters): the labels are not trustworthy; the likely cause is step sizes too large "
        "or too small for the feature scale (hume.inner_lr, hume.outer_lr against phi2's "
        "scale; try the paper's values, or PCA / L2-normalised features) — see "
        "docs/algorithm.md#collapsed-runs"
    )
