"""The ``pixels`` backbone: raw pixels, flattened."""

from __future__ import annotations

import torch

from hume_workflow.models.base import Backbone, Provenance, check_images, resize_square


class PixelBackbone(Backbone):
    """The raw pixels scaled to [0, 1], flattened in (H, W, C) order: (B, H*W*C).

    Args:
        image_size: None keeps the native size; an int resizes to (image_size, image_size)
            first (bilinear, antialiased).
    """

    name = "pixels"

    def __init__(self, *, image_size: int | None = None) -> None:
        super().__init__()
        self.image_size = image_size
        self.dim = None  # depends on the input's channel count (and size if not resized)

    def output_dim(self, image_shape: tuple[int, int, int]) -> int:
        h, w, c = image_shape
        if self.image_size is not None:
            h = w = self.image_size
        return h * w * c

    def describe(self) -> Provenance:
        size = "native" if self.image_size is None else self.image_size
        return {
            "backbone": self.name,
            "weights": "none",
            "image_size": size,
            "interpolation": "none" if self.image_size is None else "bilinear, antialias",
            "scaling": "x / 255",
            "channels": "as given (1 or 3), flattened in H, W, C order",
            "output_dim": "H*W*C" if self.image_size is None else f"{size}*{size}*C",
        }

    def preprocess(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 (B, H, W, C) -> float32 (B, H', W', C) in [0, 1]."""
        check_images(images)
        x = images.float() / 255.0
        if self.image_size is not None:
            x = resize_square(x.permute(0, 3, 1, 2), self.image_size).permute(0, 2, 3, 1)
        return x

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, H', W', C) -> (B, H'*W'*C)."""
        return x.reshape(x.shape[0], -1).float()
