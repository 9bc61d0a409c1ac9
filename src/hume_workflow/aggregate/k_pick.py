"""Picking one K of a sweep from its label-free evidence, and how sure the pick is.

The evidence (K -> criterion -> value, higher is better) comes from
:func:`hume_workflow.aggregate.k_choice.k_evidence`; the criteria are ``choices.K_CRITERIA``
(docs/choosing_k.md measures them and the threshold below against the true K).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from hume_workflow.choices import K_CRITERIA, PAIRWISE_K_CRITERIA, check_choice
from hume_workflow.errors import InputError

#: Below this run agreement (``stability``) at the chosen K, the runs did not find one
#: labeling again and K is not identified (chosen on the development half of
#: benchmarks/k_heldout.py; docs/choosing_k.md, "How sure a choice is").
AGREEMENT_MIN = 0.75


def choose_k(table: Mapping[int, Mapping[str, float]], criterion: str) -> int:
    """The K whose ``criterion`` is highest; NaN is skipped. With one K, that K.

    Ties go to the larger K: two labelings that score the same (e.g. both perfectly stable)
    are a coarse one and a refinement of it, and the finer one says more.

    Raises:
        InputError: an unknown criterion, or several K and none with a value for it (for a
            criterion that compares runs, naming num_runs: the plan refuses that sweep).
    """
    check_choice("k_choice.criterion", criterion, K_CRITERIA)
    if len(table) == 1:
        return next(iter(table))
    scored = {k: row[criterion] for k, row in table.items() if not math.isnan(row[criterion])}
    if not scored and criterion in PAIRWISE_K_CRITERIA:
        raise InputError(
            f"config k_choice.criterion={criterion!r}: no K has two runs to compare; "
            "expected num_runs >= 2, or a criterion that works with one run"
        )
    if not scored:
        raise InputError(f"no K has a value of {criterion}; expected runs with that evidence")
    return max(sorted(scored, reverse=True), key=lambda k: scored[k])


@dataclass(frozen=True)
class KCertainty:
    """How sure a sweep's choice of K is, without labels."""

    criterion: str
    swept: tuple[int, ...]  # the K of the sweep, ascending
    chosen: int
    value: float  # the criterion at the chosen K
    runner_up: int | None  # the K with the next-highest value (None with one K)
    margin: float  # value - the runner-up's value (NaN with one K)
    agreement: float  # stability at the chosen K (NaN with one run)
    edge: str | None  # "largest" or "smallest" when the pick is at an end the sweep can widen

    @property
    def identified(self) -> bool:
        """The runs of the chosen K agreed (``agreement`` >= :data:`AGREEMENT_MIN`)."""
        return self.agreement >= AGREEMENT_MIN  # False for NaN

    def sentence(self) -> str:
        """The choice and how sure it is, in words, for the log and the report."""
        if len(self.swept) == 1:
            return f"one K, K = {self.chosen}: nothing was chosen."
        if self.runner_up is None:
            text = f"{self.criterion} picks K = {self.chosen} (no other K has a value)."
        else:
            text = (
                f"{self.criterion} picks K = {self.chosen} ({self.value:.3f}; the runner-up "
                f"K = {self.runner_up} is {self.margin:.3f} lower)."
            )
        if math.isnan(self.agreement):
            text += " One run per K: whether the runs agree is unknown."
        elif self.identified:
            text += f" Its runs agree (stability {self.agreement:.2f} >= {AGREEMENT_MIN:g})."
        else:
            text = (
                f"K is not identified: the runs of K = {self.chosen} do not agree (stability "
                f"{self.agreement:.2f} < {AGREEMENT_MIN:g}), so its labels are one of many "
                f"the method finds; {text}"
            )
        if self.edge is not None:
            text += (
                f" K = {self.chosen} is the {self.edge} K of the sweep: widen the sweep "
                "(num_classes) to see whether a K beyond it scores higher."
            )
        return text


def k_certainty(evidence: Mapping[int, Mapping[str, float]], criterion: str) -> KCertainty:
    """How sure the choice of :func:`choose_k` by ``criterion`` over ``evidence`` (K ->
    criterion -> value) is: its margin over the runner-up, whether its runs agree, and
    whether it lies at an end of the sweep that could go further (the largest K, or the
    smallest when it is above 2)."""
    swept = tuple(sorted(evidence))
    chosen = choose_k(evidence, criterion)
    value = evidence[chosen][criterion]
    agreement = evidence[chosen].get("stability", math.nan)
    others = {
        k: row[criterion]
        for k, row in evidence.items()
        if k != chosen and not math.isnan(row[criterion])
    }
    runner_up = max(sorted(others, reverse=True), key=lambda k: others[k]) if others else None
    margin = math.nan if runner_up is None else value - others[runner_up]
    edge = None
    if len(swept) > 1:
        if chosen == swept[-1]:
            edge = "largest"
        elif chosen == swept[0] and chosen > 2:
            edge = "smallest"
    return KCertainty(criterion, swept, chosen, value, runner_up, margin, agreement, edge)
