"""Bootstrap intervals of a pair's results: how much of a number is luck of the seeds (runs)
and of the samples.

One replicate draws the runs with replacement (R of R) and the samples with replacement (N of
N), then repeats the aggregation on them exactly as configured: the drawn runs are ranked by
score, the top n kept, aligned to the best one and voted with their weights. Each quantity is
computed on the replicate; its interval is the percentile interval of the replicates. Run-level
quantities (mean and best run ACC, r(score, ACC), best score) vary with the drawn runs only.
"""

from __future__ import annotations

import functools
import itertools
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.stats import norm, rankdata

from hume_workflow.aggregate.alignment import alignment
from hume_workflow.aggregate.vote_groups import VoteGroups
from hume_workflow.aggregate.weights import VoteWeights, run_weights
from hume_workflow.choices import check_choice
from hume_workflow.report.bootstrap_work import CURVE_RESAMPLES, band_points, bootstrap_workers

IntervalKind = Literal["percentile", "bias_corrected"]
INTERVAL_KINDS: tuple[IntervalKind, ...] = get_args(IntervalKind)


@dataclass(frozen=True)
class Bootstrap:
    """How the intervals are made (config ``uncertainty``)."""

    resamples: int = 1000
    level: float = 0.95
    seed: int = 0
    interval_kind: IntervalKind = "percentile"

    def __post_init__(self) -> None:
        """Raises InputError naming the config key (``uncertainty.interval_kind``)."""
        check_choice("uncertainty.interval_kind", self.interval_kind, INTERVAL_KINDS)

    def method(self) -> str:
        """One sentence saying how the intervals were made, for the report."""
        kind = "percentile" if self.interval_kind == "percentile" else "bias-corrected (BC)"
        return (
            f"{100 * self.level:g} % {kind} bootstrap intervals from {self.resamples} "
            "resamples of the runs (with replacement; each resample re-ranked by score and "
            f"re-voted as configured) and of the samples; the vote-by-n band from "
            f"{self.curve_resamples} of them"
        )

    @property
    def curve_resamples(self) -> int:
        """Replicates of the vote-by-n band."""
        return min(self.resamples, CURVE_RESAMPLES)

    def interval(self, replicates: np.ndarray, point: float) -> list[float] | None:
        """The interval of a quantity whose value on the data is ``point``, from its
        ``replicates`` (:func:`percentile_interval` or :func:`bias_corrected_interval`)."""
        if self.interval_kind == "percentile":
            return percentile_interval(replicates, self.level)
        return bias_corrected_interval(replicates, point, self.level)


def percentile_interval(replicates: np.ndarray, level: float) -> list[float] | None:
    """[low, high]: the central ``level`` percentile interval of the finite ``replicates``;
    None when there are none."""
    values = np.asarray(replicates, dtype=np.float64)
    values = values[np.isfinite(values)]
    if not len(values):
        return None
    tail = 100 * (1 - level) / 2
    low, high = np.percentile(values, [tail, 100 - tail])
    return [float(low), float(high)]


def confusion_counts(
    labels: np.ndarray, truth: np.ndarray, num_classes: int, times: np.ndarray | None = None
) -> np.ndarray:
    """(num_classes, C) int64 counts of (label, true class) of ``labels`` (n,) in
    [0, num_classes) and ``truth`` (n,) in [0, C), each sample counted once or ``times``
    (n,) times."""
    n_truth = int(truth.max()) + 1
    counts = np.bincount(labels * n_truth + truth, times, minlength=num_classes * n_truth)
    return counts.astype(np.int64).reshape(num_classes, n_truth)


def bias_corrected_interval(
    replicates: np.ndarray, point: float, level: float
) -> list[float] | None:
    """Efron's bias-corrected (BC) percentile interval: the percentiles moved by how far the
    replicates sit off ``point`` (z0, from the share below it, ties counting half). It is
    the percentile interval when half the replicates lie below ``point``; a NaN ``point``
    gives the percentile interval."""
    values = np.asarray(replicates, dtype=np.float64)
    values = values[np.isfinite(values)]
    if not len(values) or not np.isfinite(point):
        return percentile_interval(values, level)
    below = ((values < point).sum() + 0.5 * (values == point).sum()) / len(values)
    below = np.clip(below, 1 / (len(values) + 1), len(values) / (len(values) + 1))
    z0, z = norm.ppf(below), norm.ppf((1 + level) / 2)
    low, high = np.percentile(values, 100 * norm.cdf([2 * z0 - z, 2 * z0 + z]))
    return [float(low), float(high)]


