"""Rule embed_batch: a batch's samples in one backbone's space, projected as the dataset's
were: its images through the backbone, or its feature file for that backbone."""

from hume_workflow.logs import log_to_file

log_to_file(snakemake.log[0])  # first: an interrupt during the imports is one line too

import torch

from hume_workflow.cluster.gpu_slots import job_device
from hume_workflow.embed.pipeline import embed_dataset
from hume_workflow.formats.embeddings import read_pca
from hume_workflow.predict.feature_batches import embed_feature_batch, feature_file

torch.set_num_threads(snakemake.threads)
batch, inputs, new = snakemake.params.batch, snakemake.input, snakemake.wildcards.new
backbone, output = snakemake.wildcards.backbone, snakemake.output[0]
# params.spec: the keys that decide the features; the config adds the speed-only ones
spec = dict(snakemake.config["backbones"][backbone])
pca = read_pca(inputs.space) if spec.get("pca_dim") else None
if "features" in batch:
    path, key = feature_file(new, batch, backbone)
    embed_feature_batch(
        inputs.batch, output, backbone, spec, path, key, pca, space=inputs.space, batch_name=new
    )
else:
    device = job_device(snakemake.resources.gpu)
    embed_dataset(inputs.batch, output, backbone, spec, device, pca=pca)
