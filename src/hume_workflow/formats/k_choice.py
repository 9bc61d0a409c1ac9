"""The K choice (JSON): a task's label-free evidence for every K of a sweep and the K it picks.

Written by the choose_k rule as ``<method>/<task>/k_choice.json``; the task's ``vote.csv``
beside it is the vote of ``chosen_k``.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass

from hume_workflow.formats.io import read_json_fields, write_json


@dataclass(frozen=True)
class KChoice:
    """Which K a task's sweep picks, and the evidence for every K."""

    method: str  # the method whose runs these are, e.g. "hume"
    spaces: list[str]  # the task's spaces, in the method's order
    criterion: str  # the config's k_choice.criterion
    chosen_k: int
    evidence: dict[int, dict[str, float]]  # K -> criterion -> value (higher is better)
    n_runs: dict[int, int]  # K -> runs the evidence comes from


def write_k_choice(path: str | os.PathLike, choice: KChoice) -> None:
    """Write the choice as JSON, atomically (NaN written as null)."""
    data = dataclasses.asdict(choice)
    data["evidence"] = {
        str(k): {name: (None if v != v else v) for name, v in row.items()}
        for k, row in choice.evidence.items()
    }
    data["n_runs"] = {str(k): n for k, n in choice.n_runs.items()}
    write_json(path, data)


def read_k_choice(path: str | os.PathLike) -> KChoice:
    """The choice written by :func:`write_k_choice` (null read back as NaN).

    Raises:
        InputError: not JSON, or not a K choice (naming the missing keys).
    """
    data = read_json_fields(path, KChoice, "choose_k")
    evidence = {
        int(k): {name: float("nan") if v is None else float(v) for name, v in row.items()}
        for k, row in data["evidence"].items()
    }
    n_runs = {int(k): int(n) for k, n in data["n_runs"].items()}
    return KChoice(
        data["method"],
        list(data["spaces"]),
        data["criterion"],
        int(data["chosen_k"]),
        evidence,
        n_runs,
    )
