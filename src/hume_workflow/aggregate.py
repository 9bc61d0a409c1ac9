"""File-level aggregation of a pair's runs: the selection manifest and the voted labels."""

from __future__ import annotations

import logging
import os

import numpy as np
import pandas as pd

from hume_workflow.io import read_h5
from hume_workflow.vote import majority_vote, select_top

log = logging.getLogger(__name__)


def select_runs(run_paths: list[str | os.PathLike], top_n: int | None) -> dict:
    """Rank runs by generalisation score and keep the top ``top_n`` (None: all).

    Returns:
        A manifest: ``ranked`` (seed, score, path, degenerate; best first), ``selected``
        (seeds), ``top_n`` and ``n_runs``.
    """
    runs = {}
    for path in run_paths:
        _, attrs = read_h5(path, names=[])
        runs[int(attrs["seed"])] = {
            "score": float(attrs["score"]),
            "path": str(path),
            "degenerate": bool(attrs["degenerate"]),
        }
    if top_n is not None and top_n > len(runs):
        log.warning("top_n=%d but only %d runs: keeping all of them", top_n, len(runs))
    scores = {seed: r["score"] for seed, r in runs.items()}
    selected, ranked = select_top(scores, top_n), select_top(scores, None)
    return {
        "top_n": top_n,
        "n_runs": len(runs),
        "selected": selected,
        "ranked": [{"seed": seed, **runs[seed]} for seed in ranked],
    }


def vote_selected(manifest: dict, num_classes: int) -> pd.DataFrame:
    """Hungarian-aligned majority vote of the selected runs, aligned to the best-scoring one.

    Returns:
        One row per labelled sample: ``sample_index`` (into the dataset), ``label`` and
        ``agreement``, the fraction of selected runs whose aligned label equals the vote.
    """
    paths = {r["seed"]: r["path"] for r in manifest["ranked"]}
    labelings, indices = [], None
    for seed in manifest["selected"]:  # best first
        arrays, _ = read_h5(paths[seed], ["labels", "eval_indices"])
        if indices is not None and not np.array_equal(indices, arrays["eval_indices"]):
            raise ValueError(
                f"{paths[seed]}: labels a different set of samples than the other runs"
            )
        indices = arrays["eval_indices"]
        labelings.append(arrays["labels"])
    votes, agreement = majority_vote(np.stack(labelings), num_classes)
    log.info("vote of %d runs: mean agreement %.3f", len(labelings), agreement.mean())
    return pd.DataFrame({"sample_index": indices, "label": votes, "agreement": agreement})
