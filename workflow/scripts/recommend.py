"""Rule recommend: one answer per dataset, picked without labels among every task's chosen K
(aggregate/recommend.py states the rule); its labels.csv copied beside the tasks."""

from hume_workflow.logs import log_to_file

log_to_file(snakemake.log[0])  # first: an interrupt during the imports is one line too

from hume_workflow.aggregate.recommend import recommend_labels

recommend_labels(
    snakemake.input.choices,
    snakemake.input.labels,
    snakemake.output.recommendation,
    snakemake.output.labels,
)
