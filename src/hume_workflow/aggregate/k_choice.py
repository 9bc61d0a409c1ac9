"""Choosing K without labels: label-free criteria over the runs and the vote of each K.

A sweep runs a method for several numbers of classes K; each K gets its runs, its selection
and its vote. The criteria below say, without the ground truth, how much each K's labelings look
like the human one (docs/algorithm.md, "Choosing K"); higher is better for every criterion:

- ``stability``: mean adjusted Rand index between every two runs of the same K. Independent
  runs agree when the labeling they find is the one optimum; below the true K there are many
  ways to merge classes and above it many ways to split them, so runs disagree.
- ``kappa``: mean over the runs of Cohen's kappa of the generalisation score's held-out
  predictions: the score with the agreement expected by chance (about 1/K) taken out.
- ``kappa_stability``: the geometric mean of the two (each clipped at 0): a labeling that is
  both predictable beyond chance and found again by independent runs.
- ``outer_fit``: 1 - (the runs' held-out cross-entropy trace, ``FIT_TRACE`` of the run
  file, over the last tenth of the iterations) / log K, averaged over the runs: the fit
  against a uniform guess (HUME: its outer loss).
- ``silhouette``: the silhouette of the vote's clusters in the task's last space, where the
  runs are scored (HUME: phi2; Euclidean, up to ``SILHOUETTE_SAMPLES`` samples).
- ``score``: the raw mean generalisation score, shown for reference (it prefers small K).

The criteria's names are ``choices.K_CRITERIA``; ``stability`` and ``kappa_stability``
(``choices.PAIRWISE_K_CRITERIA``) compare runs, so one run of a K leaves them NaN. With one K
there is nothing to choose: that K is picked, whatever the values.
"""

from __future__ import annotations

import itertools
import logging
import math
import os
from collections.abc import Mapping, Sequence

import numpy as np
from sklearn.metrics import silhouette_score

from hume_workflow.aggregate.k_pick import k_certainty
from hume_workflow.aggregate.resources import SILHOUETTE_SAMPLES
from hume_workflow.errors import InputError
from hume_workflow.formats.embeddings import read_spaces
from hume_workflow.formats.k_choice import KChoice
from hume_workflow.formats.run import FIT_TRACE, RunRecord, paths_by_k, read_runs
from hume_workflow.formats.votes import read_vote

log = logging.getLogger(__name__)

OUTER_TAIL = 0.1  # the share of the last iterations whose outer loss is averaged


def stability(labelings: Sequence[np.ndarray]) -> float:
    """Mean adjusted Rand index over all pairs of ``labelings`` (each (n,), same samples);
    NaN with fewer than two."""
    pairs = list(itertools.combinations(range(len(labelings)), 2))
    if not pairs:
        return math.nan
    codes = [np.unique(labels, return_inverse=True)[1] for labels in labelings]
    squares = [int((np.bincount(c).astype(np.int64) ** 2).sum()) for c in codes]
    return float(
        np.mean([rand_index(codes[i], codes[j], squares[i], squares[j]) for i, j in pairs])
    )


def rand_index(a: np.ndarray, b: np.ndarray, a_squares: int, b_squares: int) -> float:
    """The adjusted Rand index of labelings ``a`` and ``b`` (n,) of ids 0.., given the sums
    of their cluster sizes squared: scikit-learn's ``adjusted_rand_score`` from the same
    integer pair counts, with the contingency table counted densely (one pass)."""
    n = len(a)
    cells = np.bincount(a * (int(b.max()) + 1) + b).astype(np.int64)
    both = int((cells**2).sum())  # sum of the squared contingency counts
    tp, fn, fp = both - n, a_squares - both, b_squares - both
    tn = n * n - fp - fn - both
    if fn == 0 and fp == 0:
        return 1.0
    return 2.0 * (tp * tn - fn * fp) / ((tp + fn) * (fn + tn) + (tp + fp) * (fp + tn))


def outer_fit(cross_entropy: np.ndarray, num_classes: int) -> float:
    """1 - mean of the last ``OUTER_TAIL`` of a run's outer cross-entropy trace
    ((num_iters,)) over log K: 0 for a uniform guess, 1 for a perfect fit."""
    tail = max(1, math.ceil(OUTER_TAIL * len(cross_entropy)))
    return float(1 - np.mean(cross_entropy[-tail:]) / math.log(num_classes))


def silhouette_rows(n: int, seed: int = 0) -> np.ndarray:
    """The rows of n labelled samples the silhouette sees: a uniform sample of at most
    ``SILHOUETTE_SAMPLES``, drawn as scikit-learn's ``silhouette_score`` draws its
    ``sample_size`` (so only those rows of the space need be read)."""
    return np.random.RandomState(seed).permutation(n)[:SILHOUETTE_SAMPLES]


