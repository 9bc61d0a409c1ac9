"""Rule extract_embeddings: features of every image of a dataset under one backbone."""

import torch

from hume_workflow.cluster.gpu_slots import job_device
from hume_workflow.embed.pipeline import embed_dataset
from hume_workflow.logs import log_to_file

log_to_file(snakemake.log[0])
torch.set_num_threads(snakemake.threads)
embed_dataset(
    snakemake.input[0],
    snakemake.output[0],
    backbone_name=snakemake.wildcards.backbone,
    spec=dict(snakemake.params.spec),
    device=job_device(snakemake.resources.gpu),
)
