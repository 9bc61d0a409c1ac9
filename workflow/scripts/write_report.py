"""Rule write_report: tables, figures and provenance of every pair in one HTML page."""

import platform
import subprocess

import h5py
import numpy as np
import pandas as pd

from hume_workflow import figures
from hume_workflow.io import read_h5, read_json
from hume_workflow.logs import log_to_file
from hume_workflow.paper import reported_beside_ours
from hume_workflow.report import summary_tables, write_report

log_to_file(snakemake.log[0])
params = snakemake.params
pairs = [read_json(path) for path in snakemake.input.metrics]
baselines = {}
for path in snakemake.input.baselines:
    entry = read_json(path)
    baselines[entry["backbone"]] = entry
tables = summary_tables(pairs, baselines)
dataset = snakemake.wildcards.dataset

BEST, WORST = 8, 4  # images per cluster row of the grids: most, least agreed-upon
all_votes = [pd.read_csv(path) for path in snakemake.input.votes]
needed = sorted(
    {
        int(index)
        for votes in all_votes
        for cluster in figures.grid_clusters(votes)
        for _, index in figures.grid_samples(votes, cluster, BEST, WORST)
    }
)  # only the thumbnails shown are read (h5py wants increasing indices)
class_names = [str(n) for n in read_h5(snakemake.input.data, [])[1].get("class_names", [])]
with h5py.File(snakemake.input.data) as f:
    images = dict(zip(needed, f["images"][needed], strict=True)) if needed else {}
for index, image in images.items():
    images[index] = image if image.ndim == 3 else image[..., None]


def pair_figures(metrics: dict, votes: pd.DataFrame) -> list[tuple[str, str]]:
    """(caption, base64 PNG) panels of one pair; the truth's panels only when it is known."""
    labelled = metrics["vote"]["acc"] is not None
    panels = []
    if labelled:
        panels.append(("Generalisation score vs ACC per run", figures.score_vs_acc(metrics)))
    what = "ACC" if labelled else "mean agreement"
    panels.append(
        (f"Vote {what} with the top-n runs by score", figures.vote_by_n(metrics, labelled))
    )
    if labelled:
        caption = "Confusion of the vote (Hungarian-matched) against the truth"
        panels.append((caption, figures.confusion(metrics, class_names)))
    panels.append(("Cluster sizes of the vote", figures.cluster_sizes(metrics)))
    hist = figures.agreement_histogram(votes.agreement.to_numpy())
    panels.append(("Per-sample agreement of the voting runs", hist))
    if labelled and metrics["coverage"]:
        panels.append(("ACC vs coverage, keeping agreement ≥ t", figures.coverage(metrics)))
    runs = sorted(metrics["runs"], key=lambda r: -r["score"])
    ends = {"best": runs[0], "worst": runs[-1]} if len(runs) > 1 else {"best": runs[0]}
    traces = {k: read_h5(r["path"], ["trace"])[0]["trace"] for k, r in ends.items()}
    titles = {k: f"{k} score: seed {r['seed']} ({r['score']:.3f})" for k, r in ends.items()}
    panels.append(
        ("Training curves of the best and worst run", figures.training_curves(traces, titles))
    )
    grid = figures.image_grid(votes, images, BEST, WORST)
    panels.append(("Per cluster: most agreed-upon images | least agreed-upon", grid))
    return panels


figs = {
    f"{m['phi1']} + {m['phi2']}": pair_figures(m, v) for m, v in zip(pairs, all_votes, strict=True)
}


def git_commit() -> str:
    try:
        cmd = ["git", "-C", params.source, "rev-parse", "HEAD"]
        return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


attrs = read_h5(pairs[0]["runs"][0]["path"], [])[1]
provenance = {
    "dataset": dataset,
    "source": params.dataset_source,
    "setting": params.setting,
    "num_runs": params.num_runs,
    "top_n": "all" if params.top_n is None else params.top_n,
    "git commit": git_commit(),
    "host": f"{platform.node()} ({platform.machine()}, {platform.system()})",
    "device (embeddings)": ", ".join(
        f"{a.get('backbone', '?')}: {a.get('device', 'unknown')}"
        for a in (read_h5(path, [])[1] for path in snakemake.input.embeddings)
    ),
    **{f"hyperparameter {k}": v for k, v in sorted(attrs.get("hyperparameters", {}).items())},
    **{f"version {k}": v for k, v in sorted(attrs.get("versions", {}).items())},
}
provenance_table = pd.DataFrame(
    {"key": list(provenance), "value": list(map(str, provenance.values()))}
)
bench = []
for path in snakemake.input.benchmarks:
    job = pd.read_csv(path, sep="\t").iloc[-1]
    step = path.split("/benchmarks/")[1].split("/")[0]
    bench.append({"step": step, "s": float(job["s"]), "max_rss_mb": job.get("max_rss", np.nan)})
bench = pd.DataFrame(bench, columns=["step", "s", "max_rss_mb"])
bench["max_rss_mb"] = pd.to_numeric(bench["max_rss_mb"], errors="coerce")
wall = bench.groupby("step", sort=False).agg(
    jobs=("s", "size"), total_s=("s", "sum"), max_s=("s", "max"), max_rss_mb=("max_rss_mb", "max")
)
paper = {}
reported = reported_beside_ours(dataset, tables["summary"])
if reported is not None:
    paper["The paper's reported numbers beside ours (ACC / ARI, %)"] = reported
extra = {
    "Provenance": provenance_table,
    "Wall time per step (Snakemake benchmarks)": wall.reset_index(),
}
out = dict(snakemake.output.items())
write_report(tables, out, f"HUME on {dataset}", figs, extra, paper)
