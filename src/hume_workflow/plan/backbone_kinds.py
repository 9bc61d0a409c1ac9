"""The backbone kinds: one record each of what a spec of that kind needs and what it costs
(torch-free).

The planner (plan/preflight.py, plan/features.py), the resource model (plan/resources.py),
the extraction (embed/) and the builders (models/registry.py ``BACKBONE_CLASSES``, keyed by
these names) read ``KINDS``; the schema's ``backbones.<name>.kind`` enum lists the same
names, in the same order (tests/unit/test_config_defaults.py, tests/unit/test_sources.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, get_args

#: ``kind`` values, in the order of ``KINDS`` and of the schema's enum: raw pixels, the
#: packaged EfficientNet-Lite0, -Lite1 or -Lite2, a timm or torchvision model, or a local
#: checkpoint of a timm/torchvision architecture (models/registry.py); or ``precomputed``:
#: features the user made elsewhere, read from files (embed/precomputed.py).
BackboneKind = Literal[
    "pixels",
    "efficientnet_lite0",
    "efficientnet_lite1",
    "efficientnet_lite2",
    "timm",
    "torchvision",
    "checkpoint",
    "precomputed",
]

#: The model zoos: the libraries whose networks are looked up by name; a checkpoint's
#: ``source`` (the library that defines its ``arch``), ``CHECKPOINT_SOURCE`` when the spec
#: names none.
ModelLibrary = Literal["torchvision", "timm"]
MODEL_ZOOS: tuple[ModelLibrary, ...] = get_args(ModelLibrary)
CHECKPOINT_SOURCE: ModelLibrary = "torchvision"

#: What a kind's embedding job costs: a network run on every image ("network", on the GPU
#: when compute.embed_gpu), the images' pixels copied ("pixels"), or rows read from the
#: user's files ("files": no images, no model, one thread).
Cost = Literal["network", "pixels", "files"]

#: Spec keys that configure extraction and post-processing, not the backbone itself
#: (``kind`` and the fields of embed/settings.py's ``EmbedSettings``).
EXTRACTION_KEYS = (
    "kind",
    "batch_size",
    "num_workers",
    "precision",
    "pca_dim",
    "l2_normalize",
    "float16",
)
#: Spec keys that change how fast features are made, never their values: DataLoader
#: workers for every kind; for the kinds that run no network (pixels, precomputed) the batch
#: size and the autocast precision too.
SPEED_KEYS = ("num_workers",)
NETWORK_SPEED_KEYS = ("batch_size", "precision")
#: Spec keys of the files kind besides EXTRACTION_KEYS (data/feature_config.py).
PRECOMPUTED_KEYS = ("path", "paths", "key", "ids")


@dataclass(frozen=True)
class Kind:
    """What the plan knows of one backbone ``kind``.

    Attributes:
        name: the ``kind`` value.
        cost: what its embedding job spends (``Cost``).
        required: the spec options it cannot do without.
        local_weights: its ``weights`` option names a local file (checked to exist);
            otherwise ``weights`` is a name its library downloads (torchvision's enums).
            A ``path`` option names a local file for every kind that takes one.
        model_option: the option naming a network looked up in a model zoo, or None.
        library: the zoo of that network; None: the spec's ``source`` option
            (``CHECKPOINT_SOURCE`` when absent).
    """

    name: BackboneKind
    cost: Cost
    required: tuple[str, ...] = ()
    local_weights: bool = False
    model_option: str | None = None
    library: ModelLibrary | None = None

    @property
    def embeds_images(self) -> bool:
        """Whether it computes features from images (a class in models/registry.py)."""
        return self.cost != "files"

    def model_name(self, spec: Mapping) -> tuple[str, str] | None:
        """(network name, library) a spec of this kind looks up; None where it names none."""
        if self.model_option is None or self.model_option not in spec:
            return None
        library = self.library or spec.get("source", CHECKPOINT_SOURCE)
        return str(spec[self.model_option]), str(library)


#: Every kind, by name.
KINDS: dict[str, Kind] = {
    kind.name: kind
    for kind in (
        Kind("pixels", "pixels"),
        Kind("efficientnet_lite0", "network", local_weights=True),
        Kind("efficientnet_lite1", "network", local_weights=True),
        Kind("efficientnet_lite2", "network", local_weights=True),
        Kind("timm", "network", ("model",), True, "model", "timm"),
        Kind("torchvision", "network", ("model",), False, "model", "torchvision"),
        Kind("checkpoint", "network", ("path", "arch"), False, "arch"),
        Kind("precomputed", "files"),
    )
}
#: The kind that reads features from files instead of computing them from images.
PRECOMPUTED: BackboneKind = "precomputed"
#: The kinds that compute features from images: one backbone class each (models/registry.py).
IMAGE_KINDS: tuple[str, ...] = tuple(name for name, kind in KINDS.items() if kind.embeds_images)


def kind_of(spec: Mapping) -> Kind:
    """The record of a backbone spec's ``kind``."""
    return KINDS[spec["kind"]]


def deciding_spec(spec: Mapping) -> dict:
    """The keys of a backbone spec that decide its features, without :data:`SPEED_KEYS` (and
    :data:`NETWORK_SPEED_KEYS` for a kind that runs no network): the params of its embedding
    jobs, so that an edit of a speed-only key reruns nothing."""
    network = kind_of(spec).cost == "network"
    speed = SPEED_KEYS if network else SPEED_KEYS + NETWORK_SPEED_KEYS
    return {key: value for key, value in spec.items() if key not in speed}
