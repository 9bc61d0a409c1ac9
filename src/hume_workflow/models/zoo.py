"""Model-zoo backbones: timm, torchvision and local-checkpoint image models.

Each is an :class:`ImageModelBackbone`, a classification network without its classifier,
fed batches resized / centre-cropped / normalised by :class:`Preprocessing` (tensor ops on the
extraction device). Built by :func:`hume_workflow.models.registry.build_backbone` for the kinds
``timm``, ``torchvision`` and ``checkpoint``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import timm
import torch
from torch import nn

from hume_workflow.errors import InputError, did_you_mean
from hume_workflow.models.base import FrozenModelBackbone, Provenance
from hume_workflow.models.checkpoints import LocalWeights
from hume_workflow.models.preprocessing import Preprocessing


def create_timm_model(
    name: str, pretrained: bool = False, image_size: int | None = None
) -> nn.Module:
    """``timm.create_model(name, pretrained=...)``, eval mode; unknown names suggest close ones.

    ``image_size`` is passed as ``img_size`` to models that take it (ViTs and other models
    with a fixed input size; timm resamples pretrained position embeddings); other models
    (conv nets) take any size as they are.
    """
    check_model_name("timm", name)
    if image_size is not None:
        try:
            return timm.create_model(name, pretrained=pretrained, img_size=image_size).eval()
        except TypeError:
            pass  # the model does not take img_size
    return timm.create_model(name, pretrained=pretrained).eval()


def check_model_name(library: str, name: str, key: str = "model") -> None:
    """Raise a one-line InputError naming ``key`` unless ``name`` is a ``library`` model.

    ``library``: "timm" or "torchvision" (its classification models); ``key``: where the
    name comes from, e.g. ``config backbones.vit.model``.
    """
    if library == "timm":
        if not timm.is_model(name):
            hint = did_you_mean(name, timm.list_models(), quote=False)
            raise InputError(f"{key}: unknown timm model {name!r}{hint} (see timm.list_models())")
        return
    from torchvision import models

    available = models.list_models(module=models)
    if name not in available:
        hint = did_you_mean(name, available, quote=False)
        raise InputError(
            f"{key}: unknown torchvision classification model {name!r}{hint} "
            "(see torchvision.models.list_models())"
        )


def _timm_classifier_names(model: nn.Module) -> tuple[str, ...]:
    names = (getattr(model, "pretrained_cfg", None) or {}).get("classifier") or ()
    return (names,) if isinstance(names, str) else tuple(names)


def create_torchvision_model(name: str, weights: str | None = None) -> tuple[nn.Module, Any]:
    """A torchvision classification model and its weights enum member (None: random init).

    ``weights`` is the enum member's name, e.g. "IMAGENET1K_V2" or "DEFAULT" (also accepted
    as "ResNet50_Weights.IMAGENET1K_V2"). Downloads through torchvision's cache when not None.
    """
    from torchvision import models

    check_model_name("torchvision", name)
    member = None
    if weights is not None:
        enum = models.get_model_weights(name)
        key = str(weights).rsplit(".", 1)[-1]
        try:
            member = enum[key]
        except KeyError:
            known = ", ".join(["DEFAULT", *(m.name for m in enum)])
            raise InputError(
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
        InputError: none of these is, or ends in, a Linear (e.g. SqueezeNet's conv classifier).
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
    raise InputError(
        f"{type(model).__name__}: no Linear classifier in fc/classifier/heads/head to remove; "
        "expected a torchvision classification model with a Linear head: choose another model"
    )


class ImageModelBackbone(FrozenModelBackbone):
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
        super().__init__(model, mean=preprocessing.mean, std=preprocessing.std, invert=invert)
        self.dim = int(dim)
        self.preprocessing = preprocessing
        self.timm_head = timm_head
        self._provenance = dict(provenance or {})
        convs = sum(isinstance(m, nn.Conv2d) for m in model.modules())
        self.prefers_channels_last = convs > 1  # a conv net (a ViT has one conv, its stem)

    def describe(self) -> Provenance:
        return {
            "backbone": self.name,
            **self._provenance,
            **self.preprocessing.describe(),
            "invert": int(self.invert),
            "features": "penultimate layer (classifier removed)",
            "output_dim": self.dim,
        }

    def resize(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) -> (B, 3, crop_h, crop_w): see :class:`Preprocessing`."""
        return self.preprocessing(x)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, h, w) -> float32 (B, dim)."""
        if self.timm_head:
            feats = self.model.forward_head(self.model.forward_features(x), pre_logits=True)
        else:
            feats = self.model(x)
        return feats.reshape(feats.shape[0], -1).float()


def _timm_backbone_parts(
    model: str, pretrained: bool, weights: LocalWeights | None, image_size: int | None
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
        provenance.update(weights.load_into(net, classifier))
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
            raise InputError(f"timm {model}: give pretrained=true or weights=<path>, not both")
        local = (
            None if weights is None else LocalWeights(Path(weights), state_dict_key, strip_prefix)
        )
        net, dim, prep, prov = _timm_backbone_parts(model, pretrained, local, image_size)
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
        local = LocalWeights(path, state_dict_key, strip_prefix)
        if source == "timm":
            net, dim, prep, prov = _timm_backbone_parts(arch, False, local, image_size)
        elif source == "torchvision":
            net, _ = create_torchvision_model(arch, None)
            head, dim = strip_classifier(net)
            prov = {"model": f"torchvision {arch}", **local.load_into(net, (head,))}
            prov["classifier_removed"] = head
            prep = Preprocessing.from_torchvision(None, image_size)
        else:
            raise InputError(f"checkpoint {path}: source={source!r}; expected torchvision or timm")
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
