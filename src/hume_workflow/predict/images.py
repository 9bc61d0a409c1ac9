"""A batch of new images, decoded to the dataset's image format.

The batch is a folder of images (flat, or in sub-folders). It is decoded to (S, S, C) uint8
with S and C from data.h5 (greyscale when the dataset is), so that the pair's backbones see
new images as they saw the dataset's (:mod:`hume_workflow.predict.labelling` labels them).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from hume_workflow.data.folders import load_image_folder
from hume_workflow.errors import InputError
from hume_workflow.formats.dataset import TEST, ImageDataset
from hume_workflow.formats.io import open_h5

log = logging.getLogger(__name__)
LUMA = np.array([0.299, 0.587, 0.114])  # ITU-R BT.601, as Pillow's convert("L")


def prepare_batch(root: str | os.PathLike, dataset_path: str | os.PathLike) -> ImageDataset:
    """The images under ``root`` as (M, S, S, C) uint8 in the format of data.h5's images.

    Sample ids are the image paths relative to ``root``; every sample is in the test split.

    Raises:
        InputError: ``root`` missing or without images (one line naming it).
    """
    with open_h5(dataset_path) as f:
        if "images" not in f or f["images"].ndim != 4 or f["images"].shape[0] == 0:
            raise InputError(f"{dataset_path}: no images; expected a dataset of images")
        _, side, width, channels = f["images"].shape
    if side != width:
        raise InputError(f"{dataset_path}: images of {side}x{width}; expected square images")
    batch = load_image_folder(root, image_size=side)
    images = batch.images.read(0, len(batch.labels))  # (M, S, S, 3)
    if channels == 1:
        images = np.rint(images @ LUMA).clip(0, 255).astype(np.uint8)[..., None]
    log.info("batch %s: %d images as %s", root, len(images), images.shape[1:])
    return ImageDataset(
        name=Path(root).name,
        images=images,
        labels=batch.labels,
        split=np.full(len(images), TEST, np.uint8),
        class_names=batch.class_names,
        sample_ids=batch.sample_ids,
    )
