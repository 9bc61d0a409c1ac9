import os
import sys
from pathlib import Path

import yaml
from snakemake.logging import logger
from snakemake.utils import validate

# Jobs import the library from this checkout, also inside `--sdm conda` environments, whose
# env files cannot install a local package (Snakemake creates them from a temporary copy);
# this process imports it to check the config and for the jobs' resource requests.
LIBRARY = str(Path(workflow.basedir) / "src")
os.environ.update(
    PYTHONPATH=os.pathsep.join(filter(None, [LIBRARY, os.environ.get("PYTHONPATH")]))
)
sys.path.insert(0, LIBRARY)

from hume_workflow.plan.preflight import (
    PlanFiles,
    check_schema,
    check_sources,
    check_values,
    describe_config,
)
from hume_workflow.plan.sweep import pair_class_counts, single_k, unmoved_runs
from hume_workflow.plan.resources import (
    MAX_FEATURE_DIM,
    dataset_samples,
    embed_request,
    feature_dim,
    fit_samples,
    hume_request,
    image_side,
)

# A bad config stops here, in seconds, with one line naming the key and the value.
SCHEMA = Path(workflow.basedir) / "workflow" / "schemas" / "config.schema.yaml"
SCHEMA_DOC = yaml.safe_load(SCHEMA.read_text())
check_schema(config, SCHEMA_DOC)
validate(config, schema=str(SCHEMA))  # fills in the defaults
RESULTS = Path("results") / config["dataset"]["name"]  # as the rules name their outputs
PLAN_FILES = PlanFiles(
    RESULTS / "data.h5", lambda name: RESULTS / "embeddings" / f"{name}.h5"
)
PAIR_KS = pair_class_counts(config)  # (phi1, phi2) -> its K values
for warning in check_values(config, PLAN_FILES) + unmoved_runs(RESULTS):
    logger.warning(f"Warning: {warning}")
check_sources(config)
if workflow.is_main_process:
    CONFIGFILES = workflow.overwrite_configfiles or workflow.configfiles
    logger.info(describe_config(config, SCHEMA_DOC, CONFIGFILES))

DATASET = config["dataset"]["name"]
COMPUTE = config["compute"]
BACKBONES = config["backbones"]
PAIRS = [(pair["phi1"], pair["phi2"]) for pair in config["pairs"]]
SEEDS = list(range(config["num_runs"]))
RUNS_PER_JOB = COMPUTE["runs_per_job"]
PREDICT = config["predict"]
SPACES = sorted(
    {space for pair in PAIRS for space in pair}
)  # the backbones the pairs use


wildcard_constraints:
    dataset="[A-Za-z0-9][A-Za-z0-9_]*",
    backbone="[A-Za-z0-9][A-Za-z0-9_]*",
    phi1="[A-Za-z0-9][A-Za-z0-9_]*",
    phi2="[A-Za-z0-9][A-Za-z0-9_]*",
    batch="[0-9]+",
    k="[0-9]+",
    new="[A-Za-z0-9][A-Za-z0-9_]*",


def backbone_spec(wildcards):
    """The config entry of one backbone: the only params of its embedding job."""
    return BACKBONES[wildcards.backbone]


def run_job_files():
    """Output patterns of one run_hume job, whose {batch}-th job runs the seeds
    batch * RUNS_PER_JOB + i (i < RUNS_PER_JOB): seed<batch>.h5 when a job holds one run.
    """
    runs = "results/{dataset}/hume/{phi1}--{phi2}/k{k}/runs"
    if RUNS_PER_JOB == 1:
        return [f"{runs}/seed{{batch}}.h5"]
    return [f"{runs}/batch{{batch}}/run{i}.h5" for i in range(RUNS_PER_JOB)]


def run_files(dataset, phi1, phi2, k):
    """All run files of one pair at one K (static: seeds come from the config, not a glob)."""
    return [
        path.format(dataset=dataset, phi1=phi1, phi2=phi2, k=k, batch=batch)
        for batch in range(len(SEEDS) // RUNS_PER_JOB)
        for path in run_job_files()
    ]


def k_runs(wildcards):
    """The run files of the pair and K of a job's wildcards."""
    return run_files(wildcards.dataset, wildcards.phi1, wildcards.phi2, wildcards.k)


def sweep_runs(wildcards):
    """The run files of every K of the pair of a job's wildcards."""
    pair = wildcards.phi1, wildcards.phi2
    return [
        run
        for k in sweep_ks(wildcards)
        for run in run_files(wildcards.dataset, *pair, k)
    ]


def sweep_ks(wildcards):
    """The K values of the pair of a job's wildcards, increasing."""
    return PAIR_KS[wildcards.phi1, wildcards.phi2]


def sweep_files(name):
    """Input function: one file per K of the pair of a job's wildcards (in the order of
    sweep_ks), e.g. its votes."""

    def files(wildcards):
        pair = f"results/{wildcards.dataset}/hume/{wildcards.phi1}--{wildcards.phi2}"
        return [f"{pair}/k{k}/{name}" for k in sweep_ks(wildcards)]

    return files


def pair_files(name):
    """Per-pair files of the configured pairs, e.g. pair_files('k_choice.json')."""
    return [f"results/{DATASET}/hume/{phi1}--{phi2}/{name}" for phi1, phi2 in PAIRS]


def all_k_files(name):
    """Per-(pair, K) files of every pair and K, e.g. all_k_files('metrics.json')."""
    return [
        f"results/{DATASET}/hume/{phi1}--{phi2}/k{k}/{name}"
        for phi1, phi2 in PAIRS
        for k in PAIR_KS[phi1, phi2]
    ]


def embed_resource(key):
    """One entry ("mem_mb" or "runtime") of an embedding job's request.

    Computed from the number of images (data.h5 once it exists; Snakemake re-evaluates
    resources before it schedules a job) and the backbone; it grows with each retry.
    """

    def request(wildcards, input, attempt):
        n_images = sum(dataset_samples(config["dataset"], input[0]))
        spec = BACKBONES[wildcards.backbone]
        side = image_side(config["dataset"])
        return embed_request(n_images, spec, COMPUTE["embed_gpu"], side, attempt)[key]

    return request


def embed_threads(wildcards):
    """Two threads for the model, one more per DataLoader worker of the backbone (the
    schema fills in num_workers); one to read precomputed features."""
    spec = BACKBONES[wildcards.backbone]
    return 1 if spec["kind"] == "precomputed" else 2 + spec["num_workers"]


def embed_gpu(wildcards):
    """1 when an embedding job requests a GPU: compute.embed_gpu, for a model (precomputed
    features need none)."""
    model = BACKBONES[wildcards.backbone]["kind"] != "precomputed"
    return int(COMPUTE["embed_gpu"] and model)


def space_dim(name, path):
    """Feature width of a space: from its file once it exists, else an upper bound."""
    return feature_dim(path) or BACKBONES[name].get("pca_dim", MAX_FEATURE_DIM)


def hume_resource(key):
    """One entry ("mem_mb" or "runtime") of a HUME job's request, from N, d1, d2 and the
    hyperparameters (hume_workflow.plan.resources); it grows with each retry."""

    def request(wildcards, input, attempt):
        n_train, n_test = dataset_samples(config["dataset"], input.data)
        return hume_request(
            fit_samples(n_train, n_test, config["setting"]),
            space_dim(wildcards.phi1, input.phi1),
            space_dim(wildcards.phi2, input.phi2),
            config["hume"],
            config["score"],
            int(wildcards.k),
            COMPUTE["hume_gpu"],
            attempt,
            RUNS_PER_JOB,
        )[key]

    return request
