"""How the dataset's samples are named, and how rows of feature files are matched to them.

data.h5 names each sample (its ``sample_ids``): the image path relative to ``dataset.root``
for image folders and ImageNet, ``<source>:<index>`` for the in-memory sources
(:func:`array_sample_ids`), ``<part>:<row>`` for the rows of feature files known only by their
place (:func:`part_ids`): ``train:0``, ``test:41``, or ``all:7`` for one file of every sample.
The rows of the user's feature files are matched to the samples by these ids
(:func:`align_rows`). Torch-free: the planner reads it.
"""

from __future__ import annotations

import numpy as np

from hume_workflow.errors import InputError
from hume_workflow.formats.dataset import TEST, TRAIN

#: Per-split files: the part names a config uses and the split each holds.
SPLIT_PARTS = {"train": TRAIN, "test": TEST}
#: The part name of one file holding every sample.
WHOLE = "all"
#: How data.h5 names its samples, by source: what an ids file must hold.
ID_FORMS = (
    "image paths relative to dataset.root for image_folder and imagenet, '<part>:<row>' for "
    "features_only, '<source>:<index>' for the other sources (e.g. 'cifar10:50001')"
)


def array_sample_ids(source: str, n: int) -> list[str]:
    """Identities ``<source>:<index>`` of the n samples of an in-memory source, in its order."""
    return [f"{source}:{i}" for i in range(n)]


def part_ids(part: str, rows: int) -> list[str]:
    """Ids of the rows of a part known only by their place: ``<part>:<row>``."""
    return [f"{part}:{row}" for row in range(rows)]


def align_rows(
    row_ids: list[str],
    row_split: np.ndarray,
    sample_ids: list[str],
    split: np.ndarray,
    where: str,
) -> np.ndarray:
    """(N,) index of each dataset sample's row, by id; rows no sample names are left out.

    Args:
        row_ids, row_split: the rows' ids and the split of each row's file (-1: any).
        sample_ids, split: data.h5's samples, in order, and their split.
        where: what names the rows (ids files, or the feature files), for messages.

    Raises:
        InputError: a sample without a row (names the first, and how the rows are named),
            or a sample in one split whose row is in the other split's file.
    """
    index = {sample_id: row for row, sample_id in enumerate(row_ids)}
    rows = np.fromiter((index.get(s, -1) for s in sample_ids), np.int64, len(sample_ids))
    missing = np.flatnonzero(rows < 0)
    if missing.size:
        first = sample_ids[missing[0]]
        given = f"the rows' ids begin {row_ids[0]!r}" if row_ids else "there are no rows"
        raise InputError(
            f"{where}: {missing.size} of the dataset's {len(sample_ids)} samples have no row, "
            f"e.g. {first!r} ({given}); expected an id per sample as data.h5 names them: "
            f"{ID_FORMS}"
        )
    file_split = row_split[rows]
    wrong = np.flatnonzero((file_split >= 0) & (file_split != split))
    if wrong.size:
        i = int(wrong[0])
        names = {code: part for part, code in SPLIT_PARTS.items()}
        raise InputError(
            f"{where}: {wrong.size} samples are in the other split's file, e.g. "
            f"{sample_ids[i]!r}, a {names[int(split[i])]} sample of the dataset in the "
            f"{names[int(file_split[i])]} file; expected each sample in its split's file"
        )
    return rows
