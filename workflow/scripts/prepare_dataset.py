"""Rule prepare_dataset: load the configured dataset and write it as data.h5."""

from hume_workflow.dataset_plan import dataset_identity
from hume_workflow.datasets import write_dataset
from hume_workflow.image_sources import declare_num_classes, prepare_configured
from hume_workflow.logs import log_to_file

log_to_file(snakemake.log[0])
spec = snakemake.params.dataset
dataset = prepare_configured(spec)
dataset.name = spec["name"]
declare_num_classes(dataset, spec["num_classes"], spec["source"])
write_dataset(snakemake.output[0], dataset, dataset_identity(spec))
