"""Rule run_hume: one HUME run (one seed) of one (phi1, phi2) pair."""

import torch

from hume_workflow.gpu_slots import job_device
from hume_workflow.hume import HumeConfig, config_dict
from hume_workflow.io import read_h5
from hume_workflow.logs import log_to_file
from hume_workflow.runs import execute_run, save_run

log_to_file(snakemake.log[0])
torch.set_num_threads(snakemake.threads)
params = snakemake.params
config = HumeConfig(
    num_classes=params.num_classes,
    **{k: tuple(v) if isinstance(v, list) else v for k, v in params.hume.items()},
)
phi1 = read_h5(snakemake.input.phi1, ["features"])[0]["features"]
phi2 = read_h5(snakemake.input.phi2, ["features"])[0]["features"]
split = read_h5(snakemake.input.data, ["split"])[0]["split"]
seed = int(snakemake.wildcards.seed)
record = execute_run(
    phi1,
    phi2,
    split,
    params.setting,
    config,
    seed,
    score_folds=params.score["n_folds"],
    score_max_iter=params.score["max_iter"],
    device=job_device(snakemake.resources.gpu),
)
provenance = {
    "phi1": snakemake.wildcards.phi1,
    "phi2": snakemake.wildcards.phi2,
    "dataset": snakemake.wildcards.dataset,
    "hyperparameters": config_dict(config),
}
save_run(snakemake.output[0], record, provenance)
