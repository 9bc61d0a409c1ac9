"""One HUME job: fit on the setting's samples, label the evaluation samples, score, save.

A HUME run is written as every method's run (formats/run.py): its task ``(phi1, phi2)``,
the task encoder theta as phi1's encoder (a HUME run labels from phi1 alone) and the outer
cross-entropy trace as the held-out fit.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import numpy as np

from hume_workflow.data.setting import setting_indices
from hume_workflow.errors import InputError
from hume_workflow.formats.embeddings import read_spaces
from hume_workflow.formats.io import read_h5
from hume_workflow.formats.run import RunRecord, write_run
from hume_workflow.hume.config import HumeConfig, ScoreConfig, config_dict
from hume_workflow.hume.score import Score, generalisation_score
from hume_workflow.hume.training import HumeResult, run_hume_many

log = logging.getLogger(__name__)


def execute_runs(
    phi1: np.ndarray,
    phi2: np.ndarray,
    split: np.ndarray,
    setting: str,
    config: HumeConfig,
    seeds: list[int],
    score: ScoreConfig | None = None,
    device: str = "cpu",
    progress: bool = True,
    spaces: tuple[str, str] = ("phi1", "phi2"),
) -> list[RunRecord]:
    """Run HUME once per seed on the setting's training samples (all seeds in one batch, see
    :func:`~hume_workflow.hume.training.run_hume_many`) and score the labeling each run gives them.

    The generalisation score is computed on the samples a run was fitted on (the training
    split when inductive, the pool when transductive), from phi2 and the run's hard labels.

    Args:
        phi1: (N, d1), phi2: (N, d2) features of the whole dataset, same sample order.
        split: (N,) 0 = train, 1 = test.
        score: how the generalisation score is fitted (folds, iterations, backend);
            None: the defaults.
        device: where HUME runs, e.g. "cpu" or "cuda"; the score too with the torch backend.
        spaces: the names of (phi1, phi2), recorded in the runs.
    """
    if not phi1.shape[0] == phi2.shape[0] == split.shape[0]:
        raise ValueError(
            f"sample counts differ: phi1 {phi1.shape[0]}, phi2 {phi2.shape[0]}, "
            f"split {split.shape[0]}"
        )
    score = score or ScoreConfig()
    fit_idx, eval_idx = setting_indices(split, setting)
    if len(fit_idx) < config.num_classes:
        raise InputError(
            f"config dataset.num_classes={config.num_classes}: expected at most the "
            f"{len(fit_idx)} samples HUME fits on ({setting} setting); lower "
            "dataset.num_classes or add images"
        )
    log.info("%s setting: fit on %d samples, label %d", setting, len(fit_idx), len(eval_idx))
    fit1, fit2 = phi1[fit_idx], phi2[fit_idx]  # copies: made once for all the runs
    results = run_hume_many(fit1, fit2, config, seeds, phi1[eval_idx], device, progress)
    records = []
    for seed, result in zip(seeds, results, strict=True):
        fit_labels = (fit1 @ result.theta.T).argmax(axis=1)  # the encoder's labels
        fitted = generalisation_score(
            fit2,
            fit_labels,
            score.n_folds,
            score.max_iter,
            backend=score.backend,
            device=device,
        )
        log.info(
            "seed %d: generalisation score %.4f (%d clusters used)",
            seed,
            fitted.score,
            fitted.n_clusters,
        )
        records.append(run_record(result, fitted, seed, setting, eval_idx, config, spaces))
    return records


def run_record(
    result: HumeResult,
    score: Score,
    seed: int,
    setting: str,
    eval_indices: np.ndarray,
    config: HumeConfig,
    spaces: tuple[str, str],
) -> RunRecord:
    """A HUME run as every method's run: theta (K, d1) is phi1's encoder."""
    return RunRecord(
        method="hume",
        spaces=tuple(spaces),
        seed=seed,
        setting=setting,
        **asdict(score),  # the score's fields are the record's
        wall_time_s=result.wall_time_s,
        hyperparameters=config_dict(config),
        labels=result.labels,
        eval_indices=eval_indices,
        confidence=result.confidence,
        encoders={spaces[0]: result.theta},
        trace=result.loss_trace,
    )


@dataclass(frozen=True)
class RunJob:
    """One run_hume job: its files and settings (the rule's inputs, outputs and params)."""

    data: str | os.PathLike  # data.h5 (the split)
    phi1: str | os.PathLike  # embedding file of phi1
    phi2: str | os.PathLike  # embedding file of phi2
    outputs: Sequence[str | os.PathLike]  # one run file per seed, in the order of ``seeds``
    seeds: Sequence[int]
    setting: str
    hume: HumeConfig
    score: ScoreConfig
    device: str
    spaces: tuple[str, str]  # the names of (phi1, phi2)
    provenance: dict  # recorded in every run file: the dataset's name


def run_job(job: RunJob, before_writing: Callable[[], None] | None = None) -> None:
    """Run a job's seeds and write one run file per seed (``before_writing``: a hook called
    once the runs are done, before any file is written; the fault-injection tests use it)."""
    if len(job.outputs) != len(job.seeds):
        raise ValueError(f"{len(job.outputs)} output files for {len(job.seeds)} seeds")
    phi1, phi2 = read_spaces(job.data, [job.phi1, job.phi2])
    split = read_h5(job.data, ["split"])[0]["split"]
    records = execute_runs(
        phi1,
        phi2,
        split,
        job.setting,
        job.hume,
        list(job.seeds),
        job.score,
        job.device,
        spaces=job.spaces,
    )
    if before_writing is not None:
        before_writing()
    for path, record in zip(job.outputs, records, strict=True):
        write_run(path, record, job.provenance)
