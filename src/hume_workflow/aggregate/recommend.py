"""One recommended answer per dataset: which task's labels to use, chosen without labels.

Every task (a method on its spaces, plan/methods.py) ends with the vote of the K its sweep
chose (k_choice.json) and that vote's labels.csv. The rule that picks one of them:

1. Each task is represented by its chosen K and that K's *run agreement*: ``stability`` in
   k_choice.json, the mean adjusted Rand index between every two runs of that K
   (aggregate/k_choice.py). Runs that find the same labeling again and again found a
   structure of the data rather than an accident of their seed.
2. The recommended task is the one with the highest run agreement. Ties go to the higher
   mean Cohen's kappa of that K's runs (``kappa`` in k_choice.json), then to the task that
   comes first in the config (``config_tasks``' order: HUME's pairs, then TURTLE's tasks).
3. Fallback: when any task has no run agreement (its chosen K has one run, so there is nothing
   to compare), every task is ranked by its mean kappa instead, then by config order, so that
   all tasks are compared on one scale. A value that is NaN (not recorded) ranks last.

Beside the answer, where the tasks disagree with it is recorded: per task, its chosen K and
the ARI between its labels and the recommended ones on the samples both label (labels.csv's
``sample_id``); a task disagrees when its K differs or that ARI is below
:data:`DISAGREEMENT_ARI`. No ground truth is read.

Rule ``recommend`` writes the answer as ``results/<dataset>/recommendation.json`` (its one
writer :func:`write_recommendation`, one reader :func:`read_recommendation`) and copies the
recommended task's labels.csv, byte for byte, to ``results/<dataset>/labels.csv``.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd
from sklearn.metrics import adjusted_rand_score

from hume_workflow.errors import InputError
from hume_workflow.formats.io import atomic_path, json_fields, read_json_fields, write_json
from hume_workflow.formats.k_choice import KChoice, read_k_choice
from hume_workflow.formats.votes import read_labels
from hume_workflow.plan.layout import task_name

log = logging.getLogger(__name__)

#: Below this ARI with the recommended labels (on common samples), a task disagrees.
DISAGREEMENT_ARI = 0.8
#: The rule in one sentence, as the report and recommendation.json state it.
RULE = (
    "the task whose chosen K has the highest run agreement (mean pairwise ARI between its "
    "runs; the mean kappa for every task when some task has a single run), ties broken by the "
    "higher mean kappa, then by config order"
)


@dataclass(frozen=True)
class Candidate:
    """One task at its chosen K, with what the rule and the disagreement read of it."""

    method: str
    spaces: list[str]  # in the method's order
    k: int  # the task's chosen K
    stability: float | None  # mean pairwise ARI between that K's runs; None: fewer than two
    kappa: float | None  # mean Cohen's kappa of that K's runs; None: not recorded
    ari: float | None = None  # with the recommended labels on common samples; None: none common
    common: int = 0  # the samples both label

    @property
    def task(self) -> str:
        """The task's folder name (plan/layout.py)."""
        return task_name(self.spaces)


@dataclass(frozen=True)
class Recommendation:
    """The recommended (method, task, K), how the rule ranked the tasks, and every task."""

    method: str
    spaces: list[str]
    k: int
    ranked_by: str  # "stability", or "kappa" (the fallback)
    rule: str  # :data:`RULE`
    labels: str  # the recommended task's labels.csv
    candidates: list[Candidate]  # every task, in config order, the recommended one among them
    copy: str = ""  # where rule recommend copies ``labels``: results/<dataset>/labels.csv

    @property
    def task(self) -> str:
        """The recommended task's folder name."""
        return task_name(self.spaces)

    def is_recommended(self, c: Candidate) -> bool:
        """Whether ``c`` is the recommended task."""
        return (c.method, c.task) == (self.method, self.task)

    def disagreeing(self) -> list[Candidate]:
        """The other tasks whose chosen K differs from the recommended one, or whose labels
        agree with the recommended ones at an ARI below :data:`DISAGREEMENT_ARI`."""
        return [c for c in self.candidates if not self.is_recommended(c) and disagrees(self, c)]


def disagrees(recommended: Recommendation, c: Candidate) -> bool:
    """Whether task ``c`` disagrees with the ``recommended`` one (see
    :meth:`Recommendation.disagreeing`); an ARI that could not be computed does not count."""
    return c.k != recommended.k or (c.ari is not None and c.ari < DISAGREEMENT_ARI)


def candidate(choice: KChoice) -> Candidate:
    """The task of ``choice`` at its chosen K: its run agreement and mean kappa."""
    values = choice.evidence[choice.chosen_k]
    return Candidate(
        choice.method,
        list(choice.spaces),
        choice.chosen_k,
        _known(values.get("stability")),
        _known(values.get("kappa")),
    )


