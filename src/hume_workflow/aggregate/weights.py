"""How much each selected run counts in the vote (config ``aggregation.weights``)."""

from __future__ import annotations

from typing import Literal, get_args

import numpy as np

from hume_workflow.choices import check_choice
from hume_workflow.errors import InputError

# "uniform" is the paper's plain majority; "score" weighs a run by its generalisation score;
# "kappa" by its chance-corrected score, max(kappa, KAPPA_FLOOR), so a run no better than
# chance counts (almost) nothing.
VoteWeights = Literal["uniform", "score", "kappa"]
VOTE_WEIGHTS: tuple[VoteWeights, ...] = get_args(VoteWeights)
#: The weight of a run at or below chance under "kappa": tiny, so any run above chance
#: outvotes it, yet equal, so runs that are all at chance still vote as a plain majority. A
#: run's weight depends on the run alone, so a vote of any subset of runs weighs it the same.
KAPPA_FLOOR = 1e-6


def run_weights(scores: np.ndarray, kappas: np.ndarray, weights: VoteWeights) -> np.ndarray:
    """(n_runs,) non-negative vote weights of runs with these ``scores`` and ``kappas``.

    "kappa" weighs by max(kappa, :data:`KAPPA_FLOOR`).
    """
    check_choice("aggregation.weights", weights, VOTE_WEIGHTS)
    if weights == "uniform":
        return np.ones(len(scores))
    if weights == "score":
        return np.asarray(scores, dtype=np.float64).copy()
    kappas = np.asarray(kappas, dtype=np.float64)  # "kappa"
    if np.isnan(kappas).any():
        raise InputError(
            "config aggregation.weights='kappa': a run file has no kappa (written before "
            "runs recorded it); expected runs of this version, or weights uniform or score"
        )
    return np.maximum(kappas, KAPPA_FLOOR)
