"""New images labelled by a finished pair, from their embeddings (rule predict_batch).

A backbone with ``pca_dim`` has projected them with the dataset's PCA
(:func:`hume_workflow.embed.pca.read_pca`); the two ways to label them are in
:mod:`.assign`.
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd

from hume_workflow.aggregate.export import read_vote
from hume_workflow.errors import InputError
from hume_workflow.formats.dataset import read_sample_ids
from hume_workflow.formats.embeddings import read_spaces
from hume_workflow.formats.k_choice import read_k_choice
from hume_workflow.formats.run import paths_by_k, read_runs
from hume_workflow.formats.selection import read_selection
from hume_workflow.hume.config import check_choice
from hume_workflow.predict.assign import PREDICT_METHODS, encoder_labels, probe_labels


def label_batch(
    data: str | os.PathLike,
    phi2_path: str | os.PathLike,
    batch: str | os.PathLike,
    batch_spaces: tuple[str | os.PathLike, str | os.PathLike],
    choice: str | os.PathLike,
    vote: str | os.PathLike,
    selections: dict[int, str | os.PathLike],
    run_paths: list[str | os.PathLike],
    method: str,
) -> pd.DataFrame:
    """The labels of a batch's images by a finished pair: one row per image, ``sample_id``
    (its path under the batch folder), ``label`` (in the vote's ids) and ``confidence``.

    Args:
        data, phi2_path: the dataset's data.h5 and its phi2 embedding file.
        batch, batch_spaces: the batch's data.h5 and its (phi1, phi2) embedding files.
        choice, vote: the pair's k_choice.json and vote.csv (the chosen K's vote).
        selections, run_paths: K -> that K's selection.json, and the pair's run files (the
            chosen K's voting runs give their task encoders, for ``encoders``).
        method: ``probe`` or ``encoders`` (:mod:`hume_workflow.predict.assign`).
    """
    check_choice("predict.method", method, PREDICT_METHODS)
    k = read_k_choice(choice).chosen_k
    votes = read_vote(vote)
    [phi2] = read_spaces(data, [phi2_path])
    new_phi1, new_phi2 = read_spaces(batch, list(batch_spaces))
    index, voted = votes.sample_index.to_numpy(), votes.label.to_numpy()
    if method == "probe":
        labels, confidence = probe_labels(phi2[index], voted, new_phi2)
    else:
        runs = read_runs(paths_by_k(run_paths)[k], arrays=("labels", "eval_indices", "theta"))
        seeds = read_selection(selections[k]).selected
        for seed in seeds:
            if not np.array_equal(runs[seed].eval_indices, index):
                raise InputError(f"{runs[seed].path}: labels other samples than {vote}")
        thetas = [runs[seed].theta for seed in seeds]
        labels, confidence = encoder_labels(
            thetas, [runs[seed].labels for seed in seeds], voted, new_phi1, k
        )
    ids = read_sample_ids(batch) or [f"index:{i}" for i in range(len(labels))]
    return pd.DataFrame({"sample_id": ids, "label": labels, "confidence": confidence})
