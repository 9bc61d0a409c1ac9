"""The selection manifest (JSON): a pair's runs ranked by generalisation score, by seed.

It names runs by seed only; the rules pass the run files themselves (``snakemake.input``),
so every step opens only files its rule declares.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass

from hume_workflow.formats.io import read_json_fields, write_json


@dataclass(frozen=True)
class RankedRun:
    """One run in the ranking."""

    seed: int
    score: float
    degenerate: bool
    n_clusters: int | None


@dataclass(frozen=True)
class Selection:
    """Which runs vote: ``selected`` (seeds, best first) of ``ranked`` (all runs, best first)."""

    top_n: int | None  # as asked; None: all runs
    n_runs: int
    n_selected: int
    n_degenerate: int
    note: str | None  # fewer runs than top_n, degenerate runs; None when nothing to say
    selected: list[int]
    ranked: list[RankedRun]


def write_selection(path: str | os.PathLike, selection: Selection) -> None:
    """Write the manifest as JSON, atomically."""
    write_json(path, dataclasses.asdict(selection))


def read_selection(path: str | os.PathLike) -> Selection:
    """The manifest written by :func:`write_selection`.

    Raises:
        InputError: not JSON, or not a selection manifest (naming the missing keys).
    """
    data = read_json_fields(path, Selection, "select_runs")
    keys = [f.name for f in dataclasses.fields(Selection)]
    ranked = [
        RankedRun(**{f.name: r[f.name] for f in dataclasses.fields(RankedRun)})
        for r in data["ranked"]
    ]
    return Selection(**{**{k: data[k] for k in keys}, "ranked": ranked})
