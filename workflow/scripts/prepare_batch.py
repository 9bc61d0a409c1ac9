"""Rule prepare_batch: a folder of new images as data.h5, in the dataset's image format."""

from hume_workflow.formats.dataset import write_dataset
from hume_workflow.logs import log_to_file
from hume_workflow.predict.images import prepare_batch

log_to_file(snakemake.log[0])
write_dataset(snakemake.output[0], prepare_batch(snakemake.params.root, snakemake.input[0]))
