"""Rule embed_batch: a batch's images through one backbone, projected as the dataset was."""

import torch

from hume_workflow.cluster.gpu_slots import job_device
from hume_workflow.embed.pipeline import embed_dataset, read_pca
from hume_workflow.logs import log_to_file

log_to_file(snakemake.log[0])
torch.set_num_threads(snakemake.threads)
spec, inputs = dict(snakemake.params.spec), snakemake.input
embed_dataset(
    inputs.batch,
    snakemake.output[0],
    snakemake.wildcards.backbone,
    spec,
    job_device(snakemake.resources.gpu),
    pca=read_pca(inputs.space) if spec.get("pca_dim") else None,
)