def matched_accuracy(overlap: np.ndarray) -> float:
    """ACC from a confusion ``overlap`` (K, C) after the best one-to-one matching of clusters
    to classes (unmatched clusters count wrong), as the report's ACC."""
    rows, cols = linear_sum_assignment(overlap, maximize=True)
    return float(overlap[rows, cols].sum() / overlap.sum())


def ari_nmi(overlap: np.ndarray) -> tuple[float, float]:
    """Adjusted Rand index and NMI (arithmetic normalisation) from a confusion ``overlap``
    (K, C): scikit-learn's definitions, without its per-call input checks."""
    n = overlap.sum()
    pairs = lambda x: (x * (x - 1) / 2).sum()  # noqa: E731
    index, rows, cols = pairs(overlap), pairs(overlap.sum(1)), pairs(overlap.sum(0))
    expected = rows * cols / pairs(np.array([n]))
    top = (rows + cols) / 2
    ari = 1.0 if top == expected else float((index - expected) / (top - expected))
    p_joint, p_rows, p_cols = overlap / n, overlap.sum(1) / n, overlap.sum(0) / n
    nz = p_joint > 0
    mi = float((p_joint[nz] * np.log(p_joint[nz] / np.outer(p_rows, p_cols)[nz])).sum())
    h_rows = -float((p_rows[p_rows > 0] * np.log(p_rows[p_rows > 0])).sum())
    h_cols = -float((p_cols[p_cols > 0] * np.log(p_cols[p_cols > 0])).sum())
    if h_rows == h_cols == 0:
        return ari, 1.0
    return ari, max(mi, 0.0) / max((h_rows + h_cols) / 2, np.finfo(float).eps)


class Alignments:
    """Lookups taking every run's cluster ids to a reference run's
    (:func:`~hume_workflow.aggregate.alignment.alignment`), and the runs' labels in those ids
    as :class:`~hume_workflow.aggregate.vote_groups.VoteGroups`, computed the first time a run
    is the reference: a resample's reference is its best-scoring run, mostly one of the first
    few."""

    def __init__(self, labels: np.ndarray, num_classes: int) -> None:
        self.labels, self.num_classes = labels, num_classes  # (R, N), K
        self._to: dict[int, np.ndarray] = {}
        self._groups: dict[int, VoteGroups] = {}

    def to(self, reference: int) -> np.ndarray:
        """(R, K): row i takes run i's cluster ids to run ``reference``'s."""
        if reference not in self._to:
            self._to[reference] = np.stack(
                [alignment(row, self.labels[reference], self.num_classes) for row in self.labels]
            )
        return self._to[reference]

    def groups(self, reference: int) -> VoteGroups:
        """Every run's labels in run ``reference``'s ids, grouped per sample."""
        if reference not in self._groups:
            aligned = np.take_along_axis(self.to(reference), self.labels, axis=1)
            self._groups[reference] = VoteGroups.of(aligned, reference)
        return self._groups[reference]


@dataclass(frozen=True)
class PairRuns:
    """A pair's runs, ranked best score first, and the aggregation that votes them."""

    labels: np.ndarray  # (R, N) hard labels in [0, num_classes)
    scores: np.ndarray  # (R,) generalisation scores, decreasing
    kappas: np.ndarray  # (R,) Cohen's kappa of the scores' held-out predictions
    num_classes: int
    top_n: int | None
    weights: VoteWeights

    def alignments(self) -> Alignments:
        """The lookups between these runs' cluster ids (computed as they are needed)."""
        return Alignments(self.labels, self.num_classes)

    def ranked(self, drawn: np.ndarray, top_n: int | None) -> np.ndarray:
        """The ``drawn`` run indices ranked by score (ties: smaller index), the first
        ``top_n`` kept (None: all)."""
        order = np.sort(drawn)
        return order[np.argsort(-self.scores[order], kind="stable")][:top_n]

    def aligned(self, runs: np.ndarray, lookups: Alignments) -> np.ndarray:
        """(len(runs), N) labels of ``runs`` in the ids of the first of them."""
        table = lookups.to(int(runs[0]))[runs]  # (n, K)
        return np.take_along_axis(table, self.labels[runs], axis=1)


