"""Rule write_report: tables, figures and provenance of every pair in one HTML page."""

import pandas as pd

from hume_workflow.formats.io import read_h5, read_json
from hume_workflow.logs import log_to_file
from hume_workflow.report.page import write_report
from hume_workflow.report.panels import (
    pair_figures,
    provenance_table,
    read_thumbnails,
    wall_time_table,
)
from hume_workflow.report.paper import reported_beside_ours
from hume_workflow.report.tables import summary_tables

log_to_file(snakemake.log[0])
params, dataset = snakemake.params, snakemake.wildcards.dataset
pairs = [read_json(path) for path in snakemake.input.metrics]
baselines = {(b := read_json(path))["backbone"]: b for path in snakemake.input.baselines}
tables = summary_tables(pairs, baselines)

all_votes = [pd.read_csv(path) for path in snakemake.input.votes]
images = read_thumbnails(snakemake.input.data, all_votes)
class_names = [str(n) for n in read_h5(snakemake.input.data, [])[1].get("class_names", [])]
figs = {
    f"{m['phi1']} + {m['phi2']}": pair_figures(m, v, images, class_names)
    for m, v in zip(pairs, all_votes, strict=True)
}

facts = {
    "dataset": dataset,
    "source": params.dataset_source,
    "setting": params.setting,
    "num_runs": params.num_runs,
    "top_n": "all" if params.top_n is None else params.top_n,
}
extra = {
    "Provenance": provenance_table(
        facts, pairs[0]["runs"][0]["path"], list(snakemake.input.embeddings), params.source
    ),
    "Wall time per step (Snakemake benchmarks)": wall_time_table(list(snakemake.input.benchmarks)),
}
reported = reported_beside_ours(dataset, tables["summary"])
paper = (
    {}
    if reported is None
    else {"The paper's reported numbers beside ours (ACC / ARI, %)": reported}
)
write_report(tables, dict(snakemake.output.items()), f"HUME on {dataset}", figs, extra, paper)
