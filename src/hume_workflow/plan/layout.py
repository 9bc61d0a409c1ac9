"""The output layout: every path the workflow writes is built here, and nowhere else.

::

    results/<dataset>/
        data.h5                                   prepare_dataset
        embeddings/<backbone>.h5                  extract_embeddings
        baselines/<backbone>.json                 compute_baselines
        <method>/<task>/k<K>/runs/batch<b>/run<i>.h5
                                                  run_<method>: job b runs the seeds
                                                  b * runs_per_job + i (runs/seed<b>.h5 when
                                                  a job holds one run)
        <method>/<task>/k<K>/selection.json       select_runs
        <method>/<task>/k<K>/vote.csv             majority_vote
        <method>/<task>/k<K>/metrics.json         evaluate_run_set
        <method>/<task>/k_choice.json, vote.csv   choose_k (vote.csv: the chosen K's vote)
        <method>/<task>/labels.csv                export_labels
        predict/batches/<new>/data.h5             prepare_batch
        predict/batches/<new>/embeddings/<backbone>.h5
        predict/<method>/<task>/<new>.csv         predict_batch
        recommendation.json, labels.csv           recommend: the one recommended task and K
                                                  (aggregate/recommend.py), its labels.csv
        report/                                   write_report
        logs/<rule>/..., benchmarks/<rule>/...    one log (and benchmark) per job

A *method* is an algorithm that labels a dataset from a *task*: an ordered tuple of
representation spaces (backbones). A task's folder name joins its spaces with ``--``; a HUME
task is ``<phi1>--<phi2>``, a TURTLE task one or more spaces (``clip``, ``clip--dino``).
The patterns are Snakemake patterns (``{dataset}``, ``{method}``,
``{task}``, ``{k}``, ``{batch}``, ``{backbone}``, ``{new}`` are wildcards); :func:`fill`
fills one in. Torch-free and Snakemake-free: the rules, the planner and the tests read it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

#: What joins a task's spaces in its folder name.
TASK_SEPARATOR = "--"
#: A dataset, backbone or batch name: what a path segment may hold.
NAME = "[A-Za-z0-9][A-Za-z0-9_]*"

RESULTS = "results/{dataset}"
DATA = f"{RESULTS}/data.h5"
EMBEDDING = f"{RESULTS}/embeddings/{{backbone}}.h5"
BASELINE = f"{RESULTS}/baselines/{{backbone}}.json"
TASK = f"{RESULTS}/{{method}}/{{task}}"
K_FOLDER = f"{TASK}/k{{k}}"
RUNS = f"{K_FOLDER}/runs"
SELECTION = f"{K_FOLDER}/selection.json"
K_VOTE = f"{K_FOLDER}/vote.csv"
METRICS = f"{K_FOLDER}/metrics.json"
K_CHOICE = f"{TASK}/k_choice.json"
VOTE = f"{TASK}/vote.csv"
LABELS = f"{TASK}/labels.csv"
BATCH = f"{RESULTS}/predict/batches/{{new}}/data.h5"
BATCH_EMBEDDING = f"{RESULTS}/predict/batches/{{new}}/embeddings/{{backbone}}.h5"
PREDICTION = f"{RESULTS}/predict/{{method}}/{{task}}/{{new}}.csv"
REPORT = f"{RESULTS}/report"
#: rule recommend: the recommended task (aggregate/recommend.py) and a copy of its labels.csv
RECOMMENDATION = f"{RESULTS}/recommendation.json"
RECOMMENDED_LABELS = f"{RESULTS}/labels.csv"


def wildcards(methods: Iterable[str]) -> dict[str, str]:
    """The wildcard constraints of every pattern here, given the methods' names
    (plan/methods.py)."""
    return {
        "dataset": NAME,
        "backbone": NAME,
        "new": NAME,
        "method": "|".join(methods),
        "task": f"{NAME}(?:{TASK_SEPARATOR}{NAME})*",
        "batch": "[0-9]+",
        "k": "[0-9]+",
    }


def task_name(spaces: Sequence[str]) -> str:
    """The folder name of a task of ``spaces`` (in the method's order): ``a--b``."""
    return TASK_SEPARATOR.join(spaces)


def task_spaces(task: str) -> list[str]:
    """The spaces of a task, in the method's order, from its folder name."""
    return task.split(TASK_SEPARATOR)


def fill(pattern: str, **wildcards: object) -> str:
    """``pattern`` with its wildcards filled in, e.g. ``fill(VOTE, dataset="digits", ...)``."""
    return pattern.format(**wildcards)


def log(rule: str, job: str | None = "{method}/{task}/k{k}") -> str:
    """The log pattern of a rule's job: ``results/<dataset>/logs/<rule>/<job>.log``, or
    ``logs/<rule>.log`` for a rule with one job per dataset (``job`` None)."""
    return f"{RESULTS}/logs/{rule}.log" if job is None else f"{RESULTS}/logs/{rule}/{job}.log"


def benchmark(rule: str, job: str = "{method}/{task}/k{k}") -> str:
    """The benchmark pattern of a rule's job: ``results/<dataset>/benchmarks/<rule>/<job>.tsv``."""
    return f"{RESULTS}/benchmarks/{rule}/{job}.tsv"


#: The job part of a run rule's log and benchmark: one per job of a task at one K.
RUN_JOB = "{task}/k{k}/job{batch}"


def run_job_outputs(runs_per_job: int) -> list[str]:
    """The run files of one run job (wildcards ``{batch}`` and those of :data:`RUNS`):
    ``runs/seed<batch>.h5`` when a job holds one run, else ``runs/batch<batch>/run<i>.h5``."""
    if runs_per_job == 1:
        return [f"{RUNS}/seed{{batch}}.h5"]
    return [f"{RUNS}/batch{{batch}}/run{i}.h5" for i in range(runs_per_job)]


def job_count(num_runs: int, runs_per_job: int) -> int:
    """How many run jobs hold ``num_runs`` runs (the config checks that they divide)."""
    return num_runs // runs_per_job


def job_seeds(batch: int, runs_per_job: int) -> range:
    """The seeds that run job ``batch`` runs, in the order of its outputs."""
    first = batch * runs_per_job
    return range(first, first + runs_per_job)


def run_files(
    dataset: str, method: str, task: str, k: int, num_runs: int, runs_per_job: int
) -> list[str]:
    """Every run file of one task at one K, job by job (static: the seeds come from the config)."""
    return [
        fill(path, dataset=dataset, method=method, task=task, k=k, batch=batch)
        for batch in range(job_count(num_runs, runs_per_job))
        for path in run_job_outputs(runs_per_job)
    ]