def bootstrap_pair(
    runs: PairRuns,
    truth: np.ndarray | None,
    run_acc: np.ndarray | None,
    setup: Bootstrap,
    lookups: Alignments | None = None,
    workers: int = 1,
) -> dict:
    """Intervals of a pair's vote and runs (the ``uncertainty`` of metrics.json) and the
    band of its vote-by-n curve.

    Args:
        runs: the ranked runs and how they are voted.
        truth: (N,) true labels of the labelled samples (-1 unknown), or None.
        run_acc: (R,) each run's ACC, or None without truth.
        lookups: ``runs.alignments()`` when the caller has them already.
        workers: processes sharing the resamples (the numbers do not depend on it).

    Returns:
        ``{"method", "resamples", "level", "intervals": {name: [low, high] or None},
        "vote_by_n": [{"n", "acc_low", "acc_high", "agreement_low", "agreement_high"}]}``
        with the names of :data:`INTERVALS`.
    """
    reps = bootstrap_replicates(runs, truth, run_acc, setup, lookups=lookups, workers=workers)
    return {
        "method": setup.method(),
        "resamples": setup.resamples,
        "level": setup.level,
        "intervals": {
            name: setup.interval(np.array(values), reps.point[name])
            for name, values in reps.values.items()
        },
        "vote_by_n": [
            {
                "n": n + 1,
                **band("acc", setup.interval(reps.by_n[:, n, 0], reps.point_curve[n, 0])),
                **band("agreement", setup.interval(reps.by_n[:, n, 1], reps.point_curve[n, 1])),
            }
            for n in range(len(runs.labels))
        ],
    }


@dataclass(frozen=True)
class Replicates:
    """A pair's quantities on the data and on each bootstrap resample."""

    point: dict[str, float]  # name -> value on the data (NaN where not defined)
    values: dict[str, list[float]]  # name -> its value on each resample
    point_curve: np.ndarray  # (R, 2) the vote-by-n ACC and agreement on the data
    by_n: np.ndarray  # (curve resamples, R, 2) the same on the first resamples


def bootstrap_replicates(
    runs: PairRuns,
    truth: np.ndarray | None,
    run_acc: np.ndarray | None,
    setup: Bootstrap,
    curve: bool = True,
    lookups: Alignments | None = None,
    workers: int = 1,
) -> Replicates:
    """The resamples behind :func:`bootstrap_pair` (arguments as there); without ``curve``
    the vote-by-n curve is left out of the resamples (``by_n`` empty). ``workers``
    processes share the resamples; the draws, and so every number, are the same for any
    number of them."""
    n_runs, n_samples = runs.labels.shape
    workers = bootstrap_workers(workers, setup.resamples, n_runs, n_samples)
    known = None if truth is None or not (truth >= 0).any() else truth >= 0
    one = Replicate(runs, lookups or runs.alignments(), known, truth, run_acc)
    point, point_curve = one(np.arange(n_runs), np.arange(n_samples), curve=True)
    share = functools.partial(
        replicate_share, one, setup, setup.curve_resamples if curve else 0, workers
    )
    if workers == 1:
        shares = [share(0)]
    else:
        with ProcessPoolExecutor(workers) as pool:
            shares = list(pool.map(share, range(workers)))
    found = sorted(itertools.chain.from_iterable(shares), key=lambda item: item[0])
    values = {name: [value[name] for _, value, _ in found] for name in INTERVALS}
    by_n = np.full((setup.curve_resamples if curve else 0, n_runs, 2), np.nan)
    for b, _, points in found:
        if points is not None:
            by_n[b] = points
    return Replicates(point, values, point_curve, by_n)


def replicate_share(
    one: Replicate, setup: Bootstrap, curve_resamples: int, workers: int, worker: int
) -> list[tuple[int, dict[str, float], np.ndarray | None]]:
    """(b, values, curve or None) of the resamples b = worker, worker + workers, ...: every
    resample's draws are made in order (``setup.seed``), the others' only to be skipped."""
    rng = np.random.default_rng(setup.seed)
    n_runs, n_samples = one.runs.labels.shape
    band_acc = band_points(n_runs, one.runs.num_classes)
    found = []
    for b in range(setup.resamples):
        drawn = rng.integers(n_runs, size=n_runs)
        samples = rng.integers(n_samples, size=n_samples)
        if b % workers == worker:
            found.append((b, *one(drawn, samples, b < curve_resamples, band_acc)))
    return found


