"""A backbone spec's extraction and post-processing options (torch-free). Its kinds are
plan/backbone_kinds.py's records."""

from __future__ import annotations

import dataclasses
from typing import Literal, get_args

import numpy as np

from hume_workflow.errors import InputError

#: ``precision`` values; each runs under autocast with that dtype on CUDA (fp32: none).
Precision = Literal["fp32", "bf16", "fp16"]
PRECISIONS: tuple[Precision, ...] = get_args(Precision)


@dataclasses.dataclass(frozen=True)
class EmbedSettings:
    """Extraction and post-processing options of a backbone spec (schema ``backbones``).

    ``precision`` maps to an autocast dtype on CUDA only (CPU runs in float32).
    Post-processing order: PCA (fitted on the train split), then L2 normalisation, then the
    storage cast (float16 or float32).
    """

    batch_size: int = 64
    num_workers: int = 0
    precision: Precision = "fp32"
    pca_dim: int | None = None
    l2_normalize: bool = False
    float16: bool = False

    @classmethod
    def from_spec(cls, spec: dict, name: str = "backbone") -> EmbedSettings:
        """The settings in ``spec`` (missing keys: the defaults above).

        Raises:
            InputError: naming ``config backbones.<name>.<key>``.
        """
        fields = {f.name for f in dataclasses.fields(cls)}
        settings = cls(**{k: v for k, v in spec.items() if k in fields and v is not None})
        key = f"config backbones.{name}"
        if settings.precision not in PRECISIONS:
            raise InputError(
                f"{key}.precision={settings.precision!r}: expected one of {list(PRECISIONS)}"
            )
        if settings.batch_size < 1 or settings.num_workers < 0:
            raise InputError(
                f"{key}: batch_size={settings.batch_size}, num_workers={settings.num_workers}; "
                "expected batch_size >= 1 and num_workers >= 0"
            )
        return settings

    @property
    def storage_dtype(self) -> type[np.floating]:
        return np.float16 if self.float16 else np.float32
