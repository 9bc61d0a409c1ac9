"""The report's summary tables: one row per task (a method on its spaces) and per baseline.

Every table names a task by ``method`` and ``task`` (report/names.py), with HUME's ``phi1``
and ``phi2`` filled for HUME's rows only (the columns are left out when no row has them).
The baselines a task is held against are those of its own spaces, 1 to n of them: the
summary gives the best k-means ACC and the best supervised linear probe over the task's
spaces (``kmeans_acc_best``, ``probe_acc_best``: the strongest bar the task's spaces set; the
vote must clear k-means on every space it reads to beat it), and, for HUME's rows, k-means
and the probe on phi1 and on phi2 as before. Per space, they are in the baselines table.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from hume_workflow.report import uncertainty
from hume_workflow.report.names import PAIR_COLUMNS, PAIR_METHODS, task_columns, task_of


def summary_tables(
    pairs: list[dict], baselines: dict[str, dict], every_k: list[dict] | None = None
) -> dict[str, pd.DataFrame]:
    """The report's tables.

    Args:
        pairs: per task, ``evaluate_task``'s dict plus ``method``, ``spaces``, ``k`` and
            ``setting`` (metrics.json): the evaluation of the task's chosen K; with the
            :data:`RELIABLE_COLUMNS` of its labels.csv when given. A dict with ``phi1`` and
            ``phi2`` instead of ``method`` and ``spaces`` is a HUME pair.
        baselines: backbone name -> {"dim", "kmeans": metrics, "linear_probe_acc"}.
        every_k: the evaluations of every (task, K) whose runs the runs table lists
            (None: those of ``pairs``).
    """
    summary = [summary_row(p, baselines) for p in pairs]
    clusters = [
        {**task_columns(*task_of(p)), "k": p["k"], **c}
        for p in pairs
        for c in p["vote"]["clusters"]
    ]
    runs = [
        {**task_columns(*task_of(p)), "k": p["k"], **r}
        for p in (pairs if every_k is None else every_k)
        for r in p["runs"]
    ]
    run_columns = [
        *("method", "task", *PAIR_COLUMNS),
        "k",
        "seed",
        "score",
        "acc",
        "ari",
        "nmi",
        "selected",
        "degenerate",
        "collapsed",
        "wall_time_s",
    ]
    spaces = [
        {
            "backbone": name,
            "dim": b["dim"],
            **{f"kmeans_{k}": v for k, v in b["kmeans"].items()},
            "linear_probe_acc": b["linear_probe_acc"],
        }
        for name, b in baselines.items()
    ]
    summary_table = pd.DataFrame(summary)
    if any(p.get("selection_note") for p in pairs):  # fewer runs than top_n, degenerate runs
        summary_table["selection_note"] = [p.get("selection_note") or "" for p in pairs]
    tables = {
        "summary": summary_table,
        "clusters": pd.DataFrame(clusters),
        "baselines": pd.DataFrame(spaces),
        "runs": pd.DataFrame(runs, columns=run_columns),
    }
    return {name: drop_unknown_truth(drop_pair_columns(t)) for name, t in tables.items()}


def summary_row(p: dict, baselines: dict[str, dict]) -> dict:
    """The summary table's row of a task (see :func:`summary_tables` for ``p``,
    ``baselines``): its numbers, each interval's bounds beside its value."""
    accs = np.array([np.nan if r["acc"] is None else r["acc"] for r in p["runs"]])
    known = not np.isnan(accs).all()
    method, spaces = task_of(p)
    return {
        **task_columns(method, spaces),
        "setting": p["setting"],
        "k": p["k"],
        "runs": p["n_runs"],
        "voted": p["n_selected"],
        "aggregation": aggregation_text(p),
        "collapsed": p.get("n_collapsed"),
        "vote_acc": p["vote"]["acc"],
        **bounds(p, "vote_acc"),
        "vote_ari": p["vote"]["ari"],
        **bounds(p, "vote_ari"),
        "vote_nmi": p["vote"]["nmi"],
        **bounds(p, "vote_nmi"),
        "vote_agreement": p["vote"]["mean_agreement"],
        **bounds(p, "mean_agreement"),
        "vote_clusters_used": len(p["vote"]["clusters"]),
        # labels.csv's reliable samples (report.assemble.exported_reliability)
        **{c: p[c] for c in RELIABLE_COLUMNS if c in p},
        "best_score": max(r["score"] for r in p["runs"]),
        **bounds(p, "best_score"),
        "run_acc_mean": np.nanmean(accs) if known else None,
        **bounds(p, "run_acc_mean"),
        "run_acc_std": np.nanstd(accs) if known else None,
        "run_acc_max": np.nanmax(accs) if known else None,
        **bounds(p, "run_acc_max"),
        "pearson_score_acc": p["score_acc_pearson"],
        **bounds(p, "pearson"),
        "spearman_score_acc": p.get("score_acc_spearman"),
        **bounds(p, "spearman"),
        **baseline_columns(method, spaces, baselines),
    }