@dataclass(frozen=True)
class Replicate:
    """The quantities of one bootstrap replicate of a pair: its drawn runs re-ranked and
    re-voted as configured, on its drawn samples.

    The drawn samples enter as how many times each sample was drawn: a sample's vote does
    not depend on which other samples were drawn, so every vote is taken once per distinct
    sample (:class:`~hume_workflow.aggregate.vote_groups.VoteGroups`) and counted as often as
    it was drawn."""

    runs: PairRuns
    lookups: Alignments  # runs.alignments()
    known: np.ndarray | None  # (N,) samples whose truth is known; None without truth
    truth: np.ndarray | None  # (N,)
    run_acc: np.ndarray | None  # (R,)

    def __call__(
        self,
        drawn: np.ndarray,
        samples: np.ndarray,
        curve: bool,
        acc_at: np.ndarray | None = None,
    ) -> tuple[dict[str, float], np.ndarray | None]:
        """({name: value} of :data:`INTERVALS`, NaN where not defined; the (R, 2) vote-by-n
        ACC and agreement of :meth:`vote_curve` when ``curve``, its ACC at the n of
        ``acc_at`` (R,) only, None: every n) of the runs ``drawn`` (R,) and the ``samples``
        (N,), indices with repeats."""
        runs = self.runs
        times = np.bincount(samples, minlength=len(samples))  # (N,) draws of each sample
        ranked = runs.ranked(drawn, None)
        groups = self.lookups.groups(int(ranked[0]))
        weights = run_weights(runs.scores[ranked], runs.kappas[ranked], runs.weights)
        n_vote = len(ranked) if runs.top_n is None else min(runs.top_n, len(ranked))
        voted = groups.vote(ranked[:n_vote], weights[:n_vote])
        agreeing = groups.agreeing(ranked[:n_vote], voted)
        values = dict.fromkeys(INTERVALS, np.nan)
        values["mean_agreement"] = float((agreeing * times).sum() / (n_vote * len(samples)))
        values["best_score"] = float(runs.scores[drawn].max())
        if self.known is not None:
            overlap = self.overlap(groups.labels(voted), times)
            values["vote_acc"] = matched_accuracy(overlap)
            values["vote_ari"], values["vote_nmi"] = ari_nmi(overlap)
        if self.run_acc is not None:
            values |= run_statistics(runs.scores[drawn], self.run_acc[drawn])
        if not curve:
            return values, None
        return values, self.vote_curve(groups, ranked, weights, times, acc_at)

    def overlap(self, labels: np.ndarray, times: np.ndarray) -> np.ndarray:
        """(K, C) counts of (label, true class) of the samples with a known truth, each
        counted ``times`` (N,), of ``labels`` (N,)."""
        known = self.known
        return confusion_counts(
            labels[known], self.truth[known], self.runs.num_classes, times[known]
        )

    def vote_curve(
        self,
        groups: VoteGroups,
        ranked: np.ndarray,
        weights: np.ndarray,
        times: np.ndarray,
        acc_at: np.ndarray | None = None,
    ) -> np.ndarray:
        """(R, 2): the ACC (NaN without truth, or where ``acc_at`` (R,) is False) and mean
        agreement of the vote of the first n runs of ``ranked`` (R,), n = 1..R, each counted
        with its ``weights`` (R,), on the samples drawn ``times`` (N,)."""
        curve = np.full((len(ranked), 2), np.nan)
        steps = groups.votes_by_n(ranked, weights)
        for n, (vote, agreeing) in enumerate(steps):
            curve[n, 1] = (agreeing * times).sum() / ((n + 1) * len(times))
            if self.known is not None and (acc_at is None or acc_at[n]):
                curve[n, 0] = matched_accuracy(self.overlap(groups.labels(vote), times))
        return curve


def run_statistics(scores: np.ndarray, acc: np.ndarray) -> dict[str, float]:
    """Run-level quantities of runs with these ``scores`` and ``acc`` (R,): mean and best
    ACC, Pearson and Spearman r(score, ACC) (NaN when either is constant or R < 3)."""
    varies = len(acc) > 2 and np.ptp(scores) > 0 and np.ptp(acc) > 0
    pearson = np.corrcoef(scores, acc)[0, 1] if varies else np.nan
    ranks = rankdata(scores), rankdata(acc)  # Spearman: Pearson of the (average) ranks
    spearman = np.corrcoef(*ranks)[0, 1] if varies else np.nan
    return {
        "run_acc_mean": float(acc.mean()),
        "run_acc_max": float(acc.max()),
        "pearson": float(pearson),
        "spearman": float(spearman),
    }


def band(name: str, interval: list[float] | None) -> dict[str, float | None]:
    """``{name}_low`` and ``{name}_high`` of ``interval`` (None, None when there is none)."""
    low, high = interval or (None, None)
    return {f"{name}_low": low, f"{name}_high": high}


#: The quantities :func:`bootstrap_pair` gives intervals for; all but
#: :data:`LABEL_FREE_INTERVALS` need the truth.
INTERVALS = (
    "vote_acc",
    "vote_ari",
    "vote_nmi",
    "run_acc_mean",
    "run_acc_max",
    "pearson",
    "spearman",
    "mean_agreement",
    "best_score",
)
LABEL_FREE_INTERVALS = ("mean_agreement", "best_score")
