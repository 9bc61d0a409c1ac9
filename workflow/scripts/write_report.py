"""Rule write_report: the tables of every pair and baseline as CSV, Markdown and HTML."""

from hume_workflow.io import read_json
from hume_workflow.logs import log_to_file
from hume_workflow.report import summary_tables, write_report

log_to_file(snakemake.log[0])
pairs = [read_json(path) for path in snakemake.input.metrics]
baselines = {}
for path in snakemake.input.baselines:
    entry = read_json(path)
    baselines[entry["backbone"]] = entry
tables = summary_tables(pairs, baselines)
write_report(tables, dict(snakemake.output.items()), f"HUME on {snakemake.wildcards.dataset}")
