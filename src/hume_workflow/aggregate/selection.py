"""The selection manifest: a pair's runs ranked by generalisation score."""

from __future__ import annotations

import logging
import os

from hume_workflow.aggregate.vote import select_top
from hume_workflow.errors import InputError
from hume_workflow.formats.io import read_h5

log = logging.getLogger(__name__)

#: Attributes of a run file (:func:`hume_workflow.formats.run.save_run`) that selection reads.
RUN_ATTRS = ("seed", "score", "degenerate")


def select_runs(run_paths: list[str | os.PathLike], top_n: int | None) -> dict:
    """Rank runs by generalisation score and keep the top ``top_n`` (None: all).

    Degenerate runs (fewer than two clusters used; score 0) are ranked like the others, so
    last, and counted; fewer runs than ``top_n`` keeps them all. Either is logged in one line
    and written to ``note``.

    Returns:
        A manifest: ``ranked`` (seed, score, path, degenerate, n_clusters; best first),
        ``selected`` (seeds), ``top_n`` (as asked), ``n_selected``, ``n_runs``,
        ``n_degenerate`` and ``note`` (None when there is nothing to say).
    """
    if not run_paths:
        raise InputError("select_runs: no run files given; expected at least one")
    runs: dict[int, dict] = {}
    for path in run_paths:
        _, attrs = read_h5(path, names=[])
        missing = [key for key in RUN_ATTRS if key not in attrs]
        if missing:
            raise InputError(f"{path}: no run attributes {missing}; expected a run_hume output")
        seed = int(attrs["seed"])
        if seed in runs:
            raise InputError(
                f"{path}: seed {seed} is also the seed of {runs[seed]['path']}; "
                "expected one run per seed"
            )
        runs[seed] = {
            "score": float(attrs["score"]),
            "path": str(path),
            "degenerate": bool(attrs["degenerate"]),
            "n_clusters": attrs.get("n_clusters"),
        }
    scores = {seed: r["score"] for seed, r in runs.items()}
    selected, ranked = select_top(scores, top_n), select_top(scores, None)
    degenerate = [seed for seed in ranked if runs[seed]["degenerate"]]
    notes = []
    if top_n is not None and top_n > len(runs):
        notes.append(f"top_n={top_n} but only {len(runs)} runs: voting all of them")
    if degenerate:
        in_vote = len(set(degenerate) & set(selected))
        notes.append(
            f"{len(degenerate)} of {len(runs)} runs degenerate (fewer than two clusters used, "
            f"score 0), {in_vote} of them voting: seeds {degenerate}"
        )
    for note in notes:
        log.warning(note)
    return {
        "top_n": top_n,
        "n_runs": len(runs),
        "n_selected": len(selected),
        "n_degenerate": len(degenerate),
        "note": "; ".join(notes) or None,
        "selected": selected,
        "ranked": [{"seed": seed, **runs[seed]} for seed in ranked],
    }
