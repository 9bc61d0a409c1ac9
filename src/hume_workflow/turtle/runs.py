"""One TURTLE job: fit on the setting's samples, label the evaluation samples, score, save.

A TURTLE run is written as every method's run (formats/run.py): its task (one or more
spaces), one head per space as that space's encoder and bias, and the loss parts per
iteration as its trace (``cross_entropy``: the inner classifiers' cross-entropy, the mean
over the spaces). Its generalisation score is the mean over the task's spaces of the workflow's
score of its labels in that space (the reference's cross-validation does the same).
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
from hume_workflow.hume.config import ScoreConfig
from hume_workflow.hume.score import Score, generalisation_score
from hume_workflow.turtle.config import TurtleConfig, turtle_config_dict
from hume_workflow.turtle.training import TurtleResult, run_turtle_many

log = logging.getLogger(__name__)


def execute_runs(
    spaces: Sequence[np.ndarray],
    split: np.ndarray,
    setting: str,
    config: TurtleConfig,
    seeds: list[int],
    names: Sequence[str],
    score: ScoreConfig | None = None,
    device: str = "cpu",
    progress: bool = True,
) -> list[RunRecord]:
    """Run TURTLE once per seed on the setting's training samples and score each run.

    Args:
        spaces: per space of the task, (N, d_k) features of the whole dataset, same order.
        split: (N,) 0 = train, 1 = test.
        names: the spaces' names, recorded in the runs.
        score: how the generalisation score is fitted; None: the defaults.
        device: where TURTLE runs, e.g. "cpu" or "cuda"; the score too with the torch backend.
    """
    sizes = {name: x.shape[0] for name, x in zip(names, spaces, strict=True)}
    if len(set(sizes.values()) | {split.shape[0]}) > 1:
        raise ValueError(f"sample counts differ: {sizes}, split {split.shape[0]}")
    score = score or ScoreConfig()
    fit_idx, eval_idx = setting_indices(split, setting)
    if len(fit_idx) < config.num_classes:
        raise InputError(
            f"config dataset.num_classes={config.num_classes}: expected at most the "
            f"{len(fit_idx)} samples TURTLE fits on ({setting} setting); lower "
            "dataset.num_classes or add images"
        )
    log.info("%s setting: fit on %d samples, label %d", setting, len(fit_idx), len(eval_idx))
    fits = [x[fit_idx] for x in spaces]  # copies: made once for all the runs
    evals = fits if np.array_equal(fit_idx, eval_idx) else [x[eval_idx] for x in spaces]
    results = run_turtle_many(fits, config, seeds, evals, device, progress)
    records = []
    for seed, result in zip(seeds, results, strict=True):
        scores = [
            generalisation_score(
                fit,
                result.fit_labels,
                score.n_folds,
                score.max_iter,
                backend=score.backend,
                device=device,
            )
            for fit in fits
        ]
        fitted = mean_score(scores)
        log.info(
            "seed %d: generalisation score %.4f (mean of %s; %d clusters used)",
            seed,
            fitted.score,
            ", ".join(f"{name} {s.score:.4f}" for name, s in zip(names, scores, strict=True)),
            fitted.n_clusters,
        )
        records.append(run_record(result, fitted, seed, setting, eval_idx, config, names))
    return records


def mean_score(scores: Sequence[Score]) -> Score:
    """One labeling's score over several spaces: the mean accuracy and kappa; the cluster
    counts, which depend on the labels alone, of the first."""
    first = scores[0]
    return Score(
        score=float(np.mean([s.score for s in scores])),
        kappa=float(np.mean([s.kappa for s in scores])),
        n_clusters=first.n_clusters,
        min_cluster_size=first.min_cluster_size,
        degenerate=first.degenerate,
    )


def run_record(
    result: TurtleResult,
    score: Score,
    seed: int,
    setting: str,
    eval_indices: np.ndarray,
    config: TurtleConfig,
    names: Sequence[str],
) -> RunRecord:
    """A TURTLE run as every method's run: each space's head is its encoder and bias."""
    return RunRecord(
        method="turtle",
        spaces=tuple(names),
        seed=seed,
        setting=setting,
        **asdict(score),  # the score's fields are the record's
        wall_time_s=result.wall_time_s,
        hyperparameters=turtle_config_dict(config),
        labels=result.labels,
        eval_indices=eval_indices,
        confidence=result.confidence,
        encoders=dict(zip(names, result.weights, strict=True)),
        biases=dict(zip(names, result.biases, strict=True)),
        trace=result.loss_trace,
    )


@dataclass(frozen=True)
class TurtleJob:
    """One run_turtle job: its files and settings (the rule's inputs, outputs and params)."""

    data: str | os.PathLike  # data.h5 (the split)
    spaces: Sequence[str | os.PathLike]  # the embedding file of each space of the task
    names: Sequence[str]  # the spaces' names, same order
    outputs: Sequence[str | os.PathLike]  # one run file per seed, in the order of ``seeds``
    seeds: Sequence[int]
    setting: str
    turtle: TurtleConfig
    score: ScoreConfig
    device: str
    provenance: dict  # recorded in every run file: the dataset's name


def run_job(job: TurtleJob, before_writing: Callable[[], None] | None = None) -> None:
    """Run a job's seeds and write one run file per seed (``before_writing``: called once the
    runs are done, before any file is written; the fault-injection tests use it)."""
    if len(job.outputs) != len(job.seeds):
        raise ValueError(f"{len(job.outputs)} output files for {len(job.seeds)} seeds")
    spaces = read_spaces(job.data, list(job.spaces))
    split = read_h5(job.data, ["split"])[0]["split"]
    records = execute_runs(
        spaces,
        split,
        job.setting,
        job.turtle,
        list(job.seeds),
        job.names,
        job.score,
        job.device,
    )
    if before_writing is not None:
        before_writing()
    for path, record in zip(job.outputs, records, strict=True):
        write_run(path, record, job.provenance)
