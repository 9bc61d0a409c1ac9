"""The report page's panels and side tables: figures per task, provenance, wall times.

Everything the report shows besides the tables of :mod:`hume_workflow.report.tables`.
"""

from __future__ import annotations

import os
import platform
import subprocess
from collections.abc import Sequence

import numpy as np
import pandas as pd

from hume_workflow.formats.io import open_h5, read_h5
from hume_workflow.formats.run import RunRecord, read_run
from hume_workflow.report import figures
from hume_workflow.report.tables import LARGE_K

BEST, WORST = 8, 4  # images per cluster row of the grids: most, least agreed-upon


def read_thumbnails(data_path: str | os.PathLike, all_votes: list[pd.DataFrame]) -> dict:
    """{sample index: (H, W, C) uint8 image} of the samples the cluster grids show, only those;
    {} for a dataset without images (features_only)."""
    needed = sorted(
        {
            int(index)
            for votes in all_votes
            for cluster in figures.grid_clusters(votes)
            for _, index in figures.grid_samples(votes, cluster, BEST, WORST)
        }
    )  # h5py wants increasing indices
    if not needed:
        return {}
    with open_h5(data_path) as f:
        if "images" not in f:
            return {}
        return dict(zip(needed, f["images"][needed], strict=True))


def pair_figures(
    metrics: dict,
    votes: pd.DataFrame,
    run_files: dict[int, RunRecord],
    images: dict,
    class_names: list[str],
) -> list[tuple[str, str]]:
    """(caption, base64 PNG) panels of one task; the truth's panels only when it is known.

    ``run_files``: the task's run files by seed (the loss traces of two of them are read).
    """
    labelled = metrics["vote"]["acc"] is not None
    panels = []
    if labelled:
        panels.append(("Generalisation score vs ACC per run", figures.score_vs_acc(metrics)))
    what = "ACC" if labelled else "mean agreement"
    panels.append(
        (f"Vote {what} with the top-n runs by score", figures.vote_by_n(metrics, labelled))
    )
    if labelled:
        panels.append((confusion_caption(len(metrics["confusion"])),
                       figures.confusion(metrics, class_names)))  # fmt: skip
    caption = "Cluster sizes of the vote"
    if len(metrics["vote"]["clusters"]) > LARGE_K:
        caption += ", largest first, coloured by their mean agreement"
    panels.append((caption, figures.cluster_sizes(metrics)))
    hist = figures.agreement_histogram(votes.agreement.to_numpy())
    panels.append(("Per-sample agreement of the voting runs", hist))
    if labelled and metrics["coverage"]:
        panels.append(("ACC vs coverage, keeping agreement ≥ t", figures.coverage(metrics)))
    runs = sorted(metrics["runs"], key=lambda r: -r["score"])
    ends = {"best": runs[0], "worst": runs[-1]} if len(runs) > 1 else {"best": runs[0]}
    traces = {k: read_run(run_files[r["seed"]].path, ["trace"]).trace for k, r in ends.items()}
    titles = {k: f"{k} score: seed {r['seed']} ({r['score']:.3f})" for k, r in ends.items()}
    panels.append(
        ("Training curves of the best and worst run", figures.training_curves(traces, titles))
    )
    if images:  # none for a dataset without images
        grid = figures.image_grid(votes, images, BEST, WORST)
        panels.append(("Per cluster: most agreed-upon images | least agreed-upon", grid))
    return panels


def confusion_caption(classes: int) -> str:
    """The caption of the confusion figure of ``classes`` classes (summarised above
    :data:`~hume_workflow.report.tables.LARGE_K`, :func:`figures.confusion_summary`)."""
    caption = "Confusion of the vote (Hungarian-matched) against the truth"
    if classes <= LARGE_K:
        return caption
    return (
        f"{caption}, {classes} classes: each class's recall, sorted, and the matrix pooled "
        f"into blocks of {figures.confusion_block(classes)} classes (log scale); the most "
        "confused pairs are in the table below"
    )


def git_commit(folder: str | os.PathLike) -> str:
    """The commit checked out in ``folder``, or "unknown" outside a git checkout."""
    try:
        cmd = ["git", "-C", str(folder), "rev-parse", "HEAD"]
        return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def provenance_table(
    facts: dict, run: RunRecord, embedding_paths: Sequence[str | os.PathLike], workflow_dir: str
) -> pd.DataFrame:
    """Key/value rows: ``facts``, git commit, host, embedding devices, one run's
    hyperparameters and package versions."""
    provenance = {
        **facts,
        "git commit": git_commit(workflow_dir),
        "host": f"{platform.node()} ({platform.machine()}, {platform.system()})",
        "device (embeddings)": ", ".join(
            f"{a.get('backbone', '?')}: {a.get('device', 'unknown')}"
            for a in (read_h5(path, [])[1] for path in embedding_paths)
        ),
        **{f"hyperparameter {k}": v for k, v in sorted(run.hyperparameters.items())},
        **{f"version {k}": v for k, v in sorted(run.versions.items())},
    }
    return pd.DataFrame({"key": list(provenance), "value": list(map(str, provenance.values()))})


def wall_time_table(benchmarks: dict[str, Sequence[str | os.PathLike]]) -> pd.DataFrame:
    """Per step: jobs, total and longest wall time, peak RSS, from Snakemake's benchmark TSVs.

    ``benchmarks``: step (rule name) -> the benchmark files of its jobs.
    """
    rows = []
    for step, paths in benchmarks.items():
        for path in paths:
            job = pd.read_csv(path, sep="\t").iloc[-1]
            rows.append(
                {"step": step, "s": float(job["s"]), "max_rss_mb": job.get("max_rss", np.nan)}
            )
    bench = pd.DataFrame(rows, columns=["step", "s", "max_rss_mb"])
    bench["max_rss_mb"] = pd.to_numeric(bench["max_rss_mb"], errors="coerce")
    wall = bench.groupby("step", sort=False).agg(
        jobs=("s", "size"),
        total_s=("s", "sum"),
        max_s=("s", "max"),
        max_rss_mb=("max_rss_mb", "max"),
    )
    return wall.reset_index()
