"""The dataset sources: one record each of what it reads and what it holds (torch-free).

The loaders (data/prepare.py ``LOADERS``, keyed by these names), the planner
(plan/dataset.py, plan/preflight.py) and the resource model (plan/resources.py) read
``SOURCES``; the schema's ``dataset.source`` enum lists the same names, in the same order
(tests/unit/test_sources.py holds the three together).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

#: ``dataset.source`` values, in the order of ``SOURCES`` and of the schema's enum.
DatasetSource = Literal[
    "sklearn_digits",
    "cifar10",
    "cifar100_20",
    "stl10",
    "mnist",
    "fashion_mnist",
    "imagenet",
    "image_folder",
    "features_only",
]

#: Where a source's samples come from: a Python package ("bundled"), torchvision's files
#: under dataset.root, fetched when dataset.download ("download"), the user's images under
#: dataset.root, scanned ("folder"), or the rows of the user's feature files, no images
#: ("files").
Reads = Literal["bundled", "download", "folder", "files"]


@dataclass(frozen=True)
class Source:
    """What the plan knows of one ``dataset.source`` before its data stage runs.

    Attributes:
        name: the ``dataset.source`` value.
        reads: where its samples come from (``Reads``).
        classes: its number of classes; None where its data tells (a folder's class
            sub-folders, a labels file).
        sizes: its published (n_train, n_test); None where its data tells. With a drawn
            split, (n, 0): ``test_fraction`` of the n samples is held out.
        side: side of the square images it stores; None: ``dataset.image_size``.
        channels: 1 (gray) or 3 (RGB) channels per stored image.
        random_split: its split is drawn with ``test_fraction`` and ``split_seed``.
        layout: what ``dataset.root`` holds, for messages (sources that read a folder).
    """

    name: DatasetSource
    reads: Reads
    classes: int | None = None
    sizes: tuple[int, int] | None = None
    side: int | None = None
    channels: int = 3
    random_split: bool = False
    layout: str | None = None


#: The source whose samples are the rows of feature files (no images).
FEATURES_ONLY: DatasetSource = "features_only"

#: Every source, by name.
SOURCES: dict[str, Source] = {
    source.name: source
    for source in (
        Source(
            "sklearn_digits",
            "bundled",
            classes=10,
            sizes=(1797, 0),
            side=8,
            channels=1,
            random_split=True,
        ),
        Source("cifar10", "download", classes=10, sizes=(50000, 10000), side=32),
        Source("cifar100_20", "download", classes=20, sizes=(50000, 10000), side=32),
        Source("stl10", "download", classes=10, sizes=(5000, 8000), side=96),
        Source("mnist", "download", classes=10, sizes=(60000, 10000), side=28, channels=1),
        Source("fashion_mnist", "download", classes=10, sizes=(60000, 10000), side=28, channels=1),
        Source(
            "imagenet",
            "folder",
            classes=1000,
            sizes=(1281167, 50000),
            layout="train/<wnid>/*.JPEG and val/<wnid>/*.JPEG",
        ),
        Source(
            "image_folder",
            "folder",
            random_split=True,
            layout="images, in one sub-folder per class or flat",
        ),
        Source(FEATURES_ONLY, "files"),
    )
}
