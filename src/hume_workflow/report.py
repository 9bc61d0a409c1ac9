"""Evaluation against the truth and the report tables (CSV, Markdown, HTML).

Ground truth is read here and in the baselines only, never by training or selection.
"""

from __future__ import annotations

import html
import os
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import pearsonr, spearmanr

from hume_workflow.io import atomic_path, read_h5
from hume_workflow.metrics import compute_metrics, match_labels
from hume_workflow.vote import majority_vote


def evaluate_pair(manifest: dict, votes: pd.DataFrame, truth: np.ndarray) -> dict:
    """Metrics of a pair's vote and of every run, and the score-vs-ACC correlation.

    Args:
        manifest: the selection manifest of :func:`hume_workflow.aggregate.select_runs`.
        votes: the vote table (``sample_index``, ``label``, ``agreement``).
        truth: (N,) true labels of the whole dataset.
    """
    selected = set(manifest["selected"])
    runs, labelings = [], []
    for entry in manifest["ranked"]:
        arrays, attrs = read_h5(entry["path"], ["labels", "eval_indices"])
        labelings.append(arrays["labels"])
        runs.append(
            {
                "seed": entry["seed"],
                "path": entry["path"],
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
    spearman = spearmanr(scores, accs) if varies else None
    vote_labels, vote_truth = votes["label"].to_numpy(), truth[votes["sample_index"].to_numpy()]
    vote = compute_metrics(vote_labels, vote_truth)
    eval_truth = truth[arrays["eval_indices"]]  # every run labels the same samples
    sizes = votes.groupby("label")["agreement"].agg(["size", "mean"])
    return {
        "n_runs": manifest["n_runs"],
        "n_selected": len(selected),
        "selection_note": manifest.get("note"),
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
        "score_acc_spearman": float(spearman.statistic) if spearman else None,
        "vote_by_n": vote_by_n(np.stack(labelings), eval_truth),
        "coverage": coverage_curve(vote_labels, votes["agreement"].to_numpy(), vote_truth),
        "confusion": confusion(vote_labels, vote_truth),
        "runs": runs,
    }


def vote_by_n(labelings: np.ndarray, truth: np.ndarray) -> list[dict]:
    """The majority vote of the top n runs, n = 1..all: its ACC and mean agreement.

    Args:
        labelings: (n_runs, n_samples) labels of the runs ranked best score first.
        truth: (n_samples,) true labels of those samples (-1 unknown).
    """
    num_classes = int(labelings.max()) + 1
    curve = []
    for n in range(1, len(labelings) + 1):
        labels, agreement = majority_vote(labelings[:n], num_classes)
        acc = compute_metrics(labels, truth)["acc"]
        curve.append({"n": n, "acc": acc, "mean_agreement": float(agreement.mean())})
    return curve


def coverage_curve(labels: np.ndarray, agreement: np.ndarray, truth: np.ndarray) -> list[dict]:
    """ACC of the samples whose agreement is at least t, for each agreement value t.

    Clusters are matched to classes once, on every sample with a known label; the ACC at a
    threshold is the fraction of kept samples whose matched label is right. Empty without truth.
    """
    known = truth >= 0
    if not known.any():
        return []
    labels, agreement, truth = labels[known], agreement[known], truth[known]
    mapping = match_labels(labels, truth)
    correct = np.array([mapping.get(int(c), -1) for c in labels]) == truth
    curve = []
    for t in np.unique(agreement)[::-1]:
        kept = agreement >= t
        curve.append(
            {
                "threshold": float(t),
                "coverage": float(kept.mean()),
                "acc": float(correct[kept].mean()),
            }
        )
    return curve


def confusion(labels: np.ndarray, truth: np.ndarray) -> list[list[int]] | None:
    """Counts of (true class, matched vote class); a last column for unmatched clusters if any."""
    known = truth >= 0
    if not known.any():
        return None
    labels, truth = labels[known], truth[known]
    mapping = match_labels(labels, truth)
    n = int(max(truth.max(), max(mapping.values()))) + 1
    matched = np.array([mapping.get(int(c), n) for c in labels])
    counts = np.zeros((n, n + 1), dtype=np.int64)
    np.add.at(counts, (truth, matched), 1)
    return (counts if counts[:, n].any() else counts[:, :n]).tolist()


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
                "spearman_score_acc": p.get("score_acc_spearman"),
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


TRUTH_COLUMNS = {
    *("acc", "ari", "nmi", "vote_acc", "vote_ari", "vote_nmi", "pearson_score_acc"),
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


def write_report(
    tables: dict[str, pd.DataFrame],
    out: dict[str, str | os.PathLike],
    title: str,
    figures: dict[str, list[tuple[str, str]]] | None = None,
    extra: dict[str, pd.DataFrame] | None = None,
    beside_summary: dict[str, pd.DataFrame] | None = None,
) -> None:
    """Write ``summary.csv``, ``runs.csv``, a Markdown file and an HTML page (each atomically).

    Args:
        out: paths for keys "summary_csv", "runs_csv", "markdown", "html".
        figures: section title -> [(caption, base64 PNG)], inlined in the page.
        extra: further tables (heading -> table) at the end: provenance, wall times.
        beside_summary: tables (heading -> table) right after the summary: the paper's numbers.
    """
    for key, name in (("summary_csv", "summary"), ("runs_csv", "runs")):
        with atomic_path(out[key]) as tmp:
            tables[name].to_csv(tmp, index=False)
    markdown = [f"# {title}\n"]
    page = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
        f"<style>{STYLE}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        "<p>ACC is computed after Hungarian matching of clusters to classes. "
        "<code>pearson_score_acc</code> is the correlation, across runs, between the "
        "label-free generalisation score and ACC: HUME's central claim is that it is high.</p>",
    ]
    if "vote_acc" not in tables["summary"].columns:
        page.append(
            "<p><b>No ground truth</b> (an unlabelled dataset): the panels and columns that "
            "need it are left out; cluster sizes, agreement and image grids remain.</p>"
        )
    sections = [(TITLES["summary"], tables["summary"], "summary")]
    sections += [(heading, table, None) for heading, table in (beside_summary or {}).items()]
    sections += [(TITLES[name], table, name) for name, table in tables.items() if name != "summary"]
    sections += [(heading, table, None) for heading, table in (extra or {}).items()]
    for i, (heading, table, table_id) in enumerate(sections):
        markdown += [f"## {heading}\n", table.to_markdown(index=False, floatfmt=".4f"), ""]
        page += [f"<h2>{html.escape(heading)}</h2>", "<div class='wide'>"]
        page += [table.to_html(index=False, float_format=_fmt, na_rep="n/a", table_id=table_id)]
        page.append("</div>")
        if i == len(beside_summary or {}) and figures:  # after the summary and the paper's
            page.append(_figure_sections(figures))
    page.append("</body></html>")
    with atomic_path(out["markdown"]) as tmp:
        tmp.write_text("\n".join(markdown) + "\n")
    with atomic_path(out["html"]) as tmp:
        Path(tmp).write_text("\n".join(page) + "\n")


def _fmt(x: float) -> str:
    return f"{x:.4f}"


def _figure_sections(figures: dict[str, list[tuple[str, str]]]) -> str:
    parts = []
    for heading, panels in figures.items():
        parts += [f"<h2>{html.escape(heading)}</h2>", "<div class='figs'>"]
        for caption, png in panels:
            parts.append(
                f"<figure><img alt='{html.escape(caption)}' src='data:image/png;base64,{png}'>"
                f"<figcaption>{html.escape(caption)}</figcaption></figure>"
            )
        parts.append("</div>")
    return "\n".join(parts)


STYLE = (
    "body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:1400px}"
    "table{border-collapse:collapse;font-size:13px}"
    "td,th{border:1px solid #ccc;padding:3px 7px;text-align:right}th{background:#f3f3f3}"
    ".wide{overflow-x:auto}.figs{display:flex;flex-wrap:wrap;gap:12px;align-items:flex-start}"
    "figure{margin:0;border:1px solid #e3e3e3;padding:6px;background:#fff}"
    "figcaption{font-size:12px;color:#555;max-width:420px}img{display:block;max-width:100%}"
)
