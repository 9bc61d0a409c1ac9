"""One entry point from a source name (or a config's ``dataset``) to an ImageDataset."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import TYPE_CHECKING

from hume_workflow.data.features import load_features_only
from hume_workflow.data.folders import load_image_folder, load_imagenet
from hume_workflow.data.idx import load_fashion_mnist, load_mnist
from hume_workflow.data.images import ImageFiles
from hume_workflow.data.torchvision_sets import load_cifar10, load_cifar100_20, load_stl10
from hume_workflow.errors import InputError, did_you_mean
from hume_workflow.formats.dataset import (
    ImageDataset,
    load_sklearn_digits,
    subsample,
)
from hume_workflow.plan.dataset import SOURCES, DatasetSource

if TYPE_CHECKING:
    pass

logger = logging.getLogger(__name__)


def prepare_dataset(
    source: str,
    test_fraction: float = 0.2,
    split_seed: int = 0,
    max_samples: int | None = None,
    *,
    root: str | os.PathLike = "resources/datasets",
    download: bool = False,
    local_root: str | os.PathLike | None = None,
    image_size: int = 224,
    skip_bad_images: bool = False,
    features: str | os.PathLike | dict | None = None,
    labels: str | os.PathLike | dict | None = None,
    features_key: str | None = None,
) -> ImageDataset:
    """Load a dataset by source name, optionally subsampled (for tests and quick demos).

    root: where torchvision sets are (downloaded, when ``download``), or the ImageNet/image
    folder; local_root: raw idx files for mnist/fashion_mnist (offline); image_size: square
    size of imagenet/image_folder images (shorter side resized, then center crop);
    skip_bad_images: imagenet/image_folder only, undecodable images are dropped when the
    dataset is written (see :meth:`ImageFiles.write_to`) instead of failing;
    features, labels, features_key: features_only only, its files (data/features.py).
    """
    if source not in SOURCES:
        raise InputError(
            f"dataset source {source!r} (dataset.source): expected one of {sorted(SOURCES)}"
            f"{did_you_mean(source, list(SOURCES))}"
        )
    loaders: dict[DatasetSource, Callable[[], ImageDataset]] = {  # one per SOURCES
        "sklearn_digits": lambda: load_sklearn_digits(test_fraction, split_seed),
        "cifar10": lambda: load_cifar10(root, download),
        "cifar100_20": lambda: load_cifar100_20(root, download),
        "stl10": lambda: load_stl10(root, download),
        "mnist": lambda: load_mnist(root, download, local_root),
        "fashion_mnist": lambda: load_fashion_mnist(root, download, local_root),
        "imagenet": lambda: load_imagenet(root, image_size, skip_bad_images),
        "image_folder": lambda: load_image_folder(
            root, image_size, test_fraction, split_seed, skip_bad_images
        ),
        "features_only": lambda: load_features_only(
            features, labels, features_key or "features", test_fraction, split_seed
        ),
    }
    dataset = loaders[source]()
    shape = "no images" if dataset.images is None else f"shape {dataset.images.shape}"
    logger.info("%s: %d samples, %s", source, len(dataset.labels), shape)
    return subsample(dataset, max_samples, split_seed)


def prepare_configured(dataset: dict) -> ImageDataset:
    """:func:`prepare_dataset` for a config's (defaults-filled) ``dataset`` section.

    The data stage writes what it returns; the plan-time checks count it (for image folders
    nothing is decoded until it is written).
    """
    return prepare_dataset(
        dataset["source"],
        test_fraction=dataset["test_fraction"],
        split_seed=dataset["split_seed"],
        max_samples=dataset["max_samples"],
        root=dataset["root"],
        download=dataset["download"],
        local_root=dataset["local_root"],
        image_size=dataset["image_size"],
        skip_bad_images=dataset["skip_bad_images"],
        features=dataset.get("features"),
        labels=dataset.get("labels"),
        features_key=dataset.get("features_key"),
    )


def declare_num_classes(dataset: ImageDataset, num_classes: int | list | dict, source: str) -> None:
    """Give unlabelled images the config's K; check it against a labelled dataset's classes.
    A sweep over several K (a list or a range) declares and checks nothing.

    Raises:
        InputError: ``num_classes`` (config ``dataset.num_classes``) differs from the number
            of classes (for imagenet/image_folder: of class sub-folders) the dataset has.
    """
    if not isinstance(num_classes, int):
        return
    if not dataset.class_names:  # unlabelled images (a flat image_folder): K from the config
        dataset.declared_num_classes = num_classes
        return
    found = len(dataset.class_names)
    if found == num_classes:
        return
    shown = ", ".join(dataset.class_names[:5]) + (", ..." if found > 5 else "")
    if isinstance(dataset.images, ImageFiles):
        where = f"dataset.root={dataset.images.root} has {found} class sub-folders ({shown})"
        fix = f"set dataset.num_classes: {found}, or give each class its own sub-folder"
    else:
        where = f"dataset source {source!r} has {found} classes"
        fix = f"set dataset.num_classes: {found}"
    raise InputError(f"config dataset.num_classes={num_classes} but {where}; {fix}")
