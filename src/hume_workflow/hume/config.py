"""HUME's hyperparameters: one frozen dataclass, torch-free (the planner reads it)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from hume_workflow.errors import InputError
from hume_workflow.hume.inner_forms import INNER_FORMS

# How the outer gradient goes back through the inner optimisation. closed_form and autograd
# are the same exact second-order hypergradient (closed_form is faster and lighter);
# first_order detaches the labels inside the inner loop (as TURTLE does): cheaper, not HUME's.
HYPERGRADIENTS = ("closed_form", "autograd", "first_order")


@dataclass(frozen=True)
class HumeConfig:
    """Hyperparameters of one HUME run; the defaults are the paper's (HUME_SPEC.md)."""

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
    hypergradient: str = "closed_form"
    shared_subsets: bool = False  # runs of one process draw common subsets (run_hume_many)
    inner_form: str = "auto"  # where the inner descent runs: inner_forms.py

    def __post_init__(self) -> None:
        """Raises InputError naming the config key (``hume.<field>``, ``dataset.num_classes``)."""
        if self.hypergradient not in HYPERGRADIENTS:
            raise InputError(
                f"config hume.hypergradient={self.hypergradient!r}: expected one of "
                f"{', '.join(HYPERGRADIENTS)}"
            )
        if self.inner_form not in INNER_FORMS:
            raise InputError(
                f"config hume.inner_form={self.inner_form!r}: expected one of "
                f"{', '.join(INNER_FORMS)}"
            )
        if self.inner_form == "gram" and self.hypergradient == "autograd":
            raise InputError(
                "config hume.inner_form='gram' needs hypergradient closed_form or first_order "
                "(autograd unrolls the weights); set hume.hypergradient: closed_form"
            )
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


def config_dict(config: HumeConfig) -> dict:
    """The hyperparameters as a JSON-serialisable dict (recorded in every run file)."""
    out = asdict(config)
    out["anneal_milestones"] = list(config.anneal_milestones)
    return out