def baseline_columns(
    method: str, spaces: list[str], baselines: dict[str, dict]
) -> dict[str, float | None]:
    """The summary's baselines of a task on ``spaces``: the best k-means ACC and the best
    supervised probe over them (None when none is known); for a HUME pair also each on phi1
    and phi2 (None for another method's task)."""
    kmeans = [baselines[s]["kmeans"]["acc"] for s in spaces]
    probe = [baselines[s]["linear_probe_acc"] for s in spaces]
    pair = method in PAIR_METHODS and len(spaces) == 2
    return {
        "kmeans_acc_best": best_known(kmeans),
        "probe_acc_best": best_known(probe),
        "kmeans_acc_phi1": kmeans[0] if pair else None,
        "kmeans_acc_phi2": kmeans[1] if pair else None,
        "probe_acc_phi1": probe[0] if pair else None,
        "probe_acc_phi2": probe[1] if pair else None,
    }


def best_known(values: list[float | None]) -> float | None:
    """The largest of ``values`` that is known; None when none is."""
    known = [v for v in values if v is not None]
    return max(known) if known else None


def interval(metrics: dict, name: str) -> tuple[float | None, float | None]:
    """(low, high) of the bootstrap interval ``name`` of a metrics.json (its
    ``uncertainty.intervals``); (None, None) when it has none."""
    intervals = (metrics.get("uncertainty") or {}).get("intervals") or {}
    low, high = intervals.get(name) or (None, None)
    return low, high


def bounds(metrics: dict, name: str) -> dict[str, float | None]:
    """The summary's two columns of the interval ``name``: ``{prefix}_low``, ``{prefix}_high``."""
    low, high = interval(metrics, name)
    return {f"{INTERVALS[name]}_low": low, f"{INTERVALS[name]}_high": high}


def interval_level(metrics: dict) -> str:
    """The level of a metrics.json's intervals as text: "95 %"."""
    return f"{100 * (metrics.get('uncertainty') or {}).get('level', 0.95):g} %"


def aggregation_text(metrics: dict) -> str | None:
    """How the vote was made: "all, uniform", "top 4, kappa"; None when not recorded."""
    how = metrics.get("aggregation")
    if how is None:
        return None
    runs = "all" if how["top_n"] is None else f"top {how['top_n']}"
    return f"{runs}, {how['weights']}"


def drop_pair_columns(table: pd.DataFrame) -> pd.DataFrame:
    """Without a HUME pair among the rows, HUME's :data:`HUME_COLUMNS` are left out."""
    empty = [c for c in table.columns if c in HUME_COLUMNS and table[c].isna().all()]
    return table.drop(columns=empty)


def drop_unknown_truth(table: pd.DataFrame) -> pd.DataFrame:
    """Without ground truth (an unlabelled dataset), the columns that need it are left out."""
    empty = [c for c in table.columns if c in TRUTH_COLUMNS and table[c].isna().all()]
    return table.drop(columns=empty)


RELIABLE_COLUMNS = ("reliable_coverage", "reliable_acc")

# metrics.json's interval name -> the prefix of its two summary columns
INTERVALS = {n: "agreement" if n == "mean_agreement" else n for n in uncertainty.INTERVALS}
# the intervals that need the truth
TRUTH_INTERVALS = [n for n in INTERVALS if n not in uncertainty.LABEL_FREE_INTERVALS]

TRUTH_COLUMNS = {
    *("acc", "ari", "nmi", "vote_acc", "vote_ari", "vote_nmi", "pearson_score_acc"),
    "reliable_acc",
    "spearman_score_acc",
    *("run_acc_mean", "run_acc_std", "run_acc_max", "linear_probe_acc"),
    *("kmeans_acc", "kmeans_ari", "kmeans_nmi", "kmeans_acc_phi1", "kmeans_acc_phi2"),
    *("probe_acc_phi1", "probe_acc_phi2", "kmeans_acc_best", "probe_acc_best"),
    *(f"{INTERVALS[name]}_{end}" for name in TRUTH_INTERVALS for end in ("low", "high")),
}
# the columns only HUME's rows fill: its pair's spaces and their baselines
HUME_COLUMNS = {*PAIR_COLUMNS, "kmeans_acc_phi1", "kmeans_acc_phi2"}
HUME_COLUMNS |= {"probe_acc_phi1", "probe_acc_phi2"}

TITLES = {
    "summary": "Per task (a method on its spaces): the vote of its chosen K",
    "clusters": "Clusters of the vote: size and mean agreement of the voting runs",
    "baselines": "Baselines per space: k-means (K clusters) and the supervised linear probe",
    "runs": "Every run of every task and K: generalisation score and agreement with the truth",
}
