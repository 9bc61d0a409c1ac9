"""Rule extract_embeddings: features of every image of a dataset under one backbone; for kind
precomputed, the user's features read from files and aligned to the dataset (no torch)."""

from hume_workflow.logs import log_to_file

log_to_file(snakemake.log[0])  # first: an interrupt during the imports is one line too

from hume_workflow.plan.backbone_kinds import PRECOMPUTED

# params.spec: the keys that decide the features; the config adds the speed-only ones
spec = dict(snakemake.config["backbones"][snakemake.wildcards.backbone])
if spec["kind"] == PRECOMPUTED:
    from hume_workflow.embed.precomputed import embed_precomputed

    embed_precomputed(snakemake.input[0], snakemake.output[0], snakemake.wildcards.backbone, spec)
else:
    import torch

    from hume_workflow.cluster.gpu_slots import job_device
    from hume_workflow.embed.pipeline import embed_dataset

    torch.set_num_threads(snakemake.threads)
    embed_dataset(
        snakemake.input[0],
        snakemake.output[0],
        backbone_name=snakemake.wildcards.backbone,
        spec=spec,
        device=job_device(snakemake.resources.gpu),
    )
