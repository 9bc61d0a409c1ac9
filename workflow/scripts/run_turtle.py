"""Rule run_turtle: the TURTLE runs (seeds) of one job of one task at one K."""

from hume_workflow.logs import log_to_file

log_to_file(snakemake.log[0])  # first: an interrupt during the imports is one line too

import torch
from threadpoolctl import threadpool_limits

from hume_workflow.cluster.faults import fail_once_if_asked
from hume_workflow.cluster.gpu_slots import job_device
from hume_workflow.hume.config import ScoreConfig
from hume_workflow.plan.layout import job_seeds
from hume_workflow.turtle.config import TurtleConfig
from hume_workflow.turtle.runs import TurtleJob, run_job

torch.set_num_threads(snakemake.threads)
threadpool_limits(snakemake.threads)  # scikit-learn's BLAS/OpenMP too: jobs share cores
params, wildcards = snakemake.params, snakemake.wildcards
job = f"run_turtle:{wildcards.task}:k{wildcards.k}:job{wildcards.batch}"
run_job(
    TurtleJob(
        data=snakemake.input.data,
        spaces=list(snakemake.input.spaces),
        names=list(params.spaces),
        outputs=list(snakemake.output),
        seeds=job_seeds(int(wildcards.batch), params.runs_per_job),
        setting=params.setting,
        turtle=TurtleConfig.from_config(params.num_classes, params.turtle),
        score=ScoreConfig(**params.score),
        device=job_device(snakemake.resources.gpu),
        provenance={"dataset": wildcards.dataset},
    ),
    before_writing=lambda: fail_once_if_asked(job, f"{snakemake.log[0]}.failed-once"),
)
