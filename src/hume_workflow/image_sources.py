"""Image sources: torchvision's benchmark sets, raw idx files, ImageNet and the user's folders.

Every loader returns an :class:`~hume_workflow.datasets.ImageDataset` with the source's official
train/test split. The torchvision sets are downloaded (``download=True``) and md5-verified with
torchvision, then parsed here from their official on-disk formats, so that verification
(:func:`verify_files`) is one separate function. ImageNet and image folders are not decoded
here: their ``images`` are :class:`ImageFiles`, decoded chunk by chunk when written.
Every loader also gives each sample its identity (``sample_ids``, see
:func:`~hume_workflow.datasets.samples_sha256`).
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import os
import pickle
import tarfile
import tempfile
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import h5py
import numpy as np

from hume_workflow.datasets import (
    TEST,
    TRAIN,
    UNLABELLED,
    ImageDataset,
    array_sample_ids,
    load_sklearn_digits,
    random_split,
    subsample,
)
from hume_workflow.errors import InputError, did_you_mean

if TYPE_CHECKING:
    from PIL import Image

logger = logging.getLogger(__name__)

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm")
_IDX_FIX = "delete it and copy or download the official file again"
_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


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


def _one_line(error: BaseException) -> str:
    """``Type: message`` of an exception, whitespace (newlines too) collapsed."""
    return f"{type(error).__name__}: {' '.join(str(error).split())}"


def _require_folder(key: str, root: Path, folder: Path, expected: str) -> None:
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


def _expected_torchvision_files(tv_class: type, names: Sequence[str]) -> str:
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
                f"{archive}: cannot extract the archive ({_one_line(error)}); expected the "
                f"official {tv_class.filename}: delete it and copy or download it again"
            ) from error
        extracted = Path(tmp) / tv_class.base_folder
        if not extracted.is_dir():
            raise InputError(
                f"{archive}: holds no {tv_class.base_folder}/ folder; expected the official "
                f"{tv_class.filename}"
            )
        os.replace(extracted, target)


def _fetch(tv_class: type, root: Path, download: bool, **kwargs: object) -> None:
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
            f"({_one_line(error)}); expected network access to the official mirrors: retry, "
            "or delete the partial files there and copy the official archive in by hand"
        ) from error


# --- CIFAR (official python pickle batches) ----------------------------------------------------


def _read_cifar_pickle(path: Path) -> dict[bytes, object]:
    """One official CIFAR batch/meta file as a dict with bytes keys.

    Reading pickle is only done on the official CIFAR files, after their md5 check;
    nothing here writes pickle.
    """
    try:
        with open(path, "rb") as f:
            return pickle.load(f, encoding="bytes")
    except (OSError, EOFError, pickle.UnpicklingError, ValueError) as error:
        raise InputError(
            f"{path}: cannot read the CIFAR python batch ({_one_line(error)}); expected an "
            "official cifar-*-python file: delete it and prepare again"
        ) from error


def _cifar_images(batch: dict[bytes, object], path: Path) -> np.ndarray:
    """(N, 32, 32, 3) uint8 from a batch's (N, 3072) row-major CHW ``data``."""
    data = np.asarray(batch[b"data"], dtype=np.uint8)
    if data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        raise InputError(
            f"{path}: data has shape {data.shape}, expected (N, 3072); delete it and prepare again"
        )
    return data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)


