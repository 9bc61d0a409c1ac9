"""Rule prepare_dataset: load the configured dataset and write it as data.h5."""

from hume_workflow.data.prepare import declare_num_classes, prepare_configured
from hume_workflow.formats.dataset import write_dataset
from hume_workflow.logs import log_to_file
from hume_workflow.plan.dataset import dataset_identity

log_to_file(snakemake.log[0])
spec = snakemake.params.dataset
dataset = prepare_configured(spec)
dataset.name = spec["name"]
declare_num_classes(dataset, spec["num_classes"], spec["source"])
write_dataset(snakemake.output[0], dataset, dataset_identity(spec))
