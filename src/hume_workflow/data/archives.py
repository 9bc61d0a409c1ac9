"""Local files of the torchvision sets: md5 checks, archives unpacked, downloads."""

from __future__ import annotations

import hashlib
import logging
import os
import tarfile
import tempfile
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from hume_workflow.errors import InputError

if TYPE_CHECKING:
    pass

logger = logging.getLogger(__name__)


# --- integrity and download ------------------------------------------------------------------


def verify_files(folder: Path, files: Sequence[tuple[str, str]]) -> None:
    """Raise a one-line InputError unless every ``(name, md5)`` file in ``folder`` matches."""
    for name, md5 in files:
        path = folder / name
        if not path.is_file():
            raise InputError(
                f"{path}: file not found (expected the official {name}, md5 {md5}); "
                "set dataset.download: true to fetch it"
            )
        found = file_md5(path)
        if found != md5:
            raise InputError(
                f"{path}: md5 differs from the official {md5} (got {found}: truncated or "
                "corrupt download?); delete the file and prepare again with "
                "dataset.download: true to fetch it anew"
            )


def file_md5(path: Path, block: int = 2**20) -> str:
    """Hex md5 of the file at ``path``, read ``block`` bytes at a time."""
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        while chunk := f.read(block):
            digest.update(chunk)
    return digest.hexdigest()


def one_line(error: BaseException) -> str:
    """``Type: message`` of an exception, whitespace (newlines too) collapsed."""
    return f"{type(error).__name__}: {' '.join(str(error).split())}"


def require_folder(key: str, root: Path, folder: Path, expected: str) -> None:
    """One-line InputError naming ``key=root`` unless ``folder`` (root or under it) has entries."""
    if folder.is_dir() and any(folder.iterdir()):
        return
    if not root.is_dir():
        problem = "not a directory" if root.exists() else "no such directory"
    elif not any(root.iterdir()):
        problem = "empty directory"
    elif not folder.is_dir():
        problem = f"no {folder.relative_to(root)}/ in it"
    else:
        problem = f"{folder.relative_to(root)}/ is empty"
    raise InputError(f"{key}={root}: {problem}; expected {expected}")


def expected_torchvision_files(tv_class: type, names: Sequence[str]) -> str:
    """What ``dataset.root`` should hold for a torchvision set, for error messages."""
    return (
        f"{tv_class.base_folder}/ with {', '.join(names)} or the archive {tv_class.filename}; "
        "set dataset.download: true to fetch them"
    )


def _extract_local_archive(tv_class: type, root: Path) -> None:
    """Offline: extract ``root/<official archive>`` (md5-checked first) if not yet extracted.

    The archive is extracted into a temporary folder in ``root`` and its ``base_folder`` then
    moved into place, so a truncated archive leaves no half-extracted folder behind.
    """
    from torchvision.datasets.utils import extract_archive

    archive = root / tv_class.filename
    target = root / tv_class.base_folder
    if target.is_dir() or not archive.is_file():
        return
    verify_files(root, [(tv_class.filename, tv_class.tgz_md5)])
    logger.info("extracting %s", archive)
    with tempfile.TemporaryDirectory(dir=root, prefix=f".{tv_class.base_folder}.") as tmp:
        try:
            extract_archive(str(archive), tmp)
        except (tarfile.TarError, EOFError, OSError, zlib.error) as error:
            raise InputError(
                f"{archive}: cannot extract the archive ({one_line(error)}); expected the "
                f"official {tv_class.filename}: delete it and copy or download it again"
            ) from error
        extracted = Path(tmp) / tv_class.base_folder
        if not extracted.is_dir():
            raise InputError(
                f"{archive}: holds no {tv_class.base_folder}/ folder; expected the official "
                f"{tv_class.filename}"
            )
        os.replace(extracted, target)


def fetch_torchvision(tv_class: type, root: Path, download: bool, **kwargs: object) -> None:
    """Download and extract with torchvision (which md5-checks the archive), one-line errors.

    Without ``download``, an official archive already in ``root`` is extracted (CIFAR, STL-10).
    """
    if not download:
        if hasattr(tv_class, "tgz_md5"):
            _extract_local_archive(tv_class, root)
        return
    root.mkdir(parents=True, exist_ok=True)
    try:
        tv_class(str(root), download=True, **kwargs)
    except Exception as error:  # network, md5 or a truncated archive: torchvision's many types
        raise InputError(
            f"{tv_class.__name__} download into {root} (dataset.root) failed "
            f"({one_line(error)}); expected network access to the official mirrors: retry, "
            "or delete the partial files there and copy the official archive in by hand"
        ) from error
