"""HUME's hyperparameters and the generalisation score's settings: frozen dataclasses,
torch-free (the planner reads them).

The one home in code of their defaults: the planner fills a partial config section from
:func:`field_defaults`. The allowed values of an enum-valued field are the ``Literal`` of its
type, in choices.py (``HYPERGRADIENTS``, ``SCORE_BACKENDS``, ...) and inner_forms.py
(``INNER_FORMS``). tests/unit/test_config_defaults.py holds the JSON schema
(workflow/schemas/config.schema.yaml) to them, field by field.
"""

from __future__ import annotations

import dataclasses
from dataclasses import asdict, dataclass
from typing import Any

from hume_workflow.choices import (
    ENCODER_INITS,
    HYPERGRADIENTS,
    INNER_LR_MODES,
    SCORE_BACKENDS,
    EncoderInit,
    Hypergradient,
    InnerLrMode,
    ScoreBackend,
    check_choice,
)
from hume_workflow.errors import InputError
from hume_workflow.hume.inner_forms import INNER_FORMS, InnerForm, check_inner_form


def field_defaults(cls: type) -> dict[str, Any]:
    """``{field: default}`` of the fields of the dataclass ``cls`` that have a default."""
    return {
        field.name: field.default
        for field in dataclasses.fields(cls)
        if field.default is not dataclasses.MISSING
    }


@dataclass(frozen=True)
class HumeConfig:
    """Hyperparameters of one HUME run; the defaults are the paper's (docs/algorithm.md)."""

    num_classes: int
    inner_lr: float = 0.001
    outer_lr: float = 0.001
    tau: float = 0.1
    h_reg: float = 10.0
    num_iters: int = 1000
    adaptation_steps: int = 300
    num_subsets: int = 20
    subset_size: int = 10000
    train_fraction: float = 0.9
    anneal: bool = True
    anneal_milestones: tuple[int, ...] = (100, 200)
    rand_init: bool = True
    grad_clip: float = 1.0
    hypergradient: Hypergradient = "closed_form"
    shared_subsets: bool = False  # runs of one process draw common subsets (run_hume_many)
    inner_form: InnerForm = "auto"  # where the inner descent runs: inner_forms.py
    encoder_init: EncoderInit = "uniform"  # the task encoder's start: ENCODER_INITS
    inner_lr_mode: InnerLrMode = "absolute"  # how inner_lr is read: INNER_LR_MODES

    def __post_init__(self) -> None:
        """Raises InputError naming the config key (``hume.<field>``, ``dataset.num_classes``)."""
        check_choice("hume.hypergradient", self.hypergradient, HYPERGRADIENTS)
        check_choice("hume.inner_form", self.inner_form, INNER_FORMS)
        check_choice("hume.encoder_init", self.encoder_init, ENCODER_INITS)
        check_choice("hume.inner_lr_mode", self.inner_lr_mode, INNER_LR_MODES)
        check_inner_form(self.inner_form, self.hypergradient)
        if self.num_classes < 2:
            raise InputError(f"config dataset.num_classes={self.num_classes}: expected at least 2")
        if not 0 < self.train_fraction < 1:
            raise InputError(
                f"config hume.train_fraction={self.train_fraction}: expected a value in (0, 1)"
            )
        for name in ("inner_lr", "outer_lr", "tau", "grad_clip"):
            if getattr(self, name) <= 0:
                raise InputError(
                    f"config hume.{name}={getattr(self, name)}: expected a positive number"
                )
        for name in ("num_iters", "adaptation_steps", "num_subsets", "subset_size"):
            if getattr(self, name) < 1:
                raise InputError(
                    f"config hume.{name}={getattr(self, name)}: expected a positive integer"
                )

    @classmethod
    def from_config(cls, num_classes: int, section: dict[str, Any]) -> HumeConfig:
        """The config's ``hume`` section (YAML lists as tuples) with ``dataset.num_classes``."""
        return cls(
            num_classes=num_classes,
            **{k: tuple(v) if isinstance(v, list) else v for k, v in section.items()},
        )


@dataclass(frozen=True)
class ScoreConfig:
    """Settings of the generalisation score (config ``score``); the defaults are the paper's
    10-fold cross-validation (docs/algorithm.md), fitted by scikit-learn."""

    n_folds: int = 10
    max_iter: int = 100  # iterations of the logistic-regression solver
    backend: ScoreBackend = "sklearn"

    def __post_init__(self) -> None:
        """Raises InputError naming the config key (``score.<field>``)."""
        check_choice("score.backend", self.backend, SCORE_BACKENDS)
        if self.n_folds < 2:
            raise InputError(f"config score.n_folds={self.n_folds}: expected at least 2")
        if self.max_iter < 1:
            raise InputError(f"config score.max_iter={self.max_iter}: expected a positive integer")


def config_dict(config: HumeConfig) -> dict:
    """The hyperparameters as a JSON-serialisable dict (recorded in every run file)."""
    out = asdict(config)
    out["anneal_milestones"] = list(config.anneal_milestones)
    return out