def _load_cifar(
    tv_class: type, root: Path, download: bool, label_key: bytes, names_key: bytes, name: str
) -> ImageDataset:
    """CIFAR-10/100 from ``root/<base_folder>``: train batches, then the test batch."""
    _fetch(tv_class, root, download, train=True)
    folder = root / tv_class.base_folder
    meta = tv_class.meta
    files = [*tv_class.train_list, *tv_class.test_list, (meta["filename"], meta["md5"])]
    expected = _expected_torchvision_files(tv_class, [file_name for file_name, _ in files])
    _require_folder("dataset.root", root, folder, expected)
    verify_files(folder, files)
    images, labels, split = [], [], []
    for part, files in ((TRAIN, tv_class.train_list), (TEST, tv_class.test_list)):
        for file_name, _ in files:
            batch = _read_cifar_pickle(folder / file_name)
            if label_key not in batch:
                raise InputError(
                    f"{folder / file_name}: no {label_key.decode()!r} key; expected an official "
                    "CIFAR batch: delete it and prepare again"
                )
            images.append(_cifar_images(batch, folder / file_name))
            labels.append(np.asarray(batch[label_key], dtype=np.int64))
            split.append(np.full(len(labels[-1]), part, dtype=np.uint8))
    names = _read_cifar_pickle(folder / meta["filename"])[names_key]
    class_names = [n.decode() if isinstance(n, bytes) else str(n) for n in names]
    labels_all = np.concatenate(labels)
    ids = array_sample_ids(name, len(labels_all))
    return ImageDataset(
        name, np.concatenate(images), labels_all, np.concatenate(split), class_names, sample_ids=ids
    )


def load_cifar10(root: str | os.PathLike, download: bool = False) -> ImageDataset:
    """CIFAR-10: 50,000 train + 10,000 test images (N, 32, 32, 3), K = 10."""
    from torchvision.datasets import CIFAR10

    return _load_cifar(CIFAR10, Path(root), download, b"labels", b"label_names", "cifar10")


def load_cifar100_20(root: str | os.PathLike, download: bool = False) -> ImageDataset:
    """CIFAR-100 with its 20 superclasses (``coarse_labels``): 50,000 + 10,000, K = 20."""
    from torchvision.datasets import CIFAR100

    return _load_cifar(
        CIFAR100, Path(root), download, b"coarse_labels", b"coarse_label_names", "cifar100_20"
    )


# --- STL-10 (binary files) ---------------------------------------------------------------------


def _read_stl10_images(path: Path) -> np.ndarray:
    """(N, 96, 96, 3) uint8 from an STL-10 ``*_X.bin`` (per image: C, then column-major W x H)."""
    raw = np.fromfile(path, dtype=np.uint8)
    if raw.size % (3 * 96 * 96):
        raise InputError(
            f"{path}: {raw.size} bytes, expected a multiple of 3*96*96 (truncated?); "
            "delete it and prepare again"
        )
    return np.ascontiguousarray(raw.reshape(-1, 3, 96, 96).transpose(0, 3, 2, 1))


def load_stl10(root: str | os.PathLike, download: bool = False) -> ImageDataset:
    """STL-10's labelled splits: 5,000 train + 8,000 test images (N, 96, 96, 3), K = 10."""
    from torchvision.datasets import STL10

    root = Path(root)
    _fetch(STL10, root, download, split="test")
    folder = root / STL10.base_folder
    files = [STL10.train_list[0], STL10.train_list[1], *STL10.test_list]  # not unlabeled_X
    expected = _expected_torchvision_files(STL10, [file_name for file_name, _ in files])
    _require_folder("dataset.root", root, folder, expected)
    verify_files(folder, files)
    images, labels, split = [], [], []
    for part, prefix in ((TRAIN, "train"), (TEST, "test")):
        x = _read_stl10_images(folder / f"{prefix}_X.bin")
        y = np.fromfile(folder / f"{prefix}_y.bin", dtype=np.uint8).astype(np.int64) - 1
        if len(x) != len(y):
            raise InputError(
                f"{folder / f'{prefix}_y.bin'}: {len(y)} labels for {len(x)} images; "
                "expected one per image: delete the STL-10 files and prepare again"
            )
        images.append(x)
        labels.append(y)
        split.append(np.full(len(y), part, dtype=np.uint8))
    names_file = folder / STL10.class_names_file
    class_names = names_file.read_text().split() if names_file.is_file() else STL10_CLASSES
    labels_all = np.concatenate(labels)
    ids = array_sample_ids("stl10", len(labels_all))
    return ImageDataset(
        "stl10",
        np.concatenate(images),
        labels_all,
        np.concatenate(split),
        class_names,
        sample_ids=ids,
    )


