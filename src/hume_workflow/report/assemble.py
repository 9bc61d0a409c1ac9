"""The whole report of a dataset from the files of its steps: tables, figures, provenance."""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from hume_workflow.formats.io import read_h5, read_json
from hume_workflow.formats.run import RunInfo, read_run, read_runs
from hume_workflow.report.page import write_report
from hume_workflow.report.panels import (
    pair_figures,
    provenance_table,
    read_thumbnails,
    wall_time_table,
)
from hume_workflow.report.paper import reported_beside_ours
from hume_workflow.report.tables import summary_tables

Paths = Sequence[str | os.PathLike]


@dataclass(frozen=True)
class ReportInputs:
    """The files a report reads: exactly the write_report rule's inputs."""

    data: str | os.PathLike  # data.h5
    metrics: Paths  # one metrics.json per pair
    votes: Paths  # one vote.csv per pair, in the order of ``metrics``
    runs: Paths  # every run file of every pair
    baselines: Paths  # one baseline JSON per space
    embeddings: Paths  # one embedding file per space
    benchmarks: dict[str, Paths]  # step (rule) -> its Snakemake benchmark TSVs


@dataclass(frozen=True)
class ReportFacts:
    """What the config says about the runs, shown in the provenance table."""

    dataset: str
    source: str
    setting: str
    num_runs: int
    top_n: int | None
    workflow_dir: str  # the checkout whose git commit is recorded


def runs_by_pair(run_paths: Paths) -> dict[tuple[str | None, str | None], dict[int, RunInfo]]:
    """{(phi1, phi2): {seed: run}} of run files (attributes only), by their own records."""
    grouped: dict[tuple[str | None, str | None], list[str | os.PathLike]] = defaultdict(list)
    for path in run_paths:
        run = read_run(path, arrays=())
        grouped[run.phi1, run.phi2].append(path)
    return {pair: read_runs(paths) for pair, paths in grouped.items()}


def make_report(
    inputs: ReportInputs, facts: ReportFacts, outputs: dict[str, str | os.PathLike]
) -> None:
    """Write the report (see :func:`~hume_workflow.report.page.write_report` for ``outputs``)."""
    pairs = [read_json(path) for path in inputs.metrics]
    baselines = {(b := read_json(path))["backbone"]: b for path in inputs.baselines}
    tables = summary_tables(pairs, baselines)
    all_votes = [pd.read_csv(path) for path in inputs.votes]
    images = read_thumbnails(inputs.data, all_votes)
    class_names = [str(n) for n in read_h5(inputs.data, [])[1].get("class_names", [])]
    runs = runs_by_pair(inputs.runs)
    figures = {
        f"{m['phi1']} + {m['phi2']}": pair_figures(
            m, v, runs[m["phi1"], m["phi2"]], images, class_names
        )
        for m, v in zip(pairs, all_votes, strict=True)
    }
    shown = {
        "dataset": facts.dataset,
        "source": facts.source,
        "setting": facts.setting,
        "num_runs": facts.num_runs,
        "top_n": "all" if facts.top_n is None else facts.top_n,
    }
    one_run = next(iter(next(iter(runs.values())).values()))
    extra = {
        "Provenance": provenance_table(shown, one_run, inputs.embeddings, facts.workflow_dir),
        "Wall time per step (Snakemake benchmarks)": wall_time_table(inputs.benchmarks),
    }
    reported = reported_beside_ours(facts.dataset, tables["summary"])
    paper = (
        {}
        if reported is None
        else {"The paper's reported numbers beside ours (ACC / ARI, %)": reported}
    )
    write_report(tables, outputs, f"HUME on {facts.dataset}", figures, extra, paper)
