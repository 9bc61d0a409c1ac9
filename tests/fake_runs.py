"""Runs for the tests of what reads them: run files written by the one writer,
formats/run.py, and the samples a run labels."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hume_workflow.formats.run import RunRecord, write_run


def fake_run(
    seed: int,
    labels: np.ndarray,
    score: float,
    *,
    kappa: float | None = None,
    eval_indices: np.ndarray | None = None,
    setting: str = "transductive",
    spaces: tuple[str, ...] = ("a", "b"),
    num_classes: int | None = None,
    encoders: dict[str, np.ndarray] | None = None,
    trace: dict[str, np.ndarray] | None = None,
    method: str = "hume",
) -> RunRecord:
    """A run of ``method`` (default HUME) on ``spaces`` labelling ``eval_indices`` (default
    0..n-1) with ``labels`` (n,); degenerate when fewer than two clusters are used; K =
    ``num_classes`` (default: labels' max + 1)."""
    labels = np.asarray(labels, np.int64)
    sizes = np.unique(labels, return_counts=True)[1]
    k = num_classes if num_classes is not None else int(labels.max(initial=0)) + 1
    return RunRecord(
        method=method,
        spaces=tuple(spaces),
        seed=seed,
        setting=setting,
        score=score,
        kappa=kappa,
        n_clusters=len(sizes),
        min_cluster_size=int(sizes.min(initial=0)),
        degenerate=bool(len(sizes) < 2),
        wall_time_s=1.0,
        hyperparameters={"num_classes": k},
        labels=labels,
        eval_indices=np.arange(len(labels)) if eval_indices is None else eval_indices,
        confidence=np.ones(len(labels), np.float32),
        encoders=encoders or {},
        trace=trace or {},
    )


def write_fake_run(path: Path, *args, **kwargs) -> Path:
    """:func:`fake_run` written to ``path``; returns ``path``."""
    write_run(path, fake_run(*args, **kwargs), {"dataset": "test"})
    return path


def blobs(n: int = 300, k: int = 3, d: int = 5, sep: float = 4.0, seed: int = 0):
    """(n, d) Gaussian blobs around k random centres scaled by ``sep``, and their labels."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    return rng.normal(size=(k, d))[y] * sep + rng.normal(size=(n, d)), y
