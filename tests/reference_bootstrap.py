"""The bootstrap of a task's runs the plain way, as a reference for report/uncertainty.py:
each replicate gathers its drawn samples' columns, aligns every drawn run to its best, votes
over a dense (samples, K) table of weight totals and, for the vote-by-n curve, redoes that
vote and the matching from scratch for every n."""

from __future__ import annotations

import numpy as np

from hume_workflow.aggregate.alignment import tie_broken_argmax, weighted_votes
from hume_workflow.aggregate.weights import run_weights
from hume_workflow.report.uncertainty import (
    INTERVALS,
    PairRuns,
    ari_nmi,
    confusion_counts,
    matched_accuracy,
    run_statistics,
)


def reference_replicates(
    runs: PairRuns,
    truth: np.ndarray | None,
    run_acc: np.ndarray | None,
    resamples: int,
    curve_resamples: int,
    seed: int = 0,
) -> tuple[dict, np.ndarray, dict[str, list[float]], np.ndarray]:
    """(point values, (R, 2) point curve, {name: replicate values}, (curve resamples, R, 2)
    replicate curves), drawing as bootstrap_replicates does."""
    rng = np.random.default_rng(seed)
    n_runs, n_samples = runs.labels.shape
    known = None if truth is None or not (truth >= 0).any() else truth >= 0
    lookups = runs.alignments()

    def one(drawn, samples, curve):
        kept = None if known is None else known[samples]
        true = None if kept is None else truth[samples][kept]
        ranked = runs.ranked(drawn, None)
        aligned = runs.aligned(ranked, lookups)[:, samples]
        weights = run_weights(runs.scores[ranked], runs.kappas[ranked], runs.weights)
        n_vote = len(ranked) if runs.top_n is None else min(runs.top_n, len(ranked))
        votes = weighted_votes(aligned[:n_vote], runs.num_classes, weights[:n_vote])
        values = dict.fromkeys(INTERVALS, np.nan)
        values["mean_agreement"] = float((aligned[:n_vote] == votes).mean())
        values["best_score"] = float(runs.scores[drawn].max())
        if true is not None:
            overlap = confusion_counts(votes[kept], true, runs.num_classes)
            values["vote_acc"] = matched_accuracy(overlap)
            values["vote_ari"], values["vote_nmi"] = ari_nmi(overlap)
        if run_acc is not None:
            values |= run_statistics(runs.scores[drawn], run_acc[drawn])
        if not curve:
            return values, None
        return values, dense_curve(aligned, weights, runs.num_classes, kept, true)

    point, point_curve = one(np.arange(n_runs), np.arange(n_samples), True)
    values = {name: [] for name in INTERVALS}
    by_n = np.full((curve_resamples, n_runs, 2), np.nan)
    for b in range(resamples):
        drawn = rng.integers(n_runs, size=n_runs)
        samples = rng.integers(n_samples, size=n_samples)
        found, points = one(drawn, samples, b < curve_resamples)
        for name, value in found.items():
            values[name].append(value)
        if points is not None:
            by_n[b] = points
    return point, point_curve, values, by_n


def dense_curve(aligned, weights, num_classes, kept, truth) -> np.ndarray:
    """(R, 2): ACC and mean agreement of the vote of the first n runs of ``aligned``, n = 1..R,
    each vote taken from scratch over a (samples, K) table."""
    n_runs, n_samples = aligned.shape
    counts = np.zeros((n_samples, num_classes))
    rows = np.arange(n_samples)
    curve = np.full((n_runs, 2), np.nan)
    for n in range(n_runs):
        counts[rows, aligned[n]] += weights[n]
        votes = tie_broken_argmax(counts, aligned[0])
        if truth is not None:
            curve[n, 0] = matched_accuracy(confusion_counts(votes[kept], truth, num_classes))
        curve[n, 1] = (aligned[: n + 1] == votes).mean()
    return curve
