"""Rule run_hume: the HUME runs (seeds) of one job of one (phi1, phi2) pair."""

import torch
from threadpoolctl import threadpool_limits

from hume_workflow.cluster.faults import fail_once_if_asked
from hume_workflow.cluster.gpu_slots import job_device
from hume_workflow.formats.embeddings import read_spaces
from hume_workflow.formats.io import read_h5
from hume_workflow.formats.run import save_run
from hume_workflow.hume.config import HumeConfig, config_dict
from hume_workflow.hume.runs import execute_runs
from hume_workflow.logs import log_to_file

log_to_file(snakemake.log[0])
torch.set_num_threads(snakemake.threads)
threadpool_limits(snakemake.threads)  # scikit-learn's BLAS/OpenMP too: jobs share cores
params = snakemake.params
config = HumeConfig(
    num_classes=params.num_classes,
    **{k: tuple(v) if isinstance(v, list) else v for k, v in params.hume.items()},
)
phi1, phi2 = read_spaces(snakemake.input.data, [snakemake.input.phi1, snakemake.input.phi2])
split = read_h5(snakemake.input.data, ["split"])[0]["split"]
first = int(snakemake.wildcards.batch) * params.runs_per_job
records = execute_runs(
    phi1,
    phi2,
    split,
    params.setting,
    config,
    list(range(first, first + params.runs_per_job)),
    score_folds=params.score["n_folds"],
    score_max_iter=params.score["max_iter"],
    device=job_device(snakemake.resources.gpu),
    score_backend=params.score["backend"],
)
provenance = {
    "phi1": snakemake.wildcards.phi1,
    "phi2": snakemake.wildcards.phi2,
    "dataset": snakemake.wildcards.dataset,
    "hyperparameters": config_dict(config),
}
wildcards = snakemake.wildcards
job = f"run_hume:{wildcards.phi1}--{wildcards.phi2}:job{wildcards.batch}"
fail_once_if_asked(job, f"{snakemake.log[0]}.failed-once")  # tests of retries only
for path, record in zip(snakemake.output, records, strict=True):
    save_run(path, record, provenance)
