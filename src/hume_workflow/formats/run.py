"""The run file: one run of a method (HUME, ...) on one task, as every method writes it (HDF5).

Datasets: ``labels`` (n_eval,) int64, ``eval_indices`` (n_eval,) int64 into the dataset,
``confidence`` (n_eval,) float32, ``encoder/<space>`` (K, d_space) float32 for each space the
run labels from, with ``bias/<space>`` (K,) where the encoder has one, and ``trace/<part>``
(num_iters,) per loss part. A run's label of a sample x is the argmax over K of the mean over
its encoders' spaces of ``softmax(encoder[space] @ x_space + bias[space])`` (HUME: one
encoder, no bias, so the argmax of ``theta @ phi1(x)``; TURTLE: one head per space): its
encoders label new samples (predict). The trace ``cross_entropy`` is the run's cross-entropy
of its labels under the classifiers it trains, per iteration (K choice's ``outer_fit``; HUME:
held out, in its last space; TURTLE: on the batch, the mean over its spaces).
Attributes: ``method``, ``spaces``
(the task's spaces in the method's order, JSON), ``seed``, ``setting``, the generalisation
score (``score``, ``kappa``, ``n_clusters``, ``min_cluster_size``, ``degenerate``),
``wall_time_s``, ``hyperparameters`` (the method's config, with ``num_classes``), ``versions``
and ``dataset``. :func:`write_run` is the one writer, :func:`read_run` the one reader; run
files of an older layout are brought to this one by ``python -m hume_workflow.plan.migrate``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from hume_workflow.errors import InputError
from hume_workflow.formats.io import package_versions, read_h5, write_h5

#: The arrays of a run file; ``encoder`` and ``trace`` are groups (per space, per loss part).
RUN_ARRAYS = ("labels", "eval_indices", "confidence", "encoder", "bias", "trace")
#: Arrays a run file may lack (HUME's encoder has no bias): read where present.
OPTIONAL_ARRAYS = ("bias",)
#: What :func:`read_run` reads unless told otherwise: the labels and whom they label.
LABELS = ("labels", "eval_indices")
#: The trace part every method records: held-out cross-entropy of its labels, per iteration.
FIT_TRACE = "cross_entropy"
#: Attributes every run file has.
REQUIRED_ATTRS = ("method", "spaces", "seed", "setting", "score", "degenerate", "wall_time_s")
#: How to bring a run file of an older layout to this one.
MIGRATE = "python -m hume_workflow.plan.migrate results/<dataset>"


@dataclass(frozen=True)
class RunRecord:
    """One run of a method, as its file holds it; arrays None where they were not read."""

    method: str  # e.g. "hume"
    spaces: tuple[str, ...]  # the task's spaces, in the method's order
    seed: int
    setting: str  # "transductive" or "inductive"
    # The generalisation score: a linear classifier's held-out agreement with the labels.
    score: float  # accuracy of the held-out predictions, in [0, 1]; 0.0 when degenerate
    kappa: float | None  # Cohen's kappa of the same predictions (None in older files)
    n_clusters: int | None  # clusters that received at least one sample
    min_cluster_size: int | None
    degenerate: bool  # fewer than two non-empty clusters: nothing to generalise
    wall_time_s: float
    hyperparameters: dict = field(default_factory=dict)  # the method's config + num_classes
    labels: np.ndarray | None = None  # (n_eval,) int64
    eval_indices: np.ndarray | None = None  # (n_eval,) int64 indices into the dataset
    confidence: np.ndarray | None = None  # (n_eval,) float32
    encoders: dict[str, np.ndarray] | None = None  # space -> (K, d_space) float32
    biases: dict[str, np.ndarray] | None = None  # space -> (K,) float32, where encoders have one
    trace: dict[str, np.ndarray] | None = None  # loss part -> (num_iters,)
    path: str = ""  # the file it was read from ("" before it is written)
    versions: dict = field(default_factory=dict)

    @property
    def num_classes(self) -> int:
        """K, the number of clusters the run was asked for."""
        return int(self.hyperparameters["num_classes"])


def write_run(path: str | os.PathLike, record: RunRecord, provenance: dict) -> None:
    """Write a run to HDF5 (atomically): arrays as datasets, the rest as attributes
    (``provenance``, e.g. the dataset's name, added to them)."""
    arrays = {
        "labels": record.labels,
        "eval_indices": np.asarray(record.eval_indices).astype(np.int64),
        "confidence": record.confidence,
    }
    arrays |= {f"encoder/{space}": w for space, w in (record.encoders or {}).items()}
    arrays |= {f"bias/{space}": b for space, b in (record.biases or {}).items()}
    arrays |= {f"trace/{part}": values for part, values in (record.trace or {}).items()}
    attrs = {
        "method": record.method,
        "spaces": list(record.spaces),
        "seed": record.seed,
        "setting": record.setting,
        "score": record.score,
        "kappa": record.kappa,
        "n_clusters": record.n_clusters,
        "min_cluster_size": record.min_cluster_size,
        "degenerate": record.degenerate,
        "wall_time_s": record.wall_time_s,
        "hyperparameters": record.hyperparameters,
        "versions": package_versions(),
        **provenance,
    }
    write_h5(path, arrays, {key: value for key, value in attrs.items() if value is not None})


def read_run(path: str | os.PathLike, arrays: Sequence[str] = LABELS) -> RunRecord:
    """The run file at ``path``: its attributes and the named ``arrays`` (of RUN_ARRAYS).

    Raises:
        InputError: the file is missing, not HDF5, lacks an asked array, is not a run file,
            or is a run file of an older layout (naming the command that migrates it).
    """
    wanted = [name for name in arrays if name not in OPTIONAL_ARRAYS]
    data, attrs = read_h5(path, wanted, [name for name in arrays if name in OPTIONAL_ARRAYS])
    if "method" not in attrs and "phi1" in attrs:
        raise InputError(f"{path}: a run file of an older layout; to keep it, {MIGRATE}")
    missing = [key for key in REQUIRED_ATTRS if key not in attrs]
    if missing:
        raise InputError(f"{path}: no run attributes {missing}; expected a run job's output")
    optional = {key: attrs.get(key) for key in ("kappa", "n_clusters", "min_cluster_size")}
    return RunRecord(
        method=str(attrs["method"]),
        spaces=tuple(attrs["spaces"]),
        seed=int(attrs["seed"]),
        setting=str(attrs["setting"]),
        score=float(attrs["score"]),
        kappa=None if optional["kappa"] is None else float(optional["kappa"]),
        n_clusters=None if optional["n_clusters"] is None else int(optional["n_clusters"]),
        min_cluster_size=optional["min_cluster_size"],
        degenerate=bool(attrs["degenerate"]),
        wall_time_s=float(attrs["wall_time_s"]),
        hyperparameters=attrs.get("hyperparameters", {}),
        labels=data.get("labels"),
        eval_indices=data.get("eval_indices"),
        confidence=data.get("confidence"),
        encoders=data.get("encoder"),
        biases=data.get("bias"),
        trace=data.get("trace"),
        path=str(path),
        versions=attrs.get("versions", {}),
    )


def read_runs(
    paths: Iterable[str | os.PathLike], arrays: Sequence[str] = ()
) -> dict[int, RunRecord]:
    """{seed: run} of one task's run files at one K (attributes only by default).

    Raises:
        InputError: no files, or two files with the same seed (naming both).
    """
    runs: dict[int, RunRecord] = {}
    for path in paths:
        run = read_run(path, arrays)
        if run.seed in runs:
            raise InputError(
                f"{path}: seed {run.seed} is also the seed of {runs[run.seed].path}; "
                "expected one run per seed"
            )
        runs[run.seed] = run
    if not runs:
        raise InputError("no run files given; expected at least one run job's output")
    return runs


def paths_by_k(paths: Iterable[str | os.PathLike]) -> dict[int, list[str | os.PathLike]]:
    """{K: the run files of that K} of a task's run files, by the K each records."""
    grouped: dict[int, list[str | os.PathLike]] = {}
    for path in paths:
        grouped.setdefault(read_run(path, arrays=()).num_classes, []).append(path)
    return grouped
