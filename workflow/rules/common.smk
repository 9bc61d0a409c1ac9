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
from hume_workflow.plan import layout
from hume_workflow.plan.backbone_kinds import PRECOMPUTED, deciding_spec
from hume_workflow.plan.batches import batch_files
from hume_workflow.plan.dataset import dataset_identity
from hume_workflow.plan.inputs import backbone_inputs, dataset_inputs
from hume_workflow.plan.migrate import unmigrated
from hume_workflow.plan.methods import METHODS, config_tasks
from hume_workflow.plan import resources
from hume_workflow.plan.resources import (
    dataset_samples,
    embed_request,
    files_shape,
    fit_samples,
    image_side,
    labelled_samples,
    space_width,
)
from hume_workflow.errors import InputError
from hume_workflow.hume.checks import check_hume
from hume_workflow.hume.resources import hume_request
from hume_workflow.turtle.config import hyperparameters
from hume_workflow.turtle.resources import turtle_request
from hume_workflow.aggregate.resources import choose_k_request
from hume_workflow.report.resources import (
    EVALUATE_THREADS,
    evaluate_request,
    evaluate_workers,
)

# A bad config stops here, in seconds, with one line naming the key and the value, and
# nothing else: no Snakemake frame follows it.
SCHEMA = Path(workflow.basedir) / "workflow" / "schemas" / "config.schema.yaml"
SCHEMA_DOC = yaml.safe_load(SCHEMA.read_text())


def embedding_file(backbone):
    """The embedding file of a backbone of the configured dataset."""
    return Path(layout.fill(layout.EMBEDDING, dataset=DATASET, backbone=backbone))


try:
    check_schema(config, SCHEMA_DOC)
    validate(config, schema=str(SCHEMA))  # fills in the defaults
    DATASET = config["dataset"]["name"]
    RESULTS = Path(layout.fill(layout.RESULTS, dataset=DATASET))
    PLAN_FILES = PlanFiles(
        Path(layout.fill(layout.DATA, dataset=DATASET)), embedding_file
    )
    WARNINGS = check_values(config, PLAN_FILES, [check_hume]) + unmigrated(RESULTS)
    check_sources(config)
    # the user's files data.h5 is made of
    DATA_INPUTS = dataset_inputs(config["dataset"])
except InputError as error:
    logger.error(str(error))
    sys.exit(1)
for warning in WARNINGS:
    logger.warning(f"Warning: {warning}")
if workflow.is_main_process:
    CONFIGFILES = list(workflow.overwrite_configfiles or workflow.configfiles)
    if workflow.config_settings.config:  # --config key=value on the command line
        CONFIGFILES.append("--config")
    logger.info(describe_config(config, SCHEMA_DOC, CONFIGFILES))

COMPUTE = config["compute"]
BACKBONES = config["backbones"]
# (method, spaces, Ks) of every task, in the config's order
TASKS = config_tasks(config)
TASK_KS = {(t.method, t.name): t.ks for t in TASKS}
NUM_RUNS = config["num_runs"]
RUNS_PER_JOB = COMPUTE["runs_per_job"]
PREDICT = config["predict"]
SPACES = sorted({space for t in TASKS for space in t.spaces})  # the backbones tasks use
# what decides a TURTLE run: its hyperparameters, not the list of tasks
TURTLE_PARAMS = hyperparameters(config["turtle"])


wildcard_constraints:
    **layout.wildcards(METHODS),


def backbone_spec(wildcards):
    """The keys of one backbone's config entry that decide its features: the params of its
    embedding jobs (their scripts read the speed-only keys, e.g. num_workers, from the
    config, so that editing one reruns nothing)."""
    return deciding_spec(BACKBONES[wildcards.backbone])


def backbone_files(wildcards):
    """The user's files the embedding job of a backbone reads (plan/inputs.py)."""
    return backbone_inputs(wildcards.backbone, BACKBONES[wildcards.backbone])


def run_job_files(method):
    """Output patterns of one run job of ``method`` (plan/layout.py: job {batch} runs the
    seeds batch * RUNS_PER_JOB + i)."""
    return [
        path.replace("{method}", method)
        for path in layout.run_job_outputs(RUNS_PER_JOB)
    ]


def run_files(method, task, k):
    """All run files of one task at one K (static: seeds come from the config, not a glob)."""
    return layout.run_files(DATASET, method, task, k, NUM_RUNS, RUNS_PER_JOB)


