"""The ranking of a pair's runs by generalisation score: which runs vote."""

from __future__ import annotations

from hume_workflow.errors import InputError


def select_top(scores: dict[int, float], top_n: int | None) -> list[int]:
    """Seeds ranked by decreasing score (ties: smaller seed first), the first ``top_n`` kept.

    ``top_n=None`` keeps every run, as the paper reports.
    """
    ranked = sorted(scores, key=lambda seed: (-scores[seed], seed))
    if top_n is not None:
        if top_n < 1:
            raise InputError(
                f"config aggregation.top_n={top_n}: expected a positive integer or null"
            )
        ranked = ranked[:top_n]
    return ranked
