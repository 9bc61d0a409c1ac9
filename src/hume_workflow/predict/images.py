"""A batch of new images, decoded to the dataset's image format.

The batch is a folder of images (flat, or in sub-folders). It is decoded to (S, S, C) uint8
with S and C from data.h5 (greyscale when the dataset is), so that the pair's backbones see
new images as they saw the dataset's (:mod:`hume_workflow.predict.labelling` labels them).
An image that cannot be decoded fails the batch, or, with the batch's own
``predict.batches.<name>.skip_bad_images``, is logged and gets no prediction.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from hume_workflow.data.images import decode_image
from hume_workflow.errors import InputError
from hume_workflow.formats.dataset import TEST, ImageDataset
from hume_workflow.formats.io import open_h5
from hume_workflow.plan.batch_features import batch_key
from hume_workflow.plan.batches import scan_batch_folder

log = logging.getLogger(__name__)
LUMA = np.array([0.299, 0.587, 0.114])  # ITU-R BT.601, as Pillow's convert("L")


def prepare_batch(
    root: str | os.PathLike,
    dataset_path: str | os.PathLike,
    name: str | None = None,
    skip_bad_images: bool = False,
) -> ImageDataset:
    """The images under ``root`` as (M, S, S, C) uint8 in the format of data.h5's images.

    Sample ids are the image paths relative to ``root``; every sample is in the test split.
    ``name``: the batch's name in the config (default: the folder's), named in messages.
    ``skip_bad_images`` (``predict.batches.<name>.skip_bad_images``): images that cannot be
    decoded are logged and left out, instead of failing on the first.

    Raises:
        InputError: one line naming ``predict.batches.<name>``: ``root`` missing or without
            images (:func:`~hume_workflow.plan.batches.scan_batch_folder`), an image that
            cannot be decoded (not skipping), or none that can (skipping).
    """
    name = name or Path(root).name
    with open_h5(dataset_path) as f:
        if "images" not in f or f["images"].ndim != 4 or f["images"].shape[0] == 0:
            raise InputError(f"{dataset_path}: no images; expected a dataset of images")
        _, side, width, channels = f["images"].shape
    if side != width:
        raise InputError(f"{dataset_path}: images of {side}x{width}; expected square images")
    batch = scan_batch_folder(name, root)
    kept, decoded = _decode(name, Path(root), batch.sample_ids, side, skip_bad_images)
    images = np.stack(decoded)  # (M, S, S, 3)
    if channels == 1:
        images = np.rint(images @ LUMA).clip(0, 255).astype(np.uint8)[..., None]
    log.info("batch %s: %d images as %s", root, len(images), images.shape[1:])
    return ImageDataset(
        name=Path(root).name,
        images=images,
        labels=batch.labels[kept],
        split=np.full(len(images), TEST, np.uint8),
        class_names=batch.class_names,
        sample_ids=[batch.sample_ids[i] for i in kept],
    )


def _decode(
    name: str, root: Path, paths: list[str], side: int, skip_bad_images: bool
) -> tuple[list[int], list[np.ndarray]]:
    """(the indices decoded, their (S, S, 3) images) of the images at ``paths`` under
    ``root``; undecodable ones are logged and skipped with ``skip_bad_images``."""
    kept, decoded, skipped = [], [], []
    for i, path in enumerate(paths):
        try:
            decoded.append(decode_image(root / path, side))
        except InputError as error:
            reason = str(error.__cause__ or error)
            if not skip_bad_images:
                raise InputError(
                    f"{root / path}: cannot decode the image ({reason}); fix or remove it, or "
                    f"set predict.batches.{name}.skip_bad_images: true to leave it out of the "
                    "batch's predictions"
                ) from error
            log.warning("%s: cannot decode the image (%s); skipped", root / path, reason)
            skipped.append(path)
            continue
        kept.append(i)
    if skipped and not kept:
        raise InputError(
            f"{batch_key(name)}.root={str(root)!r}: none of the {len(paths)} images can be "
            f"decoded (first: {skipped[0]}); expected images PIL can decode"
        )
    if skipped:
        log.warning(
            "batch %s: skipped %d undecodable images (first: %s); they get no prediction",
            name,
            len(skipped),
            skipped[0],
        )
    return kept, decoded
