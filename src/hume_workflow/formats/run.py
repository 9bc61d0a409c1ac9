"""The run file: one HUME run's labels, encoder, score and provenance (HDF5).

Datasets: ``labels`` (n_eval,) int64, ``eval_indices`` (n_eval,) int64 into the dataset,
``confidence`` (n_eval,) float32, ``mean_soft_label`` (K,) float32, ``theta`` (K, d1) float32
and ``trace/<part>`` (num_iters,) per loss part. Attributes: the fields of :class:`RunInfo`
(``hyperparameters`` and ``versions`` as JSON) plus the provenance the job adds (``phi1``,
``phi2``, ``dataset``). :func:`write_run` is the one writer, :func:`read_run` the one reader.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import TYPE_CHECKING

import numpy as np

from hume_workflow.errors import InputError
from hume_workflow.formats.io import package_versions, read_h5, write_h5

if TYPE_CHECKING:
    from hume_workflow.hume.score import Score
    from hume_workflow.hume.training import HumeResult

#: The arrays of a run file; ``trace`` is a group of per-iteration loss parts.
RUN_ARRAYS = ("labels", "eval_indices", "confidence", "mean_soft_label", "theta", "trace")
#: What :func:`read_run` reads unless told otherwise: the labels and whom they label.
LABELS = ("labels", "eval_indices")

#: A run has collapsed when it leaves at least half its K clusters empty: HUME's objective
#: rewards using all K, so a run using so few has failed (step sizes against the feature
#: scale, see docs/algorithm.md#collapsed-runs), not found fewer classes.
MAX_USED_FRACTION_COLLAPSED = 0.5
#: ... or when one cluster holds this many times its fair share 1/K of the samples ...
FAIR_SHARE_MULTIPLE_COLLAPSED = 3
#: ... and more than this fraction of them: at small K (2, 3) three fair shares is all the
#: samples, and an uneven split such as 70/30 is data, not a collapse.
MAJORITY_COLLAPSED = Fraction(1, 2)


def clusters_used(labels: np.ndarray) -> int:
    """How many distinct clusters ``labels`` (n,) uses."""
    return int(np.unique(labels).size)


def most_clusters_of_collapsed(num_classes: int) -> int:
    """The most clusters of K = ``num_classes`` a collapsed run uses (K // 2)."""
    return int(num_classes * MAX_USED_FRACTION_COLLAPSED)


def largest_share_of_collapsed(num_classes: int) -> Fraction:
    """The share of the samples that, exceeded by one cluster, makes a run collapsed:
    max(1/2, 3/K), exact."""
    return max(MAJORITY_COLLAPSED, Fraction(FAIR_SHARE_MULTIPLE_COLLAPSED, num_classes))


def collapsed(labels: np.ndarray, num_classes: int) -> bool:
    """Whether a run with hard labels ``labels`` (n,) of its labelled samples, cluster ids
    in [0, ``num_classes``), has collapsed: it uses at most K // 2 of the K clusters, or its
    largest cluster holds more than max(1/2, 3/K) of the samples. A degenerate run (one
    cluster, or no samples) is collapsed too.
    """
    sizes = np.unique(labels, return_counts=True)[1]  # (n_used,)
    if sizes.size <= most_clusters_of_collapsed(num_classes):
        return True
    return Fraction(int(sizes.max()), len(labels)) > largest_share_of_collapsed(num_classes)


@dataclass
class RunRecord:
    """A finished run, before it is written: its result, its score and its samples."""

    seed: int
    setting: str
    eval_indices: np.ndarray  # (n_eval,) indices into the dataset of the labelled samples
    result: HumeResult
    score: Score


@dataclass(frozen=True)
class RunInfo:
    """A run file as read: its attributes, and the arrays that were asked for (else None)."""

    path: str
    seed: int
    setting: str
    score: float
    degenerate: bool
    kappa: float | None  # chance-corrected score (None in files written without it)
    n_clusters: int | None
    wall_time_s: float
    phi1: str | None = None
    phi2: str | None = None
    hyperparameters: dict = field(default_factory=dict)
    versions: dict = field(default_factory=dict)
    labels: np.ndarray | None = None  # (n_eval,) int64
    eval_indices: np.ndarray | None = None  # (n_eval,) int64
    trace: dict[str, np.ndarray] | None = None  # part -> (num_iters,)
    theta: np.ndarray | None = None  # (K, d1) the task encoder

    def is_collapsed(self, num_classes: int) -> bool:
        """Whether this run collapsed at K = ``num_classes`` (:func:`collapsed`).

        Raises:
            ValueError: its labels were not read (``read_runs(paths, arrays=("labels",))``).
        """
        if self.labels is None:
            raise ValueError(
                f"{self.path}: labels not read; expected the run read with arrays=('labels',)"
            )
        return collapsed(self.labels, num_classes)


#: Attributes every run file has (older files may lack ``n_clusters`` and ``kappa``).
REQUIRED_ATTRS = ("seed", "setting", "score", "degenerate", "wall_time_s")


def write_run(path: str | os.PathLike, record: RunRecord, provenance: dict) -> None:
    """Write a run to HDF5 (atomically): labels and traces as datasets, the rest as attributes."""
    r = record.result
    arrays = {
        "labels": r.labels,
        "eval_indices": record.eval_indices.astype(np.int64),
        "confidence": r.confidence,
        "mean_soft_label": r.mean_soft_label,
        "theta": r.theta,
    }
    arrays |= {f"trace/{name}": values for name, values in r.loss_trace.items()}
    attrs = {
        "seed": record.seed,
        "setting": record.setting,
        "score": record.score.score,
        "kappa": record.score.kappa,
        "n_clusters": record.score.n_clusters,
        "min_cluster_size": record.score.min_cluster_size,
        "degenerate": record.score.degenerate,
        "wall_time_s": r.wall_time_s,
        "versions": package_versions(),
        **provenance,
    }
    write_h5(path, arrays, attrs)


def run_info(record: RunRecord, path: str = "") -> RunInfo:
    """``record`` as :func:`read_run` reads its file back (labels, indices and trace), without
    writing it: for sweeps run in memory (tests, benchmarks)."""
    return RunInfo(
        path=path,
        seed=record.seed,
        setting=record.setting,
        score=record.score.score,
        degenerate=record.score.degenerate,
        kappa=record.score.kappa,
        n_clusters=record.score.n_clusters,
        wall_time_s=record.result.wall_time_s,
        labels=record.result.labels,
        eval_indices=record.eval_indices,
        trace=record.result.loss_trace,
        theta=record.result.theta,
    )


def read_run(path: str | os.PathLike, arrays: Sequence[str] = LABELS) -> RunInfo:
    """The run file at ``path``: its attributes and the named ``arrays`` (of RUN_ARRAYS).

    Raises:
        InputError: the file is missing, not HDF5, lacks an asked array, or is not a run file.
    """
    data, attrs = read_h5(path, list(arrays))
    missing = [key for key in REQUIRED_ATTRS if key not in attrs]
    if missing:
        raise InputError(f"{path}: no run attributes {missing}; expected a run_hume output")
    n_clusters, kappa = attrs.get("n_clusters"), attrs.get("kappa")
    return RunInfo(
        path=str(path),
        seed=int(attrs["seed"]),
        setting=str(attrs["setting"]),
        score=float(attrs["score"]),
        degenerate=bool(attrs["degenerate"]),
        kappa=None if kappa is None else float(kappa),
        n_clusters=None if n_clusters is None else int(n_clusters),
        wall_time_s=float(attrs["wall_time_s"]),
        phi1=attrs.get("phi1"),
        phi2=attrs.get("phi2"),
        hyperparameters=attrs.get("hyperparameters", {}),
        versions=attrs.get("versions", {}),
        labels=data.get("labels"),
        eval_indices=data.get("eval_indices"),
        trace=data.get("trace"),
        theta=data.get("theta"),
    )


def read_runs(paths: Iterable[str | os.PathLike], arrays: Sequence[str] = ()) -> dict[int, RunInfo]:
    """{seed: run} of one pair's run files (attributes only by default).

    Raises:
        InputError: no files, or two files with the same seed (naming both).
    """
    runs: dict[int, RunInfo] = {}
    for path in paths:
        run = read_run(path, arrays)
        if run.seed in runs:
            raise InputError(
                f"{path}: seed {run.seed} is also the seed of {runs[run.seed].path}; "
                "expected one run per seed"
            )
        runs[run.seed] = run
    if not runs:
        raise InputError("no run files given; expected at least one run_hume output")
    return runs


def paths_by_k(paths: Iterable[str | os.PathLike]) -> dict[int, list[str | os.PathLike]]:
    """{K: the run files of that K} of a pair's run files, by the K each records."""
    grouped: dict[int, list[str | os.PathLike]] = {}
    for path in paths:
        k = int(read_run(path, arrays=()).hyperparameters["num_classes"])
        grouped.setdefault(k, []).append(path)
    return grouped
