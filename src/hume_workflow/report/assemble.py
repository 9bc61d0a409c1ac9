"""The whole report of a dataset from the files of its steps: tables, figures, provenance."""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from hume_workflow.aggregate.k_pick import k_certainty
from hume_workflow.aggregate.recommend import read_recommendation
from hume_workflow.errors import InputError
from hume_workflow.formats.io import read_h5, read_json
from hume_workflow.formats.k_choice import read_k_choice
from hume_workflow.formats.run import RunRecord, read_run, read_runs
from hume_workflow.formats.votes import read_labels, read_vote
from hume_workflow.report.evaluate import reliable_metrics
from hume_workflow.report.headline import make_headline
from hume_workflow.report.k_sweep import (
    TaskKey,
    evaluation,
    k_sweep_figure,
    k_sweep_table,
    task_key,
)
from hume_workflow.report.names import method_title, task_title
from hume_workflow.report.page import write_report
from hume_workflow.report.panels import (
    pair_figures,
    provenance_table,
    read_thumbnails,
    wall_time_table,
)
from hume_workflow.report.paper import reported_beside_ours
from hume_workflow.report.tables import drop_unknown_truth, summary_tables

Paths = Sequence[str | os.PathLike]


@dataclass(frozen=True)
class ReportInputs:
    """The files a report reads: exactly the write_report rule's inputs."""

    data: str | os.PathLike  # data.h5
    metrics: Paths  # one metrics.json per (task, K)
    choices: Paths  # one k_choice.json per task
    votes: Paths  # one vote.csv (of the chosen K) per task, in the order of ``choices``
    labels: Paths  # one labels.csv (export_labels) per task, in the order of ``choices``
    runs: Paths  # every run file of every task
    baselines: Paths  # one baseline JSON per space
    embeddings: Paths  # one embedding file per space
    benchmarks: dict[str, Paths]  # step (rule) -> its Snakemake benchmark TSVs
    recommendation: str | os.PathLike | None = None  # recommendation.json (rule recommend)


@dataclass(frozen=True)
class ReportFacts:
    """What the config says about the runs, shown in the provenance table."""

    dataset: str
    source: str
    setting: str
    num_runs: int
    top_n: int | None
    workflow_dir: str  # the checkout whose git commit is recorded
    reliable_agreement: float | None = None  # export.reliable_agreement, labels.csv's threshold


def runs_by_task(run_paths: Paths) -> dict[TaskKey, dict[int, RunRecord]]:
    """{(method, task, K): {seed: run}} of run files (attributes only), by their own records."""
    grouped: dict[TaskKey, list[str | os.PathLike]] = defaultdict(list)
    for path in run_paths:
        run = read_run(path, arrays=())
        grouped[task_key(run.method, run.spaces, run.num_classes)].append(path)
    return {key: read_runs(paths) for key, paths in grouped.items()}


def task_view(metrics: dict) -> dict:
    """A task's evaluation (metrics.json, which names its ``method`` and ``spaces``) as the
    report reads it: with its key, (method, task, K)."""
    return metrics | {"key": task_key(metrics["method"], metrics["spaces"], metrics["k"])}


def exported_reliability(
    labels_path: str | os.PathLike, votes: pd.DataFrame, truth: np.ndarray
) -> dict[str, float | None]:
    """``reliable_coverage`` and ``reliable_acc`` (:func:`reliable_metrics`) of a task's
    labels.csv, whose rows are its vote's (``votes``), against the dataset's ``truth`` (N,).

    Raises:
        InputError: labels.csv is not the export of this vote (one line naming it).
    """
    exported = read_labels(labels_path)
    if not np.array_equal(exported["label"], votes["label"]):
        raise InputError(
            f"{labels_path}: not the export of its task's vote ({len(exported)} rows, the vote "
            f"{len(votes)}); expected export_labels' output"
        )
    index = votes["sample_index"].to_numpy()
    return reliable_metrics(
        votes["label"].to_numpy(), exported["reliable"].to_numpy(dtype=bool), truth[index]
    )


def make_report(
    inputs: ReportInputs, facts: ReportFacts, outputs: dict[str, str | os.PathLike]
) -> None:
    """Write the report (see :func:`~hume_workflow.report.page.write_report` for ``outputs``)."""
    every = {(m := task_view(read_json(path)))["key"]: m for path in inputs.metrics}
    choices = [read_k_choice(path) for path in inputs.choices]
    all_votes = [read_vote(path) for path in inputs.votes]
    data, data_attrs = read_h5(inputs.data, ["labels"])
    pairs = [
        evaluation(c, c.chosen_k, every) | exported_reliability(path, votes, data["labels"])
        for c, votes, path in zip(choices, all_votes, inputs.labels, strict=True)
    ]
    baselines = {(b := read_json(path))["backbone"]: b for path in inputs.baselines}
    class_names = [str(n) for n in data_attrs.get("class_names", [])]
    tables = summary_tables(pairs, baselines, list(every.values()), class_names)
    images = read_thumbnails(inputs.data, all_votes)
    runs = runs_by_task(inputs.runs)
    figures = {}
    for choice, m, votes in zip(choices, pairs, all_votes, strict=True):
        panels = pair_figures(m, votes, runs[m["key"]], images, class_names)
        title = task_title(m["method"], m["spaces"])
        if len(choice.evidence) > 1:  # the headline (below) reads how sure the choice is too
            certainty = k_certainty(choice.evidence, choice.criterion)
            m["k_sentence"], m["k_identified"] = certainty.sentence(), certainty.identified
            caption = f"Choosing K without labels: {m['k_sentence']}"
            panels.insert(0, (caption, k_sweep_figure(choice, every)))
            title += f" (K = {choice.chosen_k} of {min(choice.evidence)}..{max(choice.evidence)})"
        figures[title] = panels
    sweeps = [c for c in choices if len(c.evidence) > 1]
    shown = {
        "dataset": facts.dataset,
        "source": facts.source,
        "setting": facts.setting,
        "num_runs": facts.num_runs,
        "top_n": "all" if facts.top_n is None else facts.top_n,
    }
    if facts.reliable_agreement is not None:
        shown["reliable_agreement"] = facts.reliable_agreement  # labels.csv's threshold
    one_run = next(iter(next(iter(runs.values())).values()))
    extra = {
        "Provenance": provenance_table(shown, one_run, inputs.embeddings, facts.workflow_dir),
        "Wall time per step (Snakemake benchmarks)": wall_time_table(inputs.benchmarks),
    }
    reported = reported_beside_ours(facts.dataset, tables["summary"])
    beside = (
        {}
        if reported is None
        else {"The paper's reported numbers beside ours (ACC / ARI, %)": reported}
    )
    if sweeps:
        heading = "K sweep: label-free criteria per K (higher is better), the chosen K"
        beside[heading] = drop_unknown_truth(k_sweep_table(sweeps, every))
    answer = None if inputs.recommendation is None else read_recommendation(inputs.recommendation)
    top = make_headline(pairs, baselines, answer)
    methods = " and ".join(method_title(m) for m in dict.fromkeys(c.method for c in choices))
    write_report(tables, outputs, f"{methods} on {facts.dataset}", figures, extra, beside, top)
