"""Tensor preprocessing of the image models: resize, centre crop, normalise."""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F

from hume_workflow.models.base import Provenance

log = logging.getLogger(__name__)

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
_INTERPOLATIONS = ("bilinear", "bicubic", "nearest")


class Preprocessing:
    """Eval-time resize + centre crop + normalisation, as tensor ops on (B, C, H, W) batches.

    Args:
        crop_size: (height, width) of the model input.
        resize_size: (height, width) the image is resized to before the crop: in "center"
            mode the image is scaled (aspect kept) until it covers it; in "squash" mode it is
            resized to exactly that size.
        interpolation: "bilinear", "bicubic" (both antialiased) or "nearest".
        mean, std: per-channel normalisation of x / 255.
        mode: "center" or "squash" (timm's ``crop_mode``).
    """

    def __init__(
        self,
        crop_size: tuple[int, int],
        resize_size: tuple[int, int],
        interpolation: str,
        mean: tuple[float, ...],
        std: tuple[float, ...],
        mode: str = "center",
    ) -> None:
        if interpolation not in _INTERPOLATIONS:
            log.warning("interpolation %r not supported; using bicubic", interpolation)
            interpolation = "bicubic"
        if mode not in ("center", "squash"):
            log.warning("crop_mode %r not supported; using center", mode)
            mode = "center"
        self.crop_size = (int(crop_size[0]), int(crop_size[1]))
        self.resize_size = (
            max(int(resize_size[0]), self.crop_size[0]),
            max(int(resize_size[1]), self.crop_size[1]),
        )
        self.interpolation = interpolation
        self.mean = tuple(float(m) for m in mean)
        self.std = tuple(float(s) for s in std)
        self.mode = mode

    @classmethod
    def from_timm(cls, config: Mapping[str, Any], image_size: int | None = None) -> Preprocessing:
        """From ``timm.data.resolve_data_config`` output; ``image_size`` overrides the crop."""
        crop = tuple(config["input_size"][-2:])
        if image_size is not None:
            crop = (int(image_size), int(image_size))
        crop_pct = config.get("crop_pct") or 0.875
        resize = tuple(math.floor(c / crop_pct) for c in crop)
        return cls(
            crop,
            resize,
            str(config.get("interpolation", "bicubic")),
            tuple(config["mean"]),
            tuple(config["std"]),
            "squash" if config.get("crop_mode") == "squash" else "center",
        )

    @classmethod
    def from_torchvision(cls, weights: Any | None, image_size: int | None = None) -> Preprocessing:
        """From a torchvision weights enum's ``transforms()`` (ImageNet defaults for None).

        Defaults without weights: resize 256, crop 224, bilinear, ImageNet mean/std.
        ``image_size`` overrides the crop; the resize keeps the resize/crop ratio.
        """
        crop, resize, interp = 224, 256, "bilinear"
        mean, std = IMAGENET_MEAN, IMAGENET_STD
        if weights is not None:
            t = weights.transforms()
            crop = int(t.crop_size[0])
            resize = int(t.resize_size[0])
            interp = str(getattr(t.interpolation, "value", t.interpolation)).lower()
            mean, std = tuple(t.mean), tuple(t.std)
        if image_size is not None:
            resize, crop = round(int(image_size) * resize / crop), int(image_size)
        return cls((crop, crop), (resize, resize), interp, mean, std)

    def describe(self) -> Provenance:
        """Provenance of the preprocessing (str/int values)."""
        h, w = self.crop_size
        rh, rw = self.resize_size
        how = "shorter side, aspect kept" if self.mode == "center" else "squash"
        antialias = "" if self.interpolation == "nearest" else ", antialias"
        return {
            "image_size": h if h == w else f"{h}x{w}",
            "resize": f"{rh}x{rw} ({how}), {self.interpolation}{antialias}; center crop",
            "interpolation": self.interpolation,
            "scaling": "x / 255",
            "mean": str(self.mean),
            "std": str(self.std),
            "channels": "grayscale replicated to 3; RGB as given",
        }

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """float (B, 3, H, W) in [0, 1] -> resized, cropped (B, 3, crop_h, crop_w), unnormalised."""
        h, w = x.shape[-2:]
        ch, cw = self.crop_size
        if self.mode == "squash":
            size = self.resize_size
        else:
            scale = max(self.resize_size[0] / h, self.resize_size[1] / w)
            size = (max(ch, round(h * scale)), max(cw, round(w * scale)))
            if self.resize_size[0] == self.resize_size[1]:  # torchvision Resize(int) semantics
                short = self.resize_size[0]
                size = (short, int(short * w / h)) if h <= w else (int(short * h / w), short)
        if tuple(size) != (h, w):
            if self.interpolation == "nearest":
                x = F.interpolate(x, size=size, mode="nearest")
            else:
                x = F.interpolate(
                    x, size=size, mode=self.interpolation, align_corners=False, antialias=True
                )
                if self.interpolation == "bicubic":
                    x = x.clamp_(0.0, 1.0)
        top = round((x.shape[-2] - ch) / 2)
        left = round((x.shape[-1] - cw) / 2)
        return x[..., top : top + ch, left : left + cw]
