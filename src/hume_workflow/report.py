"""Evaluation against the truth and the report tables (CSV, Markdown, HTML).

Ground truth is read here and in the baselines only, never by training or selection.
"""

from __future__ import annotations

import html
import os
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import pearsonr

from hume_workflow.io import atomic_path, read_h5
from hume_workflow.metrics import compute_metrics


def evaluate_pair(manifest: dict, votes: pd.DataFrame, truth: np.ndarray) -> dict:
    """Metrics of a pair's vote and of every run, and the score-vs-ACC correlation.

    Args:
        manifest: the selection manifest of :func:`hume_workflow.aggregate.select_runs`.
        votes: the vote table (``sample_index``, ``label``, ``agreement``).
        truth: (N,) true labels of the whole dataset.
    """
    selected = set(manifest["selected"])
    runs = []
    for entry in manifest["ranked"]:
        arrays, attrs = read_h5(entry["path"], ["labels", "eval_indices"])
        runs.append(
            {
                "seed": entry["seed"],
                "score": entry["score"],
                **compute_metrics(arrays["labels"], truth[arrays["eval_indices"]]),
                "selected": entry["seed"] in selected,
                "degenerate": entry["degenerate"],
                "wall_time_s": float(attrs["wall_time_s"]),
            }
        )
    scores = np.array([r["score"] for r in runs])
    accs = np.array([np.nan if r["acc"] is None else r["acc"] for r in runs])
    labelled = not np.isnan(accs).any()
    varies = labelled and len(runs) > 2 and scores.std() > 0 and accs.std() > 0
    pearson = pearsonr(scores, accs) if varies else None
    vote = compute_metrics(votes["label"].to_numpy(), truth[votes["sample_index"].to_numpy()])
    sizes = votes.groupby("label")["agreement"].agg(["size", "mean"])
    return {
        "n_runs": manifest["n_runs"],
        "n_selected": len(selected),
        "vote": {
            **vote,
            "mean_agreement": float(votes["agreement"].mean()),
            "clusters": [
                {"cluster": int(c), "size": int(row["size"]), "agreement": float(row["mean"])}
                for c, row in sizes.iterrows()
            ],
        },
        "score_acc_pearson": float(pearson.statistic) if pearson else None,
        "score_acc_pearson_p": float(pearson.pvalue) if pearson else None,
        "runs": runs,
    }


def summary_tables(pairs: list[dict], baselines: dict[str, dict]) -> dict[str, pd.DataFrame]:
    """The report's tables.

    Args:
        pairs: per pair, ``evaluate_pair``'s dict plus ``phi1``, ``phi2`` and ``setting``.
        baselines: backbone name -> {"dim", "kmeans": metrics, "linear_probe_acc"}.
    """
    summary, runs, clusters = [], [], []
    for p in pairs:
        accs = np.array([np.nan if r["acc"] is None else r["acc"] for r in p["runs"]])
        known = not np.isnan(accs).all()
        summary.append(
            {
                "phi1": p["phi1"],
                "phi2": p["phi2"],
                "setting": p["setting"],
                "runs": p["n_runs"],
                "voted": p["n_selected"],
                "vote_acc": p["vote"]["acc"],
                "vote_ari": p["vote"]["ari"],
                "vote_nmi": p["vote"]["nmi"],
                "vote_agreement": p["vote"]["mean_agreement"],
                "vote_clusters_used": len(p["vote"]["clusters"]),
                "best_score": max(r["score"] for r in p["runs"]),
                "run_acc_mean": np.nanmean(accs) if known else None,
                "run_acc_std": np.nanstd(accs) if known else None,
                "run_acc_max": np.nanmax(accs) if known else None,
                "pearson_score_acc": p["score_acc_pearson"],
                "kmeans_acc_phi1": baselines[p["phi1"]]["kmeans"]["acc"],
                "kmeans_acc_phi2": baselines[p["phi2"]]["kmeans"]["acc"],
                "probe_acc_phi1": baselines[p["phi1"]]["linear_probe_acc"],
                "probe_acc_phi2": baselines[p["phi2"]]["linear_probe_acc"],
            }
        )
        runs += [{"phi1": p["phi1"], "phi2": p["phi2"], **r} for r in p["runs"]]
        clusters += [{"phi1": p["phi1"], "phi2": p["phi2"], **c} for c in p["vote"]["clusters"]]
    run_columns = [
        "phi1",
        "phi2",
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
    tables = {
        "summary": pd.DataFrame(summary),
        "clusters": pd.DataFrame(clusters),
        "baselines": pd.DataFrame(spaces),
        "runs": pd.DataFrame(runs, columns=run_columns),
    }
    return {name: drop_unknown_truth(table) for name, table in tables.items()}


def drop_unknown_truth(table: pd.DataFrame) -> pd.DataFrame:
    """Without ground truth (an unlabelled dataset), the columns that need it are left out."""
    empty = [c for c in table.columns if c in TRUTH_COLUMNS and table[c].isna().all()]
    return table.drop(columns=empty)


TRUTH_COLUMNS = {
    *("acc", "ari", "nmi", "vote_acc", "vote_ari", "vote_nmi", "pearson_score_acc"),
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


def write_report(
    tables: dict[str, pd.DataFrame], out: dict[str, str | os.PathLike], title: str
) -> None:
    """Write ``summary.csv``, ``runs.csv``, a Markdown file and an HTML page (each atomically).

    Args:
        out: paths for keys "summary_csv", "runs_csv", "markdown", "html".
    """
    for key, name in (("summary_csv", "summary"), ("runs_csv", "runs")):
        with atomic_path(out[key]) as tmp:
            tables[name].to_csv(tmp, index=False)
    markdown = [f"# {title}\n"]
    page = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}"
        ".wide{overflow-x:auto}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        "<p>ACC is computed after Hungarian matching of clusters to classes. "
        "<code>pearson_score_acc</code> is the correlation, across runs, between the "
        "label-free generalisation score and ACC: HUME's central claim is that it is high.</p>",
    ]
    for name, table in tables.items():
        markdown += [f"## {TITLES[name]}\n", table.to_markdown(index=False, floatfmt=".4f"), ""]
        page += [
            f"<h2>{html.escape(TITLES[name])}</h2>",
            "<div class='wide'>",
            table.to_html(
                index=False, float_format=lambda x: f"{x:.4f}", na_rep="n/a", table_id=name
            ),
            "</div>",
        ]
    page.append("</body></html>")
    with atomic_path(out["markdown"]) as tmp:
        tmp.write_text("\n".join(markdown) + "\n")
    with atomic_path(out["html"]) as tmp:
        Path(tmp).write_text("\n".join(page) + "\n")
