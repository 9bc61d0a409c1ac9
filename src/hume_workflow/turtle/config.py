"""TURTLE's hyperparameters: a frozen dataclass, torch-free (the planner reads it).

The one home in code of their defaults, the reference implementation's (Gadetsky, Jiang &
Brbic, ICML 2024; docs/algorithm.md, "TURTLE"); tests/unit/test_config_defaults.py holds the
JSON schema's ``turtle`` section to them, field by field.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from hume_workflow.errors import InputError

#: The runs of a job are advanced together (stacked) while their batches take at most this
#: many bytes together; beyond it, one group after the other (at CIFAR's shapes, stacked
#: batches leave the cache and each run is slower).
STACK_BYTES = 64e6


@dataclass(frozen=True)
class TurtleConfig:
    """Hyperparameters of one TURTLE run; the defaults are the reference's."""

    num_classes: int
    gamma: float = 10.0  # weight of the per-space entropy of the mean labeling
    num_iters: int = 6000  # outer iterations (the reference's T)
    batch_size: int = 10000  # samples per outer iteration, capped at the samples fitted on
    inner_steps: int = 10  # Adam steps of the inner classifiers per outer iteration (M)
    inner_lr: float = 0.001
    outer_lr: float = 0.001
    beta1: float = 0.9  # Adam's betas, both levels
    beta2: float = 0.999
    warm_start: bool = False  # keep the inner classifiers (and their Adam state) across iterations

    def __post_init__(self) -> None:
        """Raises InputError naming the config key (``turtle.<field>``, ``dataset.num_classes``)."""
        if self.num_classes < 2:
            raise InputError(f"config dataset.num_classes={self.num_classes}: expected at least 2")
        for name in ("inner_lr", "outer_lr"):
            if getattr(self, name) <= 0:
                raise InputError(
                    f"config turtle.{name}={getattr(self, name)}: expected a positive number"
                )
        if self.gamma < 0:
            raise InputError(f"config turtle.gamma={self.gamma}: expected a number >= 0")
        for name in ("beta1", "beta2"):
            if not 0 <= getattr(self, name) < 1:
                raise InputError(
                    f"config turtle.{name}={getattr(self, name)}: expected a value in [0, 1)"
                )
        for name in ("num_iters", "batch_size", "inner_steps"):
            if getattr(self, name) < 1:
                raise InputError(
                    f"config turtle.{name}={getattr(self, name)}: expected a positive integer"
                )

    @classmethod
    def from_config(cls, num_classes: int, section: dict[str, Any]) -> TurtleConfig:
        """The hyperparameters of the config's ``turtle`` section (its ``tasks`` left out)
        with K."""
        return cls(num_classes=num_classes, **hyperparameters(section))


def hyperparameters(section: dict[str, Any]) -> dict[str, Any]:
    """The config's ``turtle`` section without its ``tasks``: what decides a run (the params
    of run_turtle, so that adding a task reruns no other task's runs)."""
    return {key: value for key, value in section.items() if key != "tasks"}


def turtle_config_dict(config: TurtleConfig) -> dict:
    """The hyperparameters as a JSON-serialisable dict (recorded in every run file)."""
    return asdict(config)