def k_runs(wildcards):
    """The run files of the task and K of a job's wildcards."""
    return run_files(wildcards.method, wildcards.task, wildcards.k)


def sweep_ks(wildcards):
    """The K values of the task of a job's wildcards, increasing."""
    return list(TASK_KS[wildcards.method, wildcards.task])


def sweep_runs(wildcards):
    """The run files of every K of the task of a job's wildcards."""
    return [
        run
        for k in sweep_ks(wildcards)
        for run in run_files(wildcards.method, wildcards.task, k)
    ]


def sweep_files(pattern):
    """Input function: one file per K of the task of a job's wildcards (in the order of
    sweep_ks), e.g. its votes."""

    def files(wildcards):
        return [
            layout.fill(pattern, **dict(wildcards.items()), k=k)
            for k in sweep_ks(wildcards)
        ]

    return files


def task_files(pattern):
    """Per-task files of the configured tasks, e.g. task_files(layout.K_CHOICE)."""
    return [
        layout.fill(pattern, dataset=DATASET, method=t.method, task=t.name)
        for t in TASKS
    ]


def all_k_files(pattern):
    """Per-(task, K) files of every task and K, e.g. all_k_files(layout.METRICS)."""
    return [
        layout.fill(pattern, dataset=DATASET, method=t.method, task=t.name, k=k)
        for t in TASKS
        for k in t.ks
    ]


def all_runs():
    """Every run file of every task and K."""
    return [run for t in TASKS for k in t.ks for run in run_files(t.method, t.name, k)]


def task_embeddings(wildcards):
    """The embedding files of the task's spaces, in the method's order."""
    return [
        layout.fill(layout.EMBEDDING, dataset=wildcards.dataset, backbone=space)
        for space in layout.task_spaces(wildcards.task)
    ]


def probe_embedding(wildcards):
    """The embedding file of the task's last space (HUME's phi2), where runs are scored."""
    return task_embeddings(wildcards)[-1]


def batch_embeddings(wildcards):
    """A prediction batch's embedding files of the task's spaces, in the method's order."""
    return [
        layout.fill(
            layout.BATCH_EMBEDDING,
            dataset=wildcards.dataset,
            new=wildcards.new,
            backbone=s,
        )
        for s in layout.task_spaces(wildcards.task)
    ]


def batch_inputs(wildcards):
    """The user's files of a prediction batch (plan/batches.py): its folders, or its feature
    and ids files; a replaced one reruns the batch's jobs."""
    return batch_files(PREDICT["batches"][wildcards.new])


def batch_space_inputs(wildcards):
    """The user's file of a prediction batch in one backbone's space (none for images)."""
    return batch_files(PREDICT["batches"][wildcards.new], wildcards.backbone)


def num_classes(wildcards):
    """K of a job's wildcards, as an integer."""
    return int(wildcards.k)


def task_space_names(wildcards):
    """The names of the task's spaces, in the method's order."""
    return layout.task_spaces(wildcards.task)


def benchmark_files(wildcards):
    """benchmarks_<rule>: the benchmark file of every job of the rules the report's wall-time
    table shows (static, no glob), each filled in from the rule's own benchmark pattern.
    """
    per_task = [{"method": t.method, "task": t.name} for t in TASKS]
    per_k = [job | {"k": k} for t, job in zip(TASKS, per_task) for k in t.ks]
    batches = range(layout.job_count(NUM_RUNS, RUNS_PER_JOB))
    per_space = [{"backbone": space} for space in SPACES]
    jobs = {"extract_embeddings": per_space, "compute_baselines": per_space}
    for method in METHODS:  # the steps in the order they run
        jobs[f"run_{method}"] = [
            job | {"batch": batch}
            for job in per_k
            if job["method"] == method
            for batch in batches
        ]
    jobs |= {"majority_vote": per_k, "evaluate_task": per_k, "choose_k": per_task}
    return {
        f"benchmarks_{rule}": [
            layout.fill(getattr(rules, rule).benchmark, dataset=DATASET, **job)
            for job in rule_jobs
        ]
        for rule, rule_jobs in jobs.items()
        if rule_jobs
    }


def task_shape(wildcards, input):
    """(labelled samples, runs) of a task's jobs after the runs: from data.h5 once it exists
    (estimated from the source before) and the config's num_runs."""
    n_train, n_test = dataset_samples(config["dataset"], input.data)
    return labelled_samples(n_train, n_test, config["setting"]), NUM_RUNS