def vote_silhouette(probe: np.ndarray, labels: np.ndarray) -> float:
    """Silhouette of ``labels`` ((m,)) on ``probe`` ((m, d)), the rows of
    :func:`silhouette_rows`; -1 when they use fewer than two clusters (the worst)."""
    if len(np.unique(labels)) < 2:
        return -1.0
    return float(silhouette_score(probe, labels))


def k_evidence(
    runs: Mapping[int, RunRecord], vote: np.ndarray, probe: np.ndarray, num_classes: int
) -> dict[str, float]:
    """Every criterion of one K.

    Args:
        runs: {seed: run} of that K, read with their ``labels`` and ``trace``.
        vote: (n,) that K's voted labels of the labelled samples.
        probe: (m, d) the samples of :func:`silhouette_rows` (n) in the task's last space
            (HUME: phi2), in that order.

    Raises:
        InputError: a run without labels or trace, or of another number of samples.
    """
    rows = silhouette_rows(len(vote))
    if len(probe) != len(rows):
        raise InputError(
            f"the task's last space gives {len(probe)} samples for the silhouette; "
            f"expected {len(rows)} of the {len(vote)} the vote labels"
        )
    for run in runs.values():
        if run.labels is None or run.trace is None or FIT_TRACE not in run.trace:
            raise InputError(f"{run.path}: no labels or {FIT_TRACE} trace; expected a run file")
        if len(run.labels) != len(vote):
            raise InputError(
                f"{run.path}: labels {len(run.labels)} samples; the vote labels {len(vote)}"
            )
    kappas = [math.nan if run.kappa is None else run.kappa for run in runs.values()]
    values = {
        "stability": stability([run.labels for run in runs.values()]),
        "kappa": float(np.mean(kappas)),
        "outer_fit": float(
            np.mean([outer_fit(run.trace[FIT_TRACE], num_classes) for run in runs.values()])
        ),
        "silhouette": vote_silhouette(probe, vote[rows]),
        "score": float(np.mean([run.score for run in runs.values()])),
    }
    values["kappa_stability"] = math.sqrt(max(values["kappa"], 0.0) * max(values["stability"], 0.0))
    return values


def choose_task_k(
    run_paths: Sequence[str | os.PathLike],
    vote_paths: Mapping[int, str | os.PathLike],
    data_path: str | os.PathLike,
    probe_path: str | os.PathLike,
    criterion: str,
) -> KChoice:
    """The evidence of every K of one task's sweep and the K that ``criterion`` picks.

    Args:
        run_paths: every run file of the task, of every K (grouped by the K each records).
        vote_paths: K -> that K's vote.csv.
        data_path, probe_path: data.h5 and the embedding file of the task's last space
            (the silhouette's space).

    Raises:
        InputError: a K with votes but no runs, or runs of a K that has no vote.
    """
    by_k = paths_by_k(run_paths)
    if set(by_k) != set(vote_paths):
        raise InputError(
            f"run files of K={sorted(by_k)} but votes of K={sorted(vote_paths)}; "
            "expected the runs and the vote of every K of the sweep"
        )
    evidence, n_runs = {}, {}
    for k, vote_path in sorted(vote_paths.items()):
        runs = read_runs(by_k[k], arrays=("labels", "eval_indices", "trace"))
        votes = read_vote(vote_path)
        rows = votes.sample_index.to_numpy()[silhouette_rows(len(votes))]
        probe = read_spaces(data_path, [probe_path], rows)[0]
        evidence[k] = k_evidence(runs, votes.label.to_numpy(), probe, k)
        n_runs[k] = len(runs)
        if evidence[k]["outer_fit"] < 0:
            log.warning(
                "K=%d: outer_fit %.3f is below 0: the runs' held-out cross-entropy is above "
                "log K, worse than a uniform guess; the inner steps may be too large for the "
                "last space (mean row norm %.1f; inner_lr is absolute)",
                k,
                evidence[k]["outer_fit"],
                float(np.linalg.norm(probe, axis=1).mean()),
            )
        log.info(
            "K=%d (%d runs): %s",
            k,
            len(runs),
            ", ".join(f"{name} {value:.3f}" for name, value in evidence[k].items()),
        )
    certainty = k_certainty(evidence, criterion)
    log.info("%s (K of %s)", certainty.sentence(), sorted(evidence))
    chosen = certainty.chosen
    run = next(iter(runs.values()))  # every run names its method and its task's spaces
    return KChoice(run.method, list(run.spaces), criterion, chosen, evidence, n_runs)
