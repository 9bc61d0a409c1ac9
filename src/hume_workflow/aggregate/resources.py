"""choose_k's scheduler request, modelled from the labelled samples N, the runs of each K, the
sweep's K and the width of the task's last space (numpy-free: the Snakemake main process
computes it).

Margins, start-up time and retries are the resource model's (plan/resources.py). The
constants are fitted by `python benchmarks/scale_downstream.py --shape demo medium imagenet`
(docs/performance.md, "After the runs").
"""

from __future__ import annotations

from collections.abc import Sequence

from hume_workflow.plan.resources import scaled_request

#: The silhouette sees at most this many of the labelled samples: its time and memory are
#: quadratic in them.
SILHOUETTE_SAMPLES = 5000

PROCESS_BYTES = 180e6  # a process with numpy, scipy, scikit-learn and pandas imported
RUN_SAMPLE_BYTES = 24  # per run of one K and labelled sample: labels, whom they label, codes
# The silhouette's distances: scikit-learn holds the (m, m) float64 matrix about three times.
SILHOUETTE_COPIES = 3
# Seconds: per pair of runs of a K, per labelled sample and per cell of their K x K table;
# per run and labelled sample, to read it; per silhouette distance and feature.
PAIR_CELL_SEC = 2.5e-9
READ_SEC = 1e-7
SILHOUETTE_SEC = 1e-9


def choose_k_request(
    n_samples: int, n_runs: int, ks: Sequence[int], dim: int, attempt: int = 1
) -> dict[str, int]:
    """{"mem_mb", "runtime" (minutes)} of choose_k for a task whose sweep ``ks`` has
    ``n_runs`` runs at each K, labelling ``n_samples`` samples, last space ``dim`` wide."""
    seen = min(n_samples, SILHOUETTE_SAMPLES)
    pairs = n_runs * (n_runs - 1) / 2
    seconds = sum(
        pairs * (n_samples + k * k) * PAIR_CELL_SEC
        + n_runs * n_samples * READ_SEC
        + seen**2 * dim * SILHOUETTE_SEC
        for k in ks
    )
    return scaled_request(seconds, choose_k_bytes(n_samples, n_runs, max(ks), dim), attempt)


def choose_k_bytes(n_samples: int, n_runs: int, largest_k: int, dim: int) -> float:
    """The modelled peak memory of choose_k (one K's runs at a time), before the margin."""
    seen = min(n_samples, SILHOUETTE_SAMPLES)
    return (
        PROCESS_BYTES
        + n_runs * n_samples * RUN_SAMPLE_BYTES
        + seen * dim * 4
        + SILHOUETTE_COPIES * seen**2 * 8
        + 2 * largest_k**2 * 8
    )
