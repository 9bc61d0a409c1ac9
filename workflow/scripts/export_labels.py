"""Rule export_labels: the pair's vote per sample id, flagged reliable by agreement."""

from hume_workflow.aggregate.export import export_labels
from hume_workflow.formats.io import atomic_path
from hume_workflow.logs import log_to_file

log_to_file(snakemake.log[0])
labels = export_labels(snakemake.input.vote, snakemake.input.data, snakemake.params.threshold)
with atomic_path(snakemake.output[0]) as tmp:
    labels.to_csv(tmp, index=False)
