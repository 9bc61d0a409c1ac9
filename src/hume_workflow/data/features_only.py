"""A dataset without images: its samples are the rows of the user's feature files.

``dataset.source: features_only``: N and the split come from the feature files
(``dataset.features``: one file per split, or one file split with ``test_fraction``), the
labels, when known, from ``dataset.labels`` in the same layout. The features themselves are
read by the precomputed backbones (embed/precomputed.py); here only their headers.
"""

from __future__ import annotations

import logging
import os

import numpy as np

from hume_workflow.data.feature_config import (
    FeatureFiles,
    dataset_label_files,
    label_classes,
    read_label_files,
)
from hume_workflow.data.sample_ids import SPLIT_PARTS, WHOLE, part_ids
from hume_workflow.data.subsets import random_split
from hume_workflow.formats.dataset import UNLABELLED, ImageDataset
from hume_workflow.formats.feature_files import DEFAULT_KEY

logger = logging.getLogger(__name__)

PathLike = str | os.PathLike


def load_features_only(
    features: PathLike | dict[str, PathLike] | None,
    labels: PathLike | dict[str, PathLike] | None = None,
    features_key: str = DEFAULT_KEY,
    test_fraction: float = 0.2,
    split_seed: int = 0,
) -> ImageDataset:
    """The samples of feature files, without images (``images`` None).

    Sample ids are ``<part>:<row>`` (``train:0``, ``test:12``; ``all:7`` for one file), the
    rows in the files' order, train before test. Labels are the distinct values >= 0 of the
    labels files, as class ids 0..C-1 in increasing order (their values are the class
    names); -1 is unknown.

    Raises:
        InputError: one line naming the file or key (data/feature_config.py).
    """
    dataset = {"features": features, "labels": labels, "features_key": features_key}
    files = FeatureFiles.from_dataset(dataset)
    rows, dim = files.headers()
    n = sum(rows.values())
    label_files = dataset_label_files(dataset, files)
    if label_files is None:
        codes, class_names = np.full(n, UNLABELLED, np.int64), []
    else:
        codes, class_names = label_classes(read_label_files(label_files, rows))
    if WHOLE in rows:
        split = random_split(n, test_fraction, split_seed)
    else:
        split = np.concatenate([np.full(rows[p], SPLIT_PARTS[p], np.uint8) for p in rows])
    ids = [sample_id for part, count in rows.items() for sample_id in part_ids(part, count)]
    logger.info(
        "features_only: %d samples (%s) of %d features, %d classes",
        n,
        ", ".join(f"{part} {count}" for part, count in rows.items()),
        dim,
        len(class_names),
    )
    return ImageDataset("features", None, codes, split, class_names, sample_ids=ids)
