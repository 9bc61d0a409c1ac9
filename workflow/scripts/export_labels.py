"""Rule export_labels: the task's vote per sample id, flagged reliable by agreement (never
where a space's raw features are constant)."""

from hume_workflow.logs import log_to_file

log_to_file(snakemake.log[0])  # first: an interrupt during the imports is one line too

from hume_workflow.aggregate.export import export_labels
from hume_workflow.formats.votes import write_labels

labels = export_labels(
    snakemake.input.vote,
    snakemake.input.data,
    snakemake.params.threshold,
    list(snakemake.input.spaces),
)
write_labels(snakemake.output[0], labels)
