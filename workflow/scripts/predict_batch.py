"""Rule predict_batch: a batch of new images labelled by a finished task."""

from hume_workflow.logs import log_to_file

log_to_file(snakemake.log[0])  # first: an interrupt during the imports is one line too

from hume_workflow.formats.io import atomic_path
from hume_workflow.predict.labelling import label_batch

inputs, params = snakemake.input, snakemake.params
labels = label_batch(
    inputs.data,
    inputs.probe,
    inputs.batch,
    dict(zip(params.spaces, inputs.batch_spaces, strict=True)),
    inputs.choice,
    inputs.vote,
    dict(zip(params.ks, inputs.selections, strict=True)),
    inputs.runs,
    params.method,
)
with atomic_path(snakemake.output[0]) as tmp:
    labels.to_csv(tmp, index=False)