def ranking(candidates: Sequence[Candidate]) -> str:
    """What the rule ranks ``candidates`` by: "stability" when every one has it, else "kappa"."""
    return "stability" if all(c.stability is not None for c in candidates) else "kappa"


def best(candidates: Sequence[Candidate]) -> int:
    """The index in ``candidates`` (in config order) of the task the rule recommends.

    Raises:
        InputError: no candidates.
    """
    if not candidates:
        raise InputError("no task to recommend; expected the k_choice.json of at least one")
    key = ranking(candidates)

    def rank(i: int) -> tuple[float, float, int]:
        c = candidates[i]
        return _order(getattr(c, key)), _order(c.kappa), -i

    return max(range(len(candidates)), key=rank)


def recommend(
    choices: Sequence[KChoice],
    labels: Sequence[pd.DataFrame],
    label_paths: Sequence[str | os.PathLike],
) -> Recommendation:
    """The rule's answer among ``choices`` (one per task, in config order), with each task's
    ARI against the recommended labels.

    Args:
        choices: every task's K choice.
        labels: each task's labels.csv (``sample_id``, ``label``), in the order of ``choices``.
        label_paths: the files of ``labels``.

    Raises:
        InputError: not one labels file per K choice, or no K choice.
    """
    if not len(choices) == len(labels) == len(label_paths):
        raise InputError(
            f"{len(choices)} K choices but {len(label_paths)} labels files; expected one "
            "labels.csv per task, in the order of the tasks"
        )
    plain = [candidate(choice) for choice in choices]
    chosen = best(plain)
    reference = labels[chosen]
    compared = [
        dataclasses.replace(c, **agreement(reference, table))
        for c, table in zip(plain, labels, strict=True)
    ]
    winner = compared[chosen]
    return Recommendation(
        winner.method,
        winner.spaces,
        winner.k,
        ranking(plain),
        RULE,
        str(label_paths[chosen]),
        compared,
    )


def agreement(reference: pd.DataFrame, other: pd.DataFrame) -> dict:
    """``ari`` (None when no sample is common) and ``common``: the adjusted Rand index between
    two labels.csv tables on the samples both label (by ``sample_id``)."""
    both = reference.merge(other, on="sample_id", suffixes=("_ref", "_other"))
    if both.empty:
        return {"ari": None, "common": 0}
    ari = adjusted_rand_score(both["label_ref"], both["label_other"])
    return {"ari": float(ari), "common": len(both)}


def recommend_labels(
    choice_paths: Sequence[str | os.PathLike],
    label_paths: Sequence[str | os.PathLike],
    json_path: str | os.PathLike,
    labels_path: str | os.PathLike,
) -> Recommendation:
    """Rule ``recommend``: the answer among the tasks of ``choice_paths`` (k_choice.json, in
    config order) and ``label_paths`` (their labels.csv, same order), written to
    ``json_path``; the recommended labels.csv copied to ``labels_path`` (both atomically)."""
    choices = [read_k_choice(path) for path in choice_paths]
    tables = [read_labels(path) for path in label_paths]
    answer = recommend(choices, tables, label_paths)
    log.info(
        "recommended: %s %s at K=%d (ranked by %s among %d tasks)",
        answer.method,
        answer.task,
        answer.k,
        answer.ranked_by,
        len(answer.candidates),
    )
    for c in answer.disagreeing():
        log.info("disagrees: %s %s (K=%d, ARI %s)", c.method, c.task, c.k, c.ari)
    answer = dataclasses.replace(answer, copy=str(labels_path))
    write_recommendation(json_path, answer)
    with atomic_path(labels_path) as tmp:
        shutil.copyfile(answer.labels, tmp)
    return answer


def write_recommendation(path: str | os.PathLike, answer: Recommendation) -> None:
    """Write ``answer`` as JSON (recommendation.json), atomically; each task with its folder
    name (``task``) beside its spaces."""
    data = dataclasses.asdict(answer) | {"task": answer.task}
    data["candidates"] = [dataclasses.asdict(c) | {"task": c.task} for c in answer.candidates]
    write_json(path, data)


def read_recommendation(path: str | os.PathLike) -> Recommendation:
    """The answer written by :func:`write_recommendation`.

    Raises:
        InputError: not JSON, or not a recommendation (naming the missing keys).
    """
    data = read_json_fields(path, Recommendation, "recommend")
    candidates = [
        Candidate(**json_fields(c, Candidate, path, "recommend", f" in candidates[{i}]"))
        for i, c in enumerate(data["candidates"])
    ]
    return Recommendation(**(data | {"candidates": candidates}))


def _known(value: float | None) -> float | None:
    """``value`` as a float, None when absent or NaN."""
    return None if value is None or math.isnan(value) else float(value)


def _order(value: float | None) -> float:
    """A value for ranking: None ranks below every number."""
    return -math.inf if value is None else value
