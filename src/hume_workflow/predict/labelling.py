"""New images labelled by a finished task, from their embeddings (rule predict_batch).

A backbone with ``pca_dim`` has projected them with the dataset's PCA
(:func:`hume_workflow.formats.embeddings.read_pca`); the two ways to label them are in
:mod:`.assign`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import numpy as np
import pandas as pd

from hume_workflow.choices import check_choice
from hume_workflow.errors import InputError
from hume_workflow.formats.dataset import read_sample_ids
from hume_workflow.formats.embeddings import read_spaces
from hume_workflow.formats.k_choice import read_k_choice
from hume_workflow.formats.run import paths_by_k, read_runs
from hume_workflow.formats.selection import read_selection
from hume_workflow.formats.votes import read_vote
from hume_workflow.predict.assign import PREDICT_METHODS, encoder_labels, probe_labels


def label_batch(
    data: str | os.PathLike,
    probe_path: str | os.PathLike,
    batch: str | os.PathLike,
    batch_spaces: Mapping[str, str | os.PathLike],
    choice: str | os.PathLike,
    vote: str | os.PathLike,
    selections: dict[int, str | os.PathLike],
    run_paths: list[str | os.PathLike],
    method: str,
) -> pd.DataFrame:
    """The labels of a batch's images by a finished task: one row per image, ``sample_id``
    (its path under the batch folder), ``label`` (in the vote's ids) and ``confidence``.

    Args:
        data, probe_path: the dataset's data.h5 and the embedding file of the task's last
            space (HUME: phi2).
        batch, batch_spaces: the batch's data.h5 and {space: its embedding file} of the
            task's spaces, in the method's order.
        choice, vote: the task's k_choice.json and vote.csv (the chosen K's vote).
        selections, run_paths: K -> that K's selection.json, and the task's run files (the
            chosen K's voting runs give their encoders, for ``encoders``).
        method: ``probe`` or ``encoders`` (:mod:`hume_workflow.predict.assign`).
    """
    check_choice("predict.method", method, PREDICT_METHODS)
    k = read_k_choice(choice).chosen_k
    votes = read_vote(vote)
    [probe] = read_spaces(data, [probe_path])
    new = dict(zip(batch_spaces, read_spaces(batch, list(batch_spaces.values())), strict=True))
    index, voted = votes.sample_index.to_numpy(), votes.label.to_numpy()
    if method == "probe":
        labels, confidence = probe_labels(probe[index], voted, new[list(batch_spaces)[-1]])
    else:
        runs = read_runs(
            paths_by_k(run_paths)[k], arrays=("labels", "eval_indices", "encoder", "bias")
        )
        seeds = read_selection(selections[k]).selected
        for seed in seeds:
            if not np.array_equal(runs[seed].eval_indices, index):
                raise InputError(f"{runs[seed].path}: labels other samples than {vote}")
        labels, confidence = encoder_labels(
            [runs[seed].encoders for seed in seeds],
            [runs[seed].labels for seed in seeds],
            voted,
            new,
            k,
            [runs[seed].biases for seed in seeds],
        )
    ids = read_sample_ids(batch) or [f"index:{i}" for i in range(len(labels))]
    return pd.DataFrame({"sample_id": ids, "label": labels, "confidence": confidence})
