"""One entry point from a source name (or a config's ``dataset``) to an ImageDataset.

``LOADERS`` holds one loader per dataset source, keyed by the names of data/sources.py's
``SOURCES`` (tests/unit/test_sources.py holds the two together).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass

from hume_workflow.data.digits import load_sklearn_digits
from hume_workflow.data.features_only import load_features_only
from hume_workflow.data.folders import load_image_folder, load_imagenet
from hume_workflow.data.idx import load_fashion_mnist, load_mnist
from hume_workflow.data.sources import SOURCES
from hume_workflow.data.subsets import subsample
from hume_workflow.data.torchvision_sets import load_cifar10, load_cifar100_20, load_stl10
from hume_workflow.errors import InputError, did_you_mean
from hume_workflow.formats.dataset import ImageDataset

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoadOptions:
    """The options of :func:`prepare_dataset` that its loaders read (see there)."""

    test_fraction: float
    split_seed: int
    root: str | os.PathLike
    download: bool
    local_root: str | os.PathLike | None
    image_size: int
    skip_bad_images: bool
    features: str | os.PathLike | dict | None
    labels: str | os.PathLike | dict | None
    features_key: str | None


#: The loader of each dataset source, by its name in ``SOURCES``.
LOADERS: dict[str, Callable[[LoadOptions], ImageDataset]] = {
    "sklearn_digits": lambda o: load_sklearn_digits(o.test_fraction, o.split_seed),
    "cifar10": lambda o: load_cifar10(o.root, o.download),
    "cifar100_20": lambda o: load_cifar100_20(o.root, o.download),
    "stl10": lambda o: load_stl10(o.root, o.download),
    "mnist": lambda o: load_mnist(o.root, o.download, o.local_root),
    "fashion_mnist": lambda o: load_fashion_mnist(o.root, o.download, o.local_root),
    "imagenet": lambda o: load_imagenet(o.root, o.image_size, o.skip_bad_images),
    "image_folder": lambda o: load_image_folder(
        o.root, o.image_size, o.test_fraction, o.split_seed, o.skip_bad_images
    ),
    "features_only": lambda o: load_features_only(
        o.features, o.labels, o.features_key or "features", o.test_fraction, o.split_seed
    ),
}


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
    features, labels, features_key: features_only only, its files (data/features_only.py).
    """
    if source not in SOURCES:
        raise InputError(
            f"dataset source {source!r} (dataset.source): expected one of {sorted(SOURCES)}"
            f"{did_you_mean(source, list(SOURCES))}"
        )
    options = LoadOptions(
        test_fraction=test_fraction,
        split_seed=split_seed,
        root=root,
        download=download,
        local_root=local_root,
        image_size=image_size,
        skip_bad_images=skip_bad_images,
        features=features,
        labels=labels,
        features_key=features_key,
    )
    dataset = LOADERS[source](options)
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
