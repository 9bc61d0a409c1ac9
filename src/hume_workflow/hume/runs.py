"""One HUME job: fit on the setting's samples, label the evaluation samples, score, save."""

from __future__ import annotations

import logging

import numpy as np

from hume_workflow.errors import InputError
from hume_workflow.formats.dataset import setting_indices
from hume_workflow.formats.run import RunRecord
from hume_workflow.hume.config import HumeConfig
from hume_workflow.hume.score import generalisation_score
from hume_workflow.hume.training import run_hume_many

log = logging.getLogger(__name__)


def execute_runs(
    phi1: np.ndarray,
    phi2: np.ndarray,
    split: np.ndarray,
    setting: str,
    config: HumeConfig,
    seeds: list[int],
    score_folds: int = 10,
    score_max_iter: int = 100,
    device: str = "cpu",
    progress: bool = True,
    score_backend: str = "sklearn",
) -> list[RunRecord]:
    """Run HUME once per seed on the setting's training samples (all seeds in one batch, see
    :func:`~hume_workflow.hume.training.run_hume_many`) and score the labeling each run gives them.

    The generalisation score is computed on the samples a run was fitted on (the training
    split when inductive, the pool when transductive), from phi2 and the run's hard labels.

    Args:
        phi1: (N, d1), phi2: (N, d2) features of the whole dataset, same sample order.
        split: (N,) 0 = train, 1 = test.
        device: where HUME runs, e.g. "cpu" or "cuda"; the score too with the torch backend.
        score_backend: "sklearn" or "torch" (see :func:`generalisation_score`).
    """
    if not phi1.shape[0] == phi2.shape[0] == split.shape[0]:
        raise ValueError(
            f"sample counts differ: phi1 {phi1.shape[0]}, phi2 {phi2.shape[0]}, "
            f"split {split.shape[0]}"
        )
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
        score = generalisation_score(
            fit2,
            fit_labels,
            score_folds,
            score_max_iter,
            backend=score_backend,
            device=device,
        )
        log.info(
            "seed %d: generalisation score %.4f (%d clusters used)",
            seed,
            score.score,
            score.n_clusters,
        )
        records.append(RunRecord(seed, setting, eval_idx, result, score))
    return records
