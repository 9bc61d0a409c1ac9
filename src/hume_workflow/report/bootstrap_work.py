"""How much work a task's bootstrap does (report/uncertainty.py): the resamples that carry
the vote-by-n band, the n at which its ACC is computed, and how many processes share the
resamples. Its own module, numpy only, so the request model (report/resources.py) reads the
same numbers from the Snakemake main process.
"""

from __future__ import annotations

import numpy as np

#: Replicates of the vote-ACC-by-n band: n runs cost n votes per replicate, so fewer.
CURVE_RESAMPLES = 200


#: Above this many clusters the vote-by-n ACC band is computed at :func:`band_points` only:
#: each point costs a K x K matching (about 10 ms at K = 1000), R of them per replicate.
FULL_BAND_CLASSES = 100
BAND_POINTS = 20  # about this many n on a geometric grid, above FULL_BAND_CLASSES


def band_points(n_runs: int, num_classes: int) -> np.ndarray:
    """(n_runs,) bool: the n (index n - 1) at which the replicates compute the vote-by-n ACC:
    every n up to :data:`FULL_BAND_CLASSES` clusters; above, n = 1..10, about
    :data:`BAND_POINTS` n spaced geometrically, and every run."""
    at = np.ones(n_runs, dtype=bool)
    if num_classes > FULL_BAND_CLASSES:
        at[10:] = False
        grid = np.unique(np.round(np.geomspace(1, n_runs, BAND_POINTS)).astype(int))
        at[grid - 1] = True
    return at


#: Label-votes (resamples x runs x samples) worth one more worker process: below, starting
#: one costs more than it saves.
VOTES_PER_WORKER = 1e9


def bootstrap_workers(workers: int, resamples: int, n_runs: int, n_samples: int) -> int:
    """Worker processes the resamples use: at most ``workers``, one per
    :data:`VOTES_PER_WORKER` of work, at least one."""
    return max(1, min(workers, int(resamples * n_runs * n_samples // VOTES_PER_WORKER)))
