"""Rule prepare_dataset: load the configured dataset and write it as data.h5."""

from hume_workflow.datasets import prepare_dataset, write_dataset
from hume_workflow.logs import log_to_file

log_to_file(snakemake.log[0])
spec = snakemake.params.dataset
dataset = prepare_dataset(
    spec["source"],
    test_fraction=spec["test_fraction"],
    split_seed=spec["split_seed"],
    max_samples=spec["max_samples"],
)
dataset.name = spec["name"]
if dataset.num_classes != spec["num_classes"]:
    raise ValueError(
        f"config dataset.num_classes={spec['num_classes']} but {spec['source']} has "
        f"{dataset.num_classes} classes"
    )
write_dataset(snakemake.output[0], dataset)
