"""A pair's labels for downstream use: its vote per sample id, flagged reliable by agreement.

Rule ``export_labels`` turns a pair's ``vote.csv`` into its ``labels.csv`` (both files:
formats/votes.py): each voted sample named by data.h5's ``sample_ids`` (the image path
relative to ``dataset.root`` for image folders and ImageNet, ``<source>:<index>``
otherwise), ``reliable`` where its agreement is at least ``export.reliable_agreement`` and
its raw features are constant in none of the task's spaces (the embedding files'
``constant_rows``: such samples cannot be told apart, so their agreement says nothing). No
ground truth is read.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence

import numpy as np
import pandas as pd

from hume_workflow.errors import InputError
from hume_workflow.formats.dataset import read_sample_ids
from hume_workflow.formats.embeddings import read_constant_rows
from hume_workflow.formats.io import open_h5
from hume_workflow.formats.votes import read_vote

log = logging.getLogger(__name__)

#: The schema's default of ``export.reliable_agreement``, measured on the demo in
#: docs/algorithm.md ("Exported labels").
DEFAULT_RELIABLE_AGREEMENT = 0.9


def export_labels(
    vote_path: str | os.PathLike,
    data_path: str | os.PathLike,
    threshold: float,
    spaces: Sequence[str | os.PathLike] = (),
) -> pd.DataFrame:
    """The rows of ``labels.csv`` (formats/votes.py ``LABEL_COLUMNS``) for a pair's vote.

    Args:
        vote_path: the pair's ``vote.csv`` (``sample_index``, ``label``, ``agreement``).
        data_path: the dataset's data.h5, whose ``sample_ids`` name the samples; a data.h5
            written before it held them gives ``index:<i>`` (the row in data.h5), with one
            warning.
        threshold: a sample is ``reliable`` when its agreement is at least this, in [0, 1],
            and its raw features are constant in none of ``spaces``.
        spaces: the embedding files of the task's spaces, whose ``constant_rows`` are never
            reliable (formats/embeddings.py).

    Raises:
        InputError: a threshold outside [0, 1], a vote file without its columns, or sample
            indices (of the vote, or a space's constant rows) outside data.h5's samples (one
            line naming the file).
    """
    if not 0 <= threshold <= 1:
        raise InputError(
            f"config export.reliable_agreement={threshold}: expected a fraction in [0, 1]"
        )
    votes = read_vote(vote_path)
    with open_h5(data_path) as f:
        if "labels" not in f:
            raise InputError(f"{data_path}: no 'labels' in the file; expected a data.h5")
        n_samples = len(f["labels"])
    index = votes["sample_index"].to_numpy()
    if len(index) and not 0 <= index.min() <= index.max() < n_samples:
        raise InputError(
            f"{vote_path}: sample_index spans {index.min()}..{index.max()}; expected indices "
            f"into the {n_samples} samples of {data_path} (a vote of another dataset?)"
        )
    ids = read_sample_ids(data_path)
    if ids is None:
        log.warning(
            "%s holds no sample_ids (made before data.h5 stored them): samples are named "
            "index:<i>, their row in data.h5; a data.h5 prepared anew names them as the dataset",
            data_path,
        )
        ids = [f"index:{i}" for i in range(n_samples)]
    elif len(ids) != n_samples:
        raise InputError(
            f"{data_path}: {len(ids)} sample_ids for {n_samples} samples; expected one per sample"
        )
    constant = np.zeros(n_samples, dtype=bool)
    for path in spaces:
        constant[read_constant_rows(path, n_samples)] = True
    agreement = votes["agreement"].to_numpy(dtype=np.float64)
    agreed = agreement >= threshold
    reliable = agreed & ~constant[index]
    table = pd.DataFrame(
        {
            "sample_id": [ids[i] for i in index],
            "label": votes["label"].to_numpy(),
            "agreement": agreement,
            "reliable": reliable,
        }
    )
    log.info(
        "%d labels, %d reliable (agreement >= %s, %.1f%%); %d left unreliable for constant "
        "raw features in a space (the embedding files' constant_rows)",
        len(table),
        reliable.sum(),
        threshold,
        100 * reliable.mean() if len(table) else 0.0,
        int((agreed & ~reliable).sum()),
    )
    return table
