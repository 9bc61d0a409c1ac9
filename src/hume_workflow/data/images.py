"""Image files decoded to square RGB uint8 arrays, and a lazy container of them."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import h5py
import numpy as np

from hume_workflow.errors import InputError

if TYPE_CHECKING:
    from PIL import Image

logger = logging.getLogger(__name__)

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm")


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
