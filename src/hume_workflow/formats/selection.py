"""The selection manifest (JSON): a pair's runs ranked by generalisation score, by seed.

It names runs by seed only; the rules pass the run files themselves (``snakemake.input``),
so every step opens only files its rule declares. Keys added later (``n_collapsed``, ``weights``,
and ``collapsed`` and ``kappa`` of each ranked run) read as 0 / "uniform" / False / None from
manifests written before them.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass

from hume_workflow.formats.io import json_fields, read_json, write_json


@dataclass(frozen=True)
class RankedRun:
    """One run in the ranking."""

    seed: int
    score: float
    degenerate: bool
    n_clusters: int | None
    collapsed: bool = False  # see hume_workflow.aggregate.collapse.collapsed; False in older files
    kappa: float | None = None  # the run's chance-corrected score; None in older files


@dataclass(frozen=True)
class Selection:
    """Which runs vote: ``selected`` (seeds, best first) of ``ranked`` (all runs, best first)."""

    top_n: int | None  # as asked; None: all runs
    n_runs: int
    n_selected: int
    n_degenerate: int
    note: str | None  # fewer runs than top_n, degenerate or collapsed runs; None: nothing to say
    selected: list[int]
    ranked: list[RankedRun]
    n_collapsed: int = 0  # 0 in older files
    # how the selected runs vote (aggregation.weights: aggregate/weights.py VOTE_WEIGHTS)
    weights: str = "uniform"


def write_selection(path: str | os.PathLike, selection: Selection) -> None:
    """Write the manifest as JSON, atomically."""
    write_json(path, dataclasses.asdict(selection))


def read_selection(path: str | os.PathLike) -> Selection:
    """The manifest written by :func:`write_selection` (or before ``n_collapsed`` existed).

    Raises:
        InputError: not JSON, or not a selection manifest (naming the missing keys).
    """
    data = json_fields(read_json(path), Selection, path, "select_runs")
    ranked = [
        json_fields(r, RankedRun, path, "select_runs", " in a ranked run") for r in data["ranked"]
    ]
    return Selection(**{**data, "ranked": [RankedRun(**r) for r in ranked]})