def evaluate_threads(wildcards, input):
    """Processes of an evaluate_task job: its bootstrap's workers (report/resources.py)."""
    n_samples, n_runs = task_shape(wildcards, input)
    return evaluate_workers(EVALUATE_THREADS, n_samples, n_runs, config["uncertainty"])


def evaluate_resource(key):
    """One entry ("mem_mb" or "runtime") of an evaluate_task job's request, from the
    labelled samples, the runs, K and the bootstrap's size; it grows with each retry."""

    def request(wildcards, input, threads, attempt):
        n_samples, n_runs = task_shape(wildcards, input)
        k, uncertainty = int(wildcards.k), config["uncertainty"]
        found = evaluate_request(n_samples, n_runs, k, uncertainty, threads, attempt)
        return found[key]

    return request


def choose_k_resource(key):
    """One entry ("mem_mb" or "runtime") of a choose_k job's request, from the labelled
    samples, the runs of each K, the sweep and the width of the task's last space."""

    def request(wildcards, input, attempt):
        n_samples, n_runs = task_shape(wildcards, input)
        space = layout.task_spaces(wildcards.task)[-1]
        dim = space_width(space, BACKBONES[space], input.probe)
        found = choose_k_request(n_samples, n_runs, sweep_ks(wildcards), dim, attempt)
        return found[key]

    return request


def embed_resource(key):
    """One entry ("mem_mb" or "runtime") of an embedding job's request.

    Computed from the number of images (data.h5 once it exists; Snakemake re-evaluates
    resources before it schedules a job) and the backbone; it grows with each retry.
    """

    def request(wildcards, input, attempt):
        n_images = sum(dataset_samples(config["dataset"], input[0]))
        name = wildcards.backbone
        spec = BACKBONES[name]
        side = image_side(config["dataset"])
        files = files_shape(name, spec) if spec["kind"] == PRECOMPUTED else None
        gpu = COMPUTE["embed_gpu"]
        return embed_request(n_images, spec, gpu, side, attempt, files)[key]

    return request


def embed_threads(wildcards):
    """Threads of an embedding job, from its backbone's kind (plan/resources.py)."""
    return resources.embed_threads(BACKBONES[wildcards.backbone])


def embed_gpu(wildcards):
    """1 when an embedding job requests a GPU: compute.embed_gpu, for a kind that embeds
    images (precomputed features need none)."""
    return resources.embed_gpus(BACKBONES[wildcards.backbone], COMPUTE["embed_gpu"])


# Each method's request model (its sub-package's resources.py) and config section, taking
# (samples fitted on, the task's space widths, section, score, K, gpu, attempt, runs per job).
RUN_REQUESTS = {
    "hume": (
        lambda n_fit, widths, *rest: hume_request(n_fit, *widths, *rest),
        config["hume"],
    ),
    "turtle": (turtle_request, TURTLE_PARAMS),
}


def run_resource(method, key):
    """One entry ("mem_mb" or "runtime") of a run job's request of ``method``, from N, the
    widths of the task's spaces and the method's hyperparameters (RUN_REQUESTS); it grows
    with each retry."""
    model, section = RUN_REQUESTS[method]

    def request(wildcards, input, attempt):
        n_train, n_test = dataset_samples(config["dataset"], input.data)
        names = layout.task_spaces(wildcards.task)
        return model(
            fit_samples(n_train, n_test, config["setting"]),
            [
                space_width(name, BACKBONES[name], path)
                for name, path in zip(names, input.spaces)
            ],
            section,
            config["score"],
            int(wildcards.k),
            COMPUTE["hume_gpu"],
            attempt,
            RUNS_PER_JOB,
        )[key]

    return request


def baseline_resource(key):
    """One entry ("mem_mb" or "runtime") of a compute_baselines job's request.

    From the space's shape, N from data.h5 (estimated from the source before) and d from its
    embedding file's header (the backbone's width before), and K, the known classes of
    data.h5 (the config's largest K before); Snakemake re-evaluates resources before it
    schedules a job, so the files' are used by then. It grows with each retry.
    """

    def request(wildcards, input, attempt):
        n_rows = sum(dataset_samples(config["dataset"], input.data))
        name = wildcards.backbone
        dim = space_width(name, BACKBONES[name], input.features)
        planned = max((k for task in TASKS for k in task.ks), default=0)
        k = resources.dataset_classes(input.data, planned)
        return resources.baseline_request(n_rows, dim, k, attempt)[key]

    return request
