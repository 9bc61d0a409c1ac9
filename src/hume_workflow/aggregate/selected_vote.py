"""The vote of a task's selected runs: their run files read, aligned and voted (vote.csv's rows)."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable

import numpy as np
import pandas as pd

from hume_workflow.aggregate.alignment import majority_vote
from hume_workflow.aggregate.weights import run_weights
from hume_workflow.errors import InputError
from hume_workflow.formats.run import read_run, read_runs
from hume_workflow.formats.selection import Selection

log = logging.getLogger(__name__)


def vote_selected(
    selection: Selection, run_paths: Iterable[str | os.PathLike], num_classes: int
) -> pd.DataFrame:
    """Hungarian-aligned majority vote of the selected runs, aligned to the best-scoring one.

    ``run_paths`` are the task's run files (the rule's inputs); the selected ones are found
    by their seeds.

    Raises:
        InputError: a selected run file missing, truncated or not HDF5, labels outside
            [0, num_classes), or runs labelling different samples (one line naming the file).

    Returns:
        One row per labelled sample: ``sample_index`` (into the dataset), ``label`` and
        ``agreement``, the fraction of selected runs whose aligned label equals the vote.
    """
    paths = {seed: run.path for seed, run in read_runs(run_paths).items()}
    absent = sorted(set(selection.selected) - set(paths))
    if absent:
        raise InputError(f"selected seeds {absent} have no run file among the {len(paths)} given")
    labelings, indices, short, scored = [], None, [], []
    for seed in selection.selected:  # best first
        path = paths[seed]
        run = read_run(path)
        labels = run.labels
        if labels.size and not 0 <= labels.min() <= labels.max() < num_classes:
            raise InputError(
                f"{path}: labels span {labels.min()}..{labels.max()}; expected cluster ids in "
                f"[0, {num_classes}) (num_classes={num_classes})"
            )
        if indices is not None and not np.array_equal(indices, run.eval_indices):
            raise InputError(f"{path}: labels a different set of samples than the other runs")
        indices = run.eval_indices
        labelings.append(labels)
        scored.append((run.score, run.kappa))
        if (used := len(np.unique(labels))) < num_classes:
            short.append(f"seed {seed}: {used}")
    if selection.note:
        log.warning("selection: %s", selection.note)
    if short:
        log.info(
            "%d of %d voting runs use fewer than %d clusters on the labelled samples (%s)",
            len(short),
            len(labelings),
            num_classes,
            ", ".join(short),
        )
    scores, kappas = np.array(scored, dtype=np.float64).T
    weights = run_weights(scores, kappas, selection.weights)
    votes, agreement = majority_vote(np.stack(labelings), num_classes, weights)
    log.info(
        "vote of %d runs (top_n=%s, weights %s): mean agreement %.3f",
        len(labelings),
        selection.top_n,
        selection.weights,
        agreement.mean(),
    )
    return pd.DataFrame({"sample_index": indices, "label": votes, "agreement": agreement})
