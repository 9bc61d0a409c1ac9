"""Rule run_hume: the HUME runs (seeds) of one job of one (phi1, phi2) task at one K."""

from hume_workflow.logs import log_to_file

log_to_file(snakemake.log[0])  # first: an interrupt during the imports is one line too

import torch
from threadpoolctl import threadpool_limits

from hume_workflow.cluster.faults import fail_once_if_asked
from hume_workflow.cluster.gpu_slots import job_device
from hume_workflow.hume.config import HumeConfig, ScoreConfig
from hume_workflow.hume.runs import RunJob, run_job
from hume_workflow.plan.layout import job_seeds

torch.set_num_threads(snakemake.threads)
threadpool_limits(snakemake.threads)  # scikit-learn's BLAS/OpenMP too: jobs share cores
params, wildcards = snakemake.params, snakemake.wildcards
phi1, phi2 = snakemake.input.spaces
job = f"run_hume:{wildcards.task}:k{wildcards.k}:job{wildcards.batch}"
run_job(
    RunJob(
        data=snakemake.input.data,
        phi1=phi1,
        phi2=phi2,
        outputs=list(snakemake.output),
        seeds=job_seeds(int(wildcards.batch), params.runs_per_job),
        setting=params.setting,
        hume=HumeConfig.from_config(params.num_classes, params.hume),
        score=ScoreConfig(**params.score),
        device=job_device(snakemake.resources.gpu),
        spaces=tuple(params.spaces),
        provenance={"dataset": wildcards.dataset},
    ),
    before_writing=lambda: fail_once_if_asked(job, f"{snakemake.log[0]}.failed-once"),
)
