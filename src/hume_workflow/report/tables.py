"""The report's summary tables: one row per task (a method on its spaces) and per baseline.

Every table names a task by ``method`` and ``task`` (report/names.py), with HUME's ``phi1``
and ``phi2`` filled for HUME's rows only (the columns are left out when no row has them).
The baselines a task is held against are those of its own spaces, 1 to n of them: the
summary gives the best k-means ACC and the best supervised linear probe over the task's
spaces (``kmeans_acc_best``, ``probe_acc_best``: the strongest bar the task's spaces set; the
vote must clear k-means on every space it reads to beat it), and, for HUME's rows, k-means
and the probe on phi1 and on phi2 as before. Per space, they are in the baselines table.

A task of more than :data:`LARGE_K` classes (ImageNet's 1000) is summarised: the page lists
its largest, smallest and least-agreed clusters (:func:`shown_clusters`; every cluster is in
clusters.csv) and its most confused class pairs (:func:`confused_pairs`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from hume_workflow.report import uncertainty
from hume_workflow.report.names import PAIR_COLUMNS, PAIR_METHODS, task_columns, task_of

#: Above this many classes (or clusters) a task is summarised: its cluster sizes drawn as a
#: curve, its confusion as per-class recall and pooled blocks (figures.py), its clusters table
#: cut to its extremes, its most confused pairs listed. Up to 50, a bar per cluster, the
#: matrix with a named row per class and a row per cluster read well (CIFAR-20, STL-10);
#: at CIFAR-100's 100 the names run into each other.
LARGE_K = 50
SHOWN_CLUSTERS = 10  # a summarised task's clusters on the page: largest, smallest, least agreed
TOP_CONFUSED = 20  # a summarised task's most confused (true class, voted-as class) pairs


def summary_tables(
    pairs: list[dict],
    baselines: dict[str, dict],
    every_k: list[dict] | None = None,
    class_names: Sequence[str] = (),
) -> dict[str, pd.DataFrame]:
    """The report's tables: "summary", "clusters" (every cluster of every task), "confused"
    (:func:`confused_pairs` of the tasks of more than :data:`LARGE_K` classes; only when
    there is one), "baselines" and "runs".

    Args:
        pairs: per task, ``evaluate_task``'s dict plus ``method``, ``spaces``, ``k`` and
            ``setting`` (metrics.json): the evaluation of the task's chosen K; with the
            :data:`RELIABLE_COLUMNS` of its labels.csv when given. A dict with ``phi1`` and
            ``phi2`` instead of ``method`` and ``spaces`` is a HUME pair.
        baselines: backbone name -> {"dim", "kmeans": metrics, "linear_probe_acc"}.
        every_k: the evaluations of every (task, K) whose runs the runs table lists
            (None: those of ``pairs``).
        class_names: the dataset's class names by id (empty: unknown, ids only).
    """
    summary = [summary_row(p, baselines) for p in pairs]
    clusters = [
        {**task_columns(*task_of(p)), "k": p["k"], **c}
        for p in pairs
        for c in p["vote"]["clusters"]
    ]
    confused = [
        {**task_columns(*task_of(p)), "k": p["k"], **row}
        for p in pairs
        if len(p.get("confusion") or []) > LARGE_K
        for row in confused_pairs(p["confusion"], class_names)
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
            # which algorithms ran (aggregate/baselines.py): absent from older files
            **{key: b[key] for key in ("kmeans_method", "probe_method") if key in b},
        }
        for name, b in baselines.items()
    ]
    summary_table = pd.DataFrame(summary)
    if any(p.get("selection_note") for p in pairs):  # fewer runs than top_n, degenerate runs
        summary_table["selection_note"] = [p.get("selection_note") or "" for p in pairs]
    tables = {
        "summary": summary_table,
        "clusters": pd.DataFrame(clusters),
        **({"confused": pd.DataFrame(confused)} if confused else {}),
        "baselines": pd.DataFrame(spaces),
        "runs": pd.DataFrame(runs, columns=run_columns),
    }
    return {name: drop_unknown_truth(drop_pair_columns(t)) for name, t in tables.items()}


def confused_pairs(
    confusion: list[list[int]], class_names: Sequence[str] = (), top: int = TOP_CONFUSED
) -> list[dict]:
    """The ``top`` largest off-diagonal cells of a confusion matrix, most samples first (ties:
    by true class, then voted-as class): ``true_class``, ``voted_as`` (the class the vote's
    cluster is matched to, "unmatched" for a cluster matched to none), each followed by its
    name when ``class_names`` are known, ``count`` and ``share_of_true_class``.

    ``confusion``: metrics.json's ``confusion``, (n, n) or (n, n + 1) true class x matched
    vote class (report.evaluate.confusion), so that its diagonal holds the right labels.
    """
    counts = np.asarray(confusion, dtype=np.int64)
    n = counts.shape[0]
    wrong = counts.copy()
    wrong[np.arange(n), np.arange(n)] = 0
    order = np.argsort(-wrong, axis=None, kind="stable")[:top]  # row-major: true, then voted
    totals = counts.sum(axis=1)
    rows = []
    for true, voted in zip(*np.unravel_index(order, wrong.shape), strict=True):
        count = int(wrong[true, voted])
        if count == 0:
            break
        row: dict = {"true_class": int(true)}
        if class_names:
            row["true_name"] = class_name(int(true), class_names)
        row["voted_as"] = int(voted) if voted < n else "unmatched"
        if class_names:
            row["voted_as_name"] = class_name(int(voted), class_names) if voted < n else ""
        rows.append(row | {"count": count, "share_of_true_class": count / int(totals[true])})
    return rows


def class_name(index: int, class_names: Sequence[str]) -> str:
    """The name of class ``index``; its id as text when the dataset names fewer classes."""
    return str(class_names[index]) if index < len(class_names) else str(index)


def shown_clusters(clusters: pd.DataFrame, each: int = SHOWN_CLUSTERS) -> pd.DataFrame:
    """The clusters table as the page shows it: whole when no task has more than
    :data:`LARGE_K` clusters; else a column ``shown`` after ``k`` says which list a row is
    in: a task of more clusters shows its ``each`` "largest", "smallest" and "least agreed"
    (a cluster may be in two lists), a smaller one "all" its clusters.

    ``clusters``: :func:`summary_tables`' "clusters" (``method``, ``task``, ``k``,
    ``cluster``, ``size``, ``agreement``), one row per cluster of each task.
    """
    keys = ["method", "task", "k"]
    if clusters.empty or clusters.groupby(keys, sort=False).size().max() <= LARGE_K:
        return clusters
    parts = []
    for _, group in clusters.groupby(keys, sort=False):
        if len(group) <= LARGE_K:
            parts.append(group.assign(shown="all"))
            continue
        for label, column, ascending in CLUSTER_LISTS:
            ranked = group.sort_values([column, "cluster"], ascending=[ascending, True])
            parts.append(ranked.head(each).assign(shown=label))
    shown = pd.concat(parts, ignore_index=True)
    columns = list(clusters.columns)
    columns.insert(columns.index("k") + 1, "shown")
    return shown[columns]


# the lists of a summarised task's clusters: (label, column, ascending)
CLUSTER_LISTS = (
    ("largest", "size", False),
    ("smallest", "size", True),
    ("least agreed", "agreement", True),
)


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
    "confused": (
        f"Most confused class pairs ({TOP_CONFUSED} per task of more than {LARGE_K} classes): "
        "the true class, the class the vote labels its samples as, how many and their share "
        "of the true class"
    ),
    "baselines": "Baselines per space: k-means (K clusters) and the supervised linear probe",
    "runs": "Every run of every task and K: generalisation score and agreement with the truth",
}
