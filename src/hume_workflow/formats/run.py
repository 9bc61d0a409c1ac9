"""The run file: one HUME run's labels, encoder, score and provenance."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from hume_workflow.formats.io import package_versions, read_h5, write_h5

if TYPE_CHECKING:
    from hume_workflow.hume.score import Score
    from hume_workflow.hume.training import HumeResult


@dataclass
class RunRecord:
    """A finished run: its result, its score and where it came from."""

    seed: int
    setting: str
    eval_indices: np.ndarray  # (n_eval,) indices into the dataset of the labelled samples
    result: HumeResult
    score: Score


def save_run(path: str | os.PathLike, record: RunRecord, provenance: dict) -> None:
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
        "n_clusters": record.score.n_clusters,
        "min_cluster_size": record.score.min_cluster_size,
        "degenerate": record.score.degenerate,
        "wall_time_s": r.wall_time_s,
        "versions": package_versions(),
        **provenance,
    }
    write_h5(path, arrays, attrs)


def load_run(path: str | os.PathLike, with_traces: bool = False) -> tuple[dict, dict]:
    """(arrays, attrs) of a saved run; traces under ``arrays['trace']`` when asked for."""
    names = ["labels", "eval_indices", "confidence", "mean_soft_label"]
    arrays, attrs = read_h5(path, names + (["trace"] if with_traces else []))
    return arrays, attrs
