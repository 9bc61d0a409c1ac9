"""HUME's plan-time checks of its config section (torch-free): what the schema alone cannot
say, given the samples HUME will fit on. The planner calls them
(:func:`hume_workflow.plan.preflight.check_values`) before any job runs."""

from __future__ import annotations

from hume_workflow.hume.inner_forms import check_inner_form, train_size


def check_hume(config: dict, n_fit: int) -> list[str]:
    """Check the (defaults-filled) ``config``'s ``hume`` section against the ``n_fit``
    samples HUME fits on; returns warnings.

    Raises:
        InputError: a gram inner form with the autograd hypergradient, or a subset whose
            train/held-out split leaves a part empty.
    """
    if not config["pairs"]:  # no HUME task: its section is never used
        return []
    hume = config["hume"]
    check_inner_form(hume["inner_form"], hume["hypergradient"])
    train_size(min(hume["subset_size"], n_fit), hume["train_fraction"])
    if hume["subset_size"] > n_fit:
        return [
            f"config hume.subset_size={hume['subset_size']} is more than the {n_fit} samples "
            f"HUME fits on: each subset holds all {n_fit}"
        ]
    return []
