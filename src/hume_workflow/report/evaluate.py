"""Evaluation against the truth: metrics of the vote and of every run.

Ground truth is read here and in the baselines only, never by training or selection.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

import numpy as np
import pandas as pd
from scipy.stats import pearsonr, spearmanr

from hume_workflow.aggregate.collapse import clusters_used
from hume_workflow.aggregate.metrics import compute_metrics, match_labels
from hume_workflow.aggregate.selection import collapse_warning
from hume_workflow.aggregate.weights import run_weights
from hume_workflow.errors import InputError
from hume_workflow.formats.run import read_runs
from hume_workflow.formats.selection import Selection
from hume_workflow.report.uncertainty import (
    Alignments,
    Bootstrap,
    PairRuns,
    Replicate,
    bootstrap_pair,
)


def evaluate_task(
    selection: Selection,
    run_paths: Iterable[str | os.PathLike],
    votes: pd.DataFrame,
    truth: np.ndarray,
    num_classes: int,
    bootstrap: Bootstrap | None = None,
    workers: int = 1,
) -> dict:
    """Metrics of a pair's vote and of every run, the score-vs-ACC correlation, the collapsed
    runs and (unless ``bootstrap`` is None) the intervals of :func:`bootstrap_pair`.

    Args:
        selection: the manifest of :func:`hume_workflow.aggregate.selection.select_runs`.
        run_paths: the pair's run files (the rule's inputs).
        votes: the vote table (``sample_index``, ``label``, ``agreement``).
        truth: (N,) true labels of the whole dataset.
        num_classes: the runs' K.
        workers: processes sharing the bootstrap's resamples.
    """
    selected = set(selection.selected)
    by_seed = read_runs(run_paths, arrays=("labels", "eval_indices"))
    absent = sorted({r.seed for r in selection.ranked} - set(by_seed))
    if absent:
        raise InputError(f"ranked seeds {absent} have no run file among the {len(by_seed)} given")
    runs, labelings, kappas = [], [], []
    for entry in selection.ranked:
        run = by_seed[entry.seed]
        labelings.append(run.labels)
        kappas.append(run.kappa)
        runs.append(
            {
                "seed": entry.seed,
                "score": entry.score,
                "kappa": run.kappa,
                **compute_metrics(run.labels, truth[run.eval_indices]),
                "selected": entry.seed in selected,
                "degenerate": entry.degenerate,
                "collapsed": entry.collapsed,
                "clusters_used": clusters_used(run.labels),
                "wall_time_s": run.wall_time_s,
            }
        )
    scores = np.array([r["score"] for r in runs])
    accs = np.array([np.nan if r["acc"] is None else r["acc"] for r in runs])
    labelled = not np.isnan(accs).any()
    varies = labelled and len(runs) > 2 and np.ptp(scores) > 0 and np.ptp(accs) > 0
    pearson = pearsonr(scores, accs) if varies else None
    spearman = spearmanr(scores, accs) if varies else None
    vote_labels, vote_truth = votes["label"].to_numpy(), truth[votes["sample_index"].to_numpy()]
    vote = compute_metrics(vote_labels, vote_truth)
    eval_truth = truth[run.eval_indices]  # every run labels the same samples
    sizes = votes.groupby("label")["agreement"].agg(["size", "mean"])
    ranked = PairRuns(
        np.stack(labelings),
        scores,
        np.array(kappas, dtype=np.float64),
        num_classes,
        selection.top_n,
        selection.weights,
    )
    lookups = ranked.alignments()  # shared by the curve and the bootstrap
    collapsed = [r["clusters_used"] for r in runs if r["collapsed"]]
    metrics = {
        "n_runs": selection.n_runs,
        "n_selected": len(selected),
        "selection_note": selection.note,
        "aggregation": {"top_n": selection.top_n, "weights": selection.weights},
        "n_collapsed": len(collapsed),
        "collapse_warning": collapse_warning(len(collapsed), len(runs), num_classes, collapsed),
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
        "vote_by_n": vote_by_n(ranked, eval_truth, lookups),
        "coverage": coverage_curve(vote_labels, votes["agreement"].to_numpy(), vote_truth),
        "confusion": confusion(vote_labels, vote_truth),
        "runs": runs,
    }
    if bootstrap is not None:
        known = labelled and (eval_truth >= 0).any()
        spread = bootstrap_pair(
            ranked, eval_truth, accs if known else None, bootstrap, lookups, workers
        )
        for point, bounds in zip(metrics["vote_by_n"], spread.pop("vote_by_n"), strict=True):
            point.update({k: v for k, v in bounds.items() if k != "n"})
        metrics["uncertainty"] = spread
    return metrics


def vote_by_n(runs: PairRuns, truth: np.ndarray, lookups: Alignments | None = None) -> list[dict]:
    """The vote of the top n runs by score, n = 1..all, each counted with its weight
    (``runs.weights``): its ACC and mean agreement.

    Args:
        runs: the runs ranked best score first.
        truth: (n_samples,) true labels of those samples (-1 unknown).
        lookups: ``runs.alignments()`` when the caller has them already.
    """
    weights = run_weights(runs.scores, runs.kappas, runs.weights)
    known = truth >= 0
    lookups = lookups or runs.alignments()
    replicate = Replicate(runs, lookups, known if known.any() else None, truth, None)
    everything = np.arange(len(runs.labels))
    once = np.ones(len(truth), dtype=np.int64)
    curve = replicate.vote_curve(lookups.groups(0), everything, weights, once)  # to the best
    return [
        {"n": n, "acc": None if np.isnan(acc) else float(acc), "mean_agreement": float(agreed)}
        for n, (acc, agreed) in enumerate(curve, start=1)
    ]


def coverage_curve(labels: np.ndarray, agreement: np.ndarray, truth: np.ndarray) -> list[dict]:
    """ACC of the samples whose agreement is at least t, for each agreement value t.

    Clusters are matched to classes once, on every sample with a known label; the ACC at a
    threshold is the fraction of kept samples whose matched label is right. Empty without truth.
    """
    known = truth >= 0
    if not known.any():
        return []
    agreement = agreement[known]
    correct = matched_correct(labels[known], truth[known])
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


def reliable_metrics(
    labels: np.ndarray, reliable: np.ndarray, truth: np.ndarray
) -> dict[str, float | None]:
    """Coverage and ACC of the samples flagged reliable (labels.csv's ``reliable``).

    ``reliable_coverage``: the share of the labelled samples flagged reliable.
    ``reliable_acc``: as :func:`coverage_curve`, clusters are matched to classes once, on every
    sample with a known label (the vote's ACC), then the reliable ones with a known label are
    scored. None without truth, or without a reliable sample whose label is known.
    """
    coverage = float(reliable.mean()) if len(reliable) else None
    known = truth >= 0
    if not (known & reliable).any():
        return {"reliable_coverage": coverage, "reliable_acc": None}
    correct = matched_correct(labels[known], truth[known])
    return {"reliable_coverage": coverage, "reliable_acc": float(correct[reliable[known]].mean())}


def matched_correct(labels: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """(n,) whether each label, its cluster matched to a class once over all ``labels``
    (Hungarian, :func:`~hume_workflow.aggregate.metrics.match_labels`), is the ``truth``
    (every truth known)."""
    mapping = match_labels(labels, truth)
    return np.array([mapping.get(int(c), -1) for c in labels]) == truth


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
