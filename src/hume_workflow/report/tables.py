"""The report's summary tables: one row per pair and per baseline."""

from __future__ import annotations

import numpy as np
import pandas as pd


def summary_tables(
    pairs: list[dict], baselines: dict[str, dict], every_k: list[dict] | None = None
) -> dict[str, pd.DataFrame]:
    """The report's tables.

    Args:
        pairs: per pair, ``evaluate_pair``'s dict plus ``phi1``, ``phi2``, ``k`` and
            ``setting``: the evaluation of the pair's chosen K; with the
            :data:`RELIABLE_COLUMNS` of its labels.csv when given.
        baselines: backbone name -> {"dim", "kmeans": metrics, "linear_probe_acc"}.
        every_k: the evaluations of every (pair, K) whose runs the runs table lists
            (None: those of ``pairs``).
    """
    summary, clusters = [], []
    for p in pairs:
        accs = np.array([np.nan if r["acc"] is None else r["acc"] for r in p["runs"]])
        known = not np.isnan(accs).all()
        summary.append(
            {
                "phi1": p["phi1"],
                "phi2": p["phi2"],
                "setting": p["setting"],
                "k": p["k"],
                "runs": p["n_runs"],
                "voted": p["n_selected"],
                "vote_acc": p["vote"]["acc"],
                "vote_ari": p["vote"]["ari"],
                "vote_nmi": p["vote"]["nmi"],
                "vote_agreement": p["vote"]["mean_agreement"],
                "vote_clusters_used": len(p["vote"]["clusters"]),
                # labels.csv's reliable samples (report.assemble.exported_reliability)
                **{c: p[c] for c in RELIABLE_COLUMNS if c in p},
                "best_score": max(r["score"] for r in p["runs"]),
                "run_acc_mean": np.nanmean(accs) if known else None,
                "run_acc_std": np.nanstd(accs) if known else None,
                "run_acc_max": np.nanmax(accs) if known else None,
                "pearson_score_acc": p["score_acc_pearson"],
                "spearman_score_acc": p.get("score_acc_spearman"),
                "kmeans_acc_phi1": baselines[p["phi1"]]["kmeans"]["acc"],
                "kmeans_acc_phi2": baselines[p["phi2"]]["kmeans"]["acc"],
                "probe_acc_phi1": baselines[p["phi1"]]["linear_probe_acc"],
                "probe_acc_phi2": baselines[p["phi2"]]["linear_probe_acc"],
            }
        )
        clusters += [{"phi1": p["phi1"], "phi2": p["phi2"], **c} for c in p["vote"]["clusters"]]
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


def drop_unknown_truth(table: pd.DataFrame) -> pd.DataFrame:
    """Without ground truth (an unlabelled dataset), the columns that need it are left out."""
    empty = [c for c in table.columns if c in TRUTH_COLUMNS and table[c].isna().all()]
    return table.drop(columns=empty)


RELIABLE_COLUMNS = ("reliable_coverage", "reliable_acc")

TRUTH_COLUMNS = {
    *("acc", "ari", "nmi", "vote_acc", "vote_ari", "vote_nmi", "pearson_score_acc"),
    "reliable_acc",
    "spearman_score_acc",
    *("run_acc_mean", "run_acc_std", "run_acc_max", "linear_probe_acc"),
    *("kmeans_acc", "kmeans_ari", "kmeans_nmi", "kmeans_acc_phi1", "kmeans_acc_phi2"),
    *("probe_acc_phi1", "probe_acc_phi2"),
}


TITLES = {
    "summary": "HUME per (phi1, phi2) pair",
    "clusters": "Clusters of the vote: size and mean agreement of the voting runs",
    "baselines": "Baselines per space: k-means (K clusters) and the supervised linear probe",
    "runs": "Every run: generalisation score and agreement with the truth",
}
