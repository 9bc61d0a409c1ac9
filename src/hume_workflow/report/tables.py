"""The report's summary tables: one row per pair and per baseline."""

from __future__ import annotations

import numpy as np
import pandas as pd

from hume_workflow.report import uncertainty


def summary_tables(
    pairs: list[dict], baselines: dict[str, dict], every_k: list[dict] | None = None
) -> dict[str, pd.DataFrame]:
    """The report's tables.

    Args:
        pairs: per pair, ``evaluate_task``'s dict plus ``phi1``, ``phi2``, ``k`` and
            ``setting``: the evaluation of the pair's chosen K; with the
            :data:`RELIABLE_COLUMNS` of its labels.csv when given.
        baselines: backbone name -> {"dim", "kmeans": metrics, "linear_probe_acc"}.
        every_k: the evaluations of every (pair, K) whose runs the runs table lists
            (None: those of ``pairs``).
    """
    summary = [summary_row(p, baselines) for p in pairs]
    clusters = [
        {"phi1": p["phi1"], "phi2": p["phi2"], **c} for p in pairs for c in p["vote"]["clusters"]
    ]
    runs = [
        {"phi1": p["phi1"], "phi2": p["phi2"], "k": p["k"], **r}
        for p in (pairs if every_k is None else every_k)
        for r in p["runs"]
    ]
    run_columns = [
        "phi1",
        "phi2",
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
    return {name: drop_unknown_truth(table) for name, table in tables.items()}


def summary_row(p: dict, baselines: dict[str, dict]) -> dict:
    """The summary table's row of a pair (see :func:`summary_tables` for ``p``,
    ``baselines``): its numbers, each interval's bounds beside its value."""
    accs = np.array([np.nan if r["acc"] is None else r["acc"] for r in p["runs"]])
    known = not np.isnan(accs).all()
    return {
        "phi1": p["phi1"],
        "phi2": p["phi2"],
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
        "kmeans_acc_phi1": baselines[p["phi1"]]["kmeans"]["acc"],
        "kmeans_acc_phi2": baselines[p["phi2"]]["kmeans"]["acc"],
        "probe_acc_phi1": baselines[p["phi1"]]["linear_probe_acc"],
        "probe_acc_phi2": baselines[p["phi2"]]["linear_probe_acc"],
    }


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
    *("probe_acc_phi1", "probe_acc_phi2"),
    *(f"{INTERVALS[name]}_{end}" for name in TRUTH_INTERVALS for end in ("low", "high")),
}


TITLES = {
    "summary": "HUME per (phi1, phi2) pair",
    "clusters": "Clusters of the vote: size and mean agreement of the voting runs",
    "baselines": "Baselines per space: k-means (K clusters) and the supervised linear probe",
    "runs": "Every run: generalisation score and agreement with the truth",
}
