"""Backbones by kind: the one place that builds every kind, from a config spec.

The kinds themselves are records, torch-free, in plan/backbone_kinds.py (``KINDS``);
``BACKBONE_CLASSES`` holds one class per kind that computes features from images
(``IMAGE_KINDS``), keyed by the same names (tests/unit/test_sources.py). The ``precomputed``
kind has no model: its features are read from files (embed/precomputed.py).
"""

from __future__ import annotations

import inspect

from hume_workflow.errors import InputError, did_you_mean
from hume_workflow.models.base import Backbone
from hume_workflow.models.efficientnet import (
    EfficientNetLite0Backbone,
    EfficientNetLite1Backbone,
    EfficientNetLite2Backbone,
)
from hume_workflow.models.pixels import PixelBackbone
from hume_workflow.models.zoo import (
    CheckpointBackbone,
    TimmBackbone,
    TorchvisionBackbone,
    check_model_name,
)
from hume_workflow.plan.backbone_kinds import KINDS, MODEL_ZOOS

#: The class of each kind of ``IMAGE_KINDS``, by its ``name``.
BACKBONE_CLASSES: dict[str, type[Backbone]] = {
    cls.name: cls
    for cls in (
        PixelBackbone,
        EfficientNetLite0Backbone,
        EfficientNetLite1Backbone,
        EfficientNetLite2Backbone,
        TimmBackbone,
        TorchvisionBackbone,
        CheckpointBackbone,
    )
}


def build_backbone(kind: str, *, config_key: str | None = None, **options: object) -> Backbone:
    """The backbone ``kind`` (see the module docstring) with its keyword options.

    Args:
        config_key: where ``kind`` and ``options`` come from, e.g. "backbones.vit"; the
            errors then name ``config backbones.vit.<option>``.

    Raises:
        InputError: one line: unknown ``kind``, an option the backbone does not take, an
            unknown model name, or options the backbone refuses (e.g. a bad weights file).
    """
    key = f"config {config_key}" if config_key else "backbone"
    if kind not in KINDS:
        raise InputError(
            f"{key}.kind={kind!r}: unknown backbone {kind!r}; known kinds: "
            f"{', '.join(sorted(KINDS))}{did_you_mean(kind, list(KINDS))}"
        )
    if not KINDS[kind].embeds_images:
        raise InputError(
            f"{key}.kind={kind!r}: reads features from files, not images; expected a kind "
            f"that embeds images ({', '.join(BACKBONE_CLASSES)})"
        )
    cls = BACKBONE_CLASSES[kind]
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
    looked_up = KINDS[kind].model_name(options)
    if looked_up is not None and looked_up[1] in MODEL_ZOOS:
        model, library = looked_up
        check_model_name(library, model, f"{key}.{KINDS[kind].model_option}")
    try:
        return cls(**options)
    except InputError as err:
        if config_key is None:
            raise
        raise InputError(f"{key} (kind {kind!r}): {err}") from err