STL10_CLASSES = "airplane bird car cat deer dog horse monkey ship truck".split()


# --- MNIST / Fashion-MNIST (idx files) ---------------------------------------------------------


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """The array in an idx file (gzipped or not): e.g. (N, 28, 28) images or (N,) labels.

    Format: two zero bytes, a dtype code, the number of dims, each dim as a big-endian uint32,
    then the big-endian data. A truncated or malformed file raises a one-line InputError.
    """
    path = Path(path)
    try:
        with open(path, "rb") as f:
            gzipped = f.read(2) == b"\x1f\x8b"
        with (gzip.open if gzipped else open)(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as error:
        raise InputError(
            f"{path}: cannot read the idx file ({_one_line(error)}); truncated? {_IDX_FIX}"
        ) from error
    if len(raw) < 4 or raw[:2] != b"\0\0" or raw[2] not in _IDX_DTYPES:
        raise InputError(
            f"{path}: bad magic number {raw[:4].hex()}, expected an idx file; {_IDX_FIX}"
        )
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise InputError(
            f"{path}: {len(raw)} bytes, shorter than its idx header ({header}); {_IDX_FIX}"
        )
    shape = tuple(int(d) for d in np.frombuffer(raw, ">u4", count=ndim, offset=4))
    dtype = np.dtype(_IDX_DTYPES[raw[2]])
    expected = header + int(np.prod(shape)) * dtype.itemsize
    if len(raw) != expected:
        raise InputError(
            f"{path}: {len(raw)} bytes, expected {expected} for shape {shape} (truncated?); "
            f"{_IDX_FIX}"
        )
    return np.frombuffer(raw, dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


IDX_STEMS = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)


def _find_idx(folder: Path, stem: str) -> Path:
    """``folder/stem.gz`` if present, else ``folder/stem``; one-line error when neither is."""
    for candidate in (folder / f"{stem}.gz", folder / stem):
        if candidate.is_file():
            return candidate
    raise InputError(
        f"{folder / stem}[.gz]: file not found; expected the idx files {', '.join(IDX_STEMS)} "
        f"(each optionally .gz) in {folder}"
    )


def _load_idx_set(folder: Path, name: str, class_names: list[str]) -> ImageDataset:
    """MNIST-layout idx files in ``folder``: train-*, then t10k-*; images (N, 28, 28, 1)."""
    images, labels, split = [], [], []
    for part, prefix in ((TRAIN, "train"), (TEST, "t10k")):
        x = read_idx(_find_idx(folder, f"{prefix}-images-idx3-ubyte"))
        y = read_idx(_find_idx(folder, f"{prefix}-labels-idx1-ubyte")).astype(np.int64)
        if x.ndim != 3 or y.ndim != 1 or len(x) != len(y):
            raise InputError(
                f"{folder}: {prefix} images {x.shape}, labels {y.shape}; expected (N, H, W) "
                f"and (N,): {_IDX_FIX}"
            )
        images.append(x.astype(np.uint8)[..., None])
        labels.append(y)
        split.append(np.full(len(y), part, dtype=np.uint8))
    labels_all = np.concatenate(labels)
    ids = array_sample_ids(name, len(labels_all))
    return ImageDataset(
        name, np.concatenate(images), labels_all, np.concatenate(split), class_names, sample_ids=ids
    )


def _load_mnist_like(
    tv_class: type, name: str, root: Path, download: bool, local_root: Path | None
) -> ImageDataset:
    if local_root is not None:  # raw idx files (e.g. Debian's dataset-fashion-mnist): offline
        expected = f"the idx files {', '.join(IDX_STEMS)} (each optionally .gz)"
        _require_folder("dataset.local_root", local_root, local_root, expected)
        return _load_idx_set(local_root, name, list(tv_class.classes))
    _fetch(tv_class, root, download, train=True)
    raw_folder = root / tv_class.__name__ / "raw"
    names = [file_name for file_name, _ in tv_class.resources]  # the .gz files torchvision keeps
    _require_folder(
        "dataset.root",
        root,
        raw_folder,
        f"{tv_class.__name__}/raw/ with {', '.join(names)}; set dataset.download: true to "
        "fetch them, or dataset.local_root to a folder of raw idx files",
    )
    verify_files(raw_folder, tv_class.resources)
    return _load_idx_set(raw_folder, name, list(tv_class.classes))


def load_mnist(
    root: str | os.PathLike, download: bool = False, local_root: str | os.PathLike | None = None
) -> ImageDataset:
    """MNIST: 60,000 train + 10,000 test images (N, 28, 28, 1), K = 10."""
    from torchvision.datasets import MNIST

    local = Path(local_root) if local_root is not None else None
    return _load_mnist_like(MNIST, "mnist", Path(root), download, local)


def load_fashion_mnist(
    root: str | os.PathLike, download: bool = False, local_root: str | os.PathLike | None = None
) -> ImageDataset:
    """Fashion-MNIST: 60,000 train + 10,000 test images (N, 28, 28, 1), K = 10."""
    from torchvision.datasets import FashionMNIST

    local = Path(local_root) if local_root is not None else None
    return _load_mnist_like(FashionMNIST, "fashion_mnist", Path(root), download, local)


# --- image files: ImageNet and the user's folders ----------------------------------------------


def convert_to_rgb8(image: Image.Image) -> np.ndarray:
    """(height, width, 3) uint8 RGB of a Pillow image of any mode, its own value range scaled.

    - 8-bit modes (1, L, P, PA, LA, RGB, RGBA, RGBX, CMYK, YCbCr, LAB, HSV): Pillow's
      ``convert("RGB")``, so 1 gives 0/255 and CMYK uses Pillow's formula (no colour profile).
      Alpha is dropped: every pixel keeps its colour, transparent or not, as Pillow's and
      torchvision's loaders do; premultiplied La/RGBa are un-premultiplied first.
    - I;16, I;16B, I;16L, I;16N (16-bit gray): ``value >> 8``, the high byte, as Pillow
      already reads 16-bit-per-channel RGB files.
    - I (32-bit int; 16-bit PNGs in older Pillow): by the range of its values: all in 0..255
      as they are, all in 0..65535 as 16-bit (``value >> 8``), else min-max scaled.
    - F (32-bit float): all finite values in [0, 1] as ``round(value * 255)``, else min-max
      scaled; NaN gives 0, infinities 0 or 255.

    Min-max: ``round((value - min) / (max - min) * 255)`` over the image's finite values; a
    constant image gives 0.
    """
    if image.mode not in ("I", "F") and not image.mode.startswith("I;16"):
        if image.mode == "La":  # Pillow converts La only to LA
            image = image.convert("LA")
        elif image.mode == "P" and "transparency" in image.info:
            image = image.convert("RGBA")  # same colours, without Pillow's warning
        return np.asarray(image.convert("RGB"))
    gray = _gray_to_uint8(np.asarray(image), image.mode)
    return np.repeat(gray[..., None], 3, axis=-1)


def _gray_to_uint8(values: np.ndarray, mode: str) -> np.ndarray:
    """(height, width) uint8 from a one-band I;16*, I or F image's values: see convert_to_rgb8."""
    if mode.startswith("I;16"):
        return (values.astype(np.uint16) >> 8).astype(np.uint8)
    if mode == "I" and values.min() >= 0 and values.max() <= 65535:
        return (values if values.max() <= 255 else values >> 8).astype(np.uint8)
    values = values.astype(np.float64)
    finite = values[np.isfinite(values)]
    if mode == "F" and (not finite.size or (finite.min() >= 0 and finite.max() <= 1)):
        scaled = values * 255
    elif finite.size and finite.max() > finite.min():
        lo, hi = finite.min(), finite.max()
        scaled = (values - lo) / (hi - lo) * 255
    else:  # constant: no range to scale
        scaled = np.zeros_like(values)
    return np.clip(np.nan_to_num(np.rint(scaled), nan=0.0), 0, 255).astype(np.uint8)


def decode_image(path: Path, image_size: int) -> np.ndarray:
    """(image_size, image_size, 3) uint8: RGB, shorter side resized to image_size, center crop.

    Any mode Pillow opens; 16-bit and float images are scaled to 0..255 (see
    :func:`convert_to_rgb8`).

    Raises:
        InputError: the file cannot be decoded; chained (``__cause__``) to PIL's error.
    """
    from PIL import Image

    try:
        with Image.open(path) as image:
            image = Image.fromarray(convert_to_rgb8(image))
    except (OSError, ValueError, Image.DecompressionBombError) as error:
        raise InputError(
            f"{path}: cannot decode the image ({error}); fix or remove it, or set "
            "dataset.skip_bad_images: true to skip undecodable images"
        ) from error
    width, height = image.size
    scale = image_size / min(width, height)
    new_w, new_h = max(image_size, round(width * scale)), max(image_size, round(height * scale))
    image = image.resize((new_w, new_h), Image.Resampling.BICUBIC)
    left, top = (new_w - image_size) // 2, (new_h - image_size) // 2
    image = image.crop((left, top, left + image_size, top + image_size))
    return np.asarray(image, dtype=np.uint8)


class ImageFiles:
    """Images still on disk, decoded on demand: shape (N, image_size, image_size, 3) uint8.

    ``names`` are the files' paths relative to ``root`` (POSIX). Indexing with an index array
    gives another ImageFiles (subsampling decodes nothing); :meth:`read` decodes a chunk.
    With ``skip_undecodable``, :meth:`write_to` skips the images it cannot decode.
    """

    def __init__(
        self, root: Path, names: Sequence[str], image_size: int, skip_undecodable: bool = False
    ) -> None:
        self.root = root
        self.names = list(names)
        self.image_size = image_size
        self.skip_undecodable = skip_undecodable

    @property
    def shape(self) -> tuple[int, int, int, int]:
        return (len(self.names), self.image_size, self.image_size, 3)

    dtype = np.dtype(np.uint8)

    def __len__(self) -> int:
        return len(self.names)

    def __getitem__(self, index: np.ndarray | slice) -> ImageFiles:
        chosen = np.arange(len(self.names))[index]
        names = [self.names[i] for i in chosen]
        return ImageFiles(self.root, names, self.image_size, self.skip_undecodable)

    def read(self, start: int, stop: int) -> np.ndarray:
        """(stop - start, S, S, 3) uint8, images ``start:stop`` decoded."""
        shape = (0, self.image_size, self.image_size, 3)
        decoded = [decode_image(self.root / n, self.image_size) for n in self.names[start:stop]]
        return np.stack(decoded) if decoded else np.empty(shape, np.uint8)

    def write_to(self, out: h5py.Dataset, desc: str, chunk: int = 256) -> dict[int, dict[str, str]]:
        """Decode and write into ``out`` (N, S, S, 3) ``chunk`` images at a time, with tqdm.

        Without ``skip_undecodable`` the first undecodable image raises its InputError.
        With it, such images are logged and skipped: the others are written contiguously and
        ``out`` (chunked, resizable) is shrunk to their count.

        Returns:
            the skipped images: index -> ``{"path": name, "error": PIL's message}``.

        Raises:
            InputError: an image cannot be decoded (not skipping), or none can (skipping).
        """
        from tqdm import tqdm

        skipped: dict[int, dict[str, str]] = {}
        written = 0
        for start in tqdm(range(0, len(self), chunk), desc=desc, unit="chunk"):
            decoded = []
            for i in range(start, min(start + chunk, len(self))):
                try:
                    decoded.append(decode_image(self.root / self.names[i], self.image_size))
                except InputError as error:
                    if not self.skip_undecodable:
                        raise
                    reason = str(error.__cause__)
                    skipped[i] = {"path": self.names[i], "error": reason}
                    logger.warning(
                        "%s: cannot decode the image (%s); skipped", self.names[i], reason
                    )
            if decoded:
                out[written : written + len(decoded)] = np.stack(decoded)
                written += len(decoded)
        if skipped:
            first = next(iter(skipped.values()))
            if not written:
                raise InputError(
                    f"dataset.root={self.root}: none of the {len(self)} images can be decoded "
                    f"(first: {first['path']}: {first['error']}); expected images PIL can decode"
                )
            logger.warning("skipped %d undecodable images (first: %s)", len(skipped), first["path"])
            out.resize(written, axis=0)
        return skipped

    def __array__(self, dtype: object = None, copy: object = None) -> np.ndarray:
        array = self.read(0, len(self))
        return array if dtype is None else array.astype(dtype)


def _image_paths(folder: Path) -> list[Path]:
    """Sorted image files directly in ``folder`` (by extension, hidden files skipped)."""
    return sorted(
        p
        for p in folder.iterdir()
        if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in IMAGE_EXTENSIONS
    )


def _class_dirs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


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
    logger.info("%s: %d images, %d classes", name, len(names), len(class_names))
    images = ImageFiles(root, names, image_size, skip_bad_images)
    return ImageDataset(name, images, labels, split, class_names, sample_ids=names)


IMAGENET_LAYOUT = "train/<wnid>/*.JPEG and val/<wnid>/*.JPEG"


def load_imagenet(
    root: str | os.PathLike, image_size: int = 224, skip_bad_images: bool = False
) -> ImageDataset:
    """ImageNet from ``root/train/<wnid>/*.JPEG`` and ``root/val/<wnid>/*.JPEG``; no download.

    Images are resized (shorter side to image_size, center crop): (N, S, S, 3), lazily;
    skip_bad_images: see :meth:`ImageFiles.write_to`.
    """
    root = Path(root)
    for part in ("train", "val"):
        _require_folder("dataset.root", root, root / part, IMAGENET_LAYOUT)
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
    _require_folder("dataset.root", root, root, layout)
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
) -> ImageDataset:
    """Load a dataset by source name, optionally subsampled (for tests and quick demos).

    root: where torchvision sets are (downloaded, when ``download``), or the ImageNet/image
    folder; local_root: raw idx files for mnist/fashion_mnist (offline); image_size: square
    size of imagenet/image_folder images (shorter side resized, then center crop);
    skip_bad_images: imagenet/image_folder only, undecodable images are dropped when the
    dataset is written (see :meth:`ImageFiles.write_to`) instead of failing.
    """
    loaders: dict[str, Callable[[], ImageDataset]] = {
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
    }
    if source not in loaders:
        raise InputError(
            f"dataset source {source!r} (dataset.source): expected one of {sorted(loaders)}"
            f"{did_you_mean(source, list(loaders))}"
        )
    dataset = loaders[source]()
    logger.info("%s: %d samples, shape %s", source, len(dataset.labels), dataset.images.shape)
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
    )


def declare_num_classes(dataset: ImageDataset, num_classes: int, source: str) -> None:
    """Give unlabelled images the config's K; check it against a labelled dataset's classes.

    Raises:
        InputError: ``num_classes`` (config ``dataset.num_classes``) differs from the number
            of classes (for imagenet/image_folder: of class sub-folders) the dataset has.
    """
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
