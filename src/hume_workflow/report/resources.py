"""evaluate_task's scheduler request: the processes, memory and runtime of a task's metrics and
bootstrap intervals, modelled from the labelled samples N, the runs R, K and the config's
``uncertainty`` (numpy only: the Snakemake main process computes them).

Margins, start-up time and retries are the resource model's (plan/resources.py). The
constants are fitted by `python benchmarks/scale_downstream.py --shape demo medium imagenet`
(docs/performance.md, "After the runs").
"""

from __future__ import annotations

from hume_workflow.plan.resources import scaled_request
from hume_workflow.report.bootstrap_work import (
    CURVE_RESAMPLES,
    band_points,
    bootstrap_workers,
)

EVALUATE_THREADS = 2  # the most bootstrap workers an evaluate_task job asks for

# Memory, summed over the job's processes (the parent and its bootstrap workers, each
# holding the runs' labels, the alignments of the resamples' references and their groups).
PROCESS_BYTES = 180e6  # a process with numpy, scipy, scikit-learn and pandas imported
RUN_SAMPLE_BYTES = 160  # per run, labelled sample and process
MATCH_BYTES = 32  # per cell of the K x C confusion, per process (counts and the matching)

# Seconds, per run and labelled sample: one resample's vote and its agreement; one step of
# the vote-by-n curve. Per matching of K clusters to classes: MATCH_SEC * K^2. Per run of the
# evaluation without the bootstrap (its metrics, its alignment to the references).
VOTE_SEC = 1.6e-8
CURVE_STEP_SEC = 4.6e-8
MATCH_SEC = 7e-9
RUN_SAMPLE_SEC = 2e-6


def evaluate_workers(threads: int, n_samples: int, n_runs: int, uncertainty: dict) -> int:
    """The processes an evaluate_task job uses (its threads): the bootstrap's workers."""
    return bootstrap_workers(threads, uncertainty["resamples"], n_runs, n_samples)


def evaluate_request(
    n_samples: int,
    n_runs: int,
    k: int,
    uncertainty: dict,
    workers: int,
    attempt: int = 1,
) -> dict[str, int]:
    """{"mem_mb", "runtime" (minutes)} of evaluate_task for a task at K with ``n_runs`` runs
    labelling ``n_samples`` samples, bootstrapped as the defaults-filled ``uncertainty``
    says, its resamples shared by ``workers`` processes."""
    resamples = uncertainty["resamples"]
    curves = min(resamples, CURVE_RESAMPLES)
    match = MATCH_SEC * k**2
    votes = n_runs * n_samples
    seconds = (
        (
            resamples * (votes * VOTE_SEC + 2 * match)
            + curves * (votes * CURVE_STEP_SEC + int(band_points(n_runs, k).sum()) * match)
        )
        / workers
        + votes * RUN_SAMPLE_SEC
        + n_runs * match
    )
    return scaled_request(seconds, evaluate_bytes(n_samples, n_runs, k, workers), attempt)


def evaluate_bytes(n_samples: int, n_runs: int, k: int, workers: int) -> float:
    """The modelled peak memory of evaluate_task, summed over its processes (the parent and,
    when there are several, its ``workers``), before the margin."""
    processes = 1 + (workers if workers > 1 else 0)
    return processes * (PROCESS_BYTES + n_runs * n_samples * RUN_SAMPLE_BYTES + k * k * MATCH_BYTES)
