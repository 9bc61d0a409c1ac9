"""Rule prepare_dataset: load the configured dataset and write it as data.h5."""

from hume_workflow.logs import log_to_file

log_to_file(snakemake.log[0])  # first: an interrupt during the imports is one line too

from hume_workflow.data.prepare import prepare_configured
from hume_workflow.formats.dataset import write_dataset

# params.identity: the keys that decide the samples; the config says where they are read from
spec = snakemake.config["dataset"]
dataset = prepare_configured(spec)
dataset.name = spec["name"]
write_dataset(snakemake.output[0], dataset, snakemake.params.identity)
