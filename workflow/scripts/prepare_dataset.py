"""Rule prepare_dataset: load the configured dataset and write it as data.h5."""

from hume_workflow.datasets import write_dataset
from hume_workflow.image_sources import prepare_dataset
from hume_workflow.logs import log_to_file

log_to_file(snakemake.log[0])
spec = snakemake.params.dataset
dataset = prepare_dataset(
    spec["source"],
    test_fraction=spec["test_fraction"],
    split_seed=spec["split_seed"],
    max_samples=spec["max_samples"],
    root=spec["root"],
    download=spec["download"],
    local_root=spec["local_root"],
    image_size=spec["image_size"],
    skip_bad_images=spec["skip_bad_images"],
)
dataset.name = spec["name"]
if not dataset.class_names:  # unlabelled images (a flat image_folder): K comes from the config
    dataset.declared_num_classes = spec["num_classes"]
elif dataset.num_classes != spec["num_classes"]:
    raise ValueError(
        f"config dataset.num_classes={spec['num_classes']} but {spec['source']} has "
        f"{dataset.num_classes} classes"
    )
write_dataset(snakemake.output[0], dataset)
