"""ImageNet and the user's image folders: files scanned, class sub-folders as labels."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from hume_workflow.data.archives import require_folder
from hume_workflow.data.images import IMAGE_EXTENSIONS, ImageFiles
from hume_workflow.data.sources import SOURCES
from hume_workflow.data.subsets import random_split
from hume_workflow.errors import InputError
from hume_workflow.formats.dataset import UNLABELLED, ImageDataset

if TYPE_CHECKING:
    pass

logger = logging.getLogger(__name__)


def _image_paths(folder: Path) -> list[Path]:
    """Sorted image files directly in ``folder`` (by extension, hidden files skipped)."""
    return sorted(
        p
        for p in folder.iterdir()
        if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in IMAGE_EXTENSIONS
    )


def _class_dirs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


#: Sub-folders of a root that hold a split's images (image_folder: train/ and test/;
#: imagenet: train/ and val/), not a class.
SPLIT_FOLDERS = ("train", "test", "val")


def listed_folders(root: str | os.PathLike) -> list[Path]:
    """The folders whose listings decide which images a folder source holds: ``root``, its
    sub-folders, and the sub-folders of its split folders (:data:`SPLIT_FOLDERS`); no image
    folder is listed, so this costs a few directory reads even for ImageNet.

    A file added, removed or renamed changes the modification time of its folder, one of
    these; the data stage lists the same folders (:func:`_scan`).
    """
    root = Path(root)
    if not root.is_dir():
        return []
    folders = [root, *_class_dirs(root)]
    for split in (f for f in folders[1:] if f.name in SPLIT_FOLDERS):
        folders += _class_dirs(split)
    return folders


def _scan(root: Path, folder: Path) -> tuple[list[Path], list[str | None]]:
    """Image paths in ``folder`` (under ``root``) and their class folder names.

    The name is None for images directly in ``folder``; a class folder without images is an
    error (e.g. nested folders, or a format not in IMAGE_EXTENSIONS).
    """
    classes = _class_dirs(folder)
    flat = _image_paths(folder)
    if classes and flat:
        where = "" if folder == root else f"{folder.relative_to(root).as_posix()}/ "
        raise InputError(
            f"dataset.root={root}: {where}holds both images ({flat[0].name}, ...) and "
            "sub-folders; expected one sub-folder per class or a flat folder of unlabelled images"
        )
    if not classes:
        return flat, [None] * len(flat)
    paths, names = [], []
    for class_dir in classes:
        files = _image_paths(class_dir)
        if not files:
            raise InputError(
                f"dataset.root={root}: class folder {class_dir.relative_to(root).as_posix()}/ "
                f"holds no images; expected files ending in {', '.join(IMAGE_EXTENSIONS)}"
            )
        paths += files
        names += [class_dir.name] * len(files)
    return paths, names


def _folder_dataset(
    name: str,
    root: Path,
    parts: list[tuple[list[Path], list[str | None]]],
    split: np.ndarray | None,
    image_size: int,
    skip_bad_images: bool,
) -> ImageDataset:
    """Assemble ImageFiles, labels (-1 when unlabelled) and split from scanned parts.

    Sample ids are the image paths relative to ``root``.
    """
    names = [p.relative_to(root).as_posix() for part_paths, _ in parts for p in part_paths]
    folder_names = [n for _, part_names in parts for n in part_names]
    class_names = sorted({n for n in folder_names if n is not None})
    index = {n: i for i, n in enumerate(class_names)}
    labels = np.array([index.get(n, UNLABELLED) for n in folder_names], dtype=np.int64)
    if split is None:
        split = np.concatenate(
            [np.full(len(part_paths), part, np.uint8) for part, (part_paths, _) in enumerate(parts)]
        )
    if class_names:
        logger.info("%s: %d images, %d classes", name, len(names), len(class_names))
    else:
        logger.info("%s: %d images, unlabelled (no class subfolders)", name, len(names))
    images = ImageFiles(root, names, image_size, skip_bad_images)
    return ImageDataset(name, images, labels, split, class_names, sample_ids=names)


IMAGENET_LAYOUT = str(SOURCES["imagenet"].layout)


def load_imagenet(
    root: str | os.PathLike, image_size: int = 224, skip_bad_images: bool = False
) -> ImageDataset:
    """ImageNet from ``root/train/<wnid>/*.JPEG`` and ``root/val/<wnid>/*.JPEG``; no download.

    Images are resized (shorter side to image_size, center crop): (N, S, S, 3), lazily;
    skip_bad_images: see :meth:`ImageFiles.write_to`.
    """
    root = Path(root)
    for part in ("train", "val"):
        require_folder("dataset.root", root, root / part, IMAGENET_LAYOUT)
    train, val = _scan(root, root / "train"), _scan(root, root / "val")
    for part, (paths, names) in (("train", train), ("val", val)):
        if None in names:
            raise InputError(
                f"dataset.root={root}: {part}/ holds images directly ({paths[0].name}, ...); "
                f"expected {IMAGENET_LAYOUT}"
            )
        if not paths:
            raise InputError(
                f"dataset.root={root}: {part}/ holds no images; expected {IMAGENET_LAYOUT}"
            )
    unknown = set(val[1]) - set(train[1])
    if unknown:
        raise InputError(
            f"dataset.root={root}: val/ classes {sorted(unknown)[:3]} are not in train/; "
            f"expected {IMAGENET_LAYOUT} with the same classes"
        )
    return _folder_dataset("imagenet", root, [train, val], None, image_size, skip_bad_images)


def load_image_folder(
    root: str | os.PathLike,
    image_size: int = 224,
    test_fraction: float = 0.2,
    split_seed: int = 0,
    skip_bad_images: bool = False,
) -> ImageDataset:
    """The user's images under ``root``, resized (shorter side, center crop) to (S, S, 3).

    Class sub-folders give labels (sorted folder names); images directly in ``root`` are
    unlabelled (-1). ``root/train`` and ``root/test`` give the split, else a random one.
    skip_bad_images: see :meth:`ImageFiles.write_to`.
    """
    root = Path(root)
    layout = "class sub-folders of images, or images directly in it (unlabelled)"
    require_folder("dataset.root", root, root, layout)
    has_train, has_test = (root / "train").is_dir(), (root / "test").is_dir()
    if has_train != has_test:
        raise InputError(
            f"dataset.root={root}: has {'train' if has_train else 'test'}/ but no "
            f"{'test' if has_train else 'train'}/; expected both (the split) or neither"
        )
    if has_train:
        parts = [_scan(root, root / "train"), _scan(root, root / "test")]
    else:
        parts = [_scan(root, root)]
    n = sum(len(p) for p, _ in parts)
    if n == 0:
        raise InputError(f"dataset.root={root}: no images; expected {layout}")
    labelled = {None in names for _, names in parts if names}
    if len(labelled) > 1:
        raise InputError(
            f"dataset.root={root}: train/ and test/ must both use class sub-folders or neither"
        )
    split = random_split(n, test_fraction, split_seed) if len(parts) == 1 else None
    name = root.name or "image_folder"
    return _folder_dataset(name, root, parts, split, image_size, skip_bad_images)
