"""The recommended answer (aggregate/recommend.py) from hand-made k_choice.json and labels.csv
files: the task with the highest run agreement, its fallback, its ties and its disagreements."""

import math

import numpy as np
import pandas as pd
import pytest

from hume_workflow.aggregate.recommend import (
    RULE,
    best,
    candidate,
    read_recommendation,
    recommend_labels,
)
from hume_workflow.errors import InputError
from hume_workflow.formats.k_choice import KChoice, write_k_choice
from hume_workflow.formats.votes import write_labels

NAN = math.nan


def choice(
    method: str,
    spaces: list[str],
    stability: float,
    kappa: float,
    k: int = 3,
    others: dict[int, tuple[float, float]] | None = None,
) -> KChoice:
    """A task's K choice picking ``k`` (its stability and kappa), with the ``others`` Ks'
    (stability, kappa) beside it (never chosen)."""
    rows = {k: (stability, kappa), **(others or {})}
    evidence = {
        kk: {"stability": s, "kappa": kp, "kappa_stability": NAN, "score": 0.5}
        for kk, (s, kp) in rows.items()
    }
    return KChoice(method, spaces, "stability", k, evidence, dict.fromkeys(rows, 2))


def labels_table(labels, ids=None) -> pd.DataFrame:
    """A labels.csv table labelling samples s0, s1, ... (or ``ids``) with ``labels``."""
    labels = np.asarray(labels)
    ids = [f"s{i}" for i in range(len(labels))] if ids is None else ids
    return pd.DataFrame({"sample_id": ids, "label": labels, "agreement": 1.0, "reliable": True})


def write_tasks(tmp_path, tasks: list[tuple[KChoice, pd.DataFrame]]):
    """Each task's k_choice.json and labels.csv under tmp_path/<method>/<task>/."""
    choices, labels = [], []
    for c, table in tasks:
        folder = tmp_path / c.method / "--".join(c.spaces)
        folder.mkdir(parents=True)
        write_k_choice(folder / "k_choice.json", c)
        write_labels(folder / "labels.csv", table)
        choices.append(folder / "k_choice.json")
        labels.append(folder / "labels.csv")
    return choices, labels


def run_rule(tmp_path, tasks):
    """Rule recommend on ``tasks``: its answer as written, and the copied labels' path."""
    choices, labels = write_tasks(tmp_path, tasks)
    out, copy = tmp_path / "recommendation.json", tmp_path / "labels.csv"
    returned = recommend_labels(choices, labels, out, copy)
    answer = read_recommendation(out)
    assert answer == returned
    return answer, copy


TRUTH = [0, 0, 1, 1, 2, 2, 0, 1, 2, 0]


def test_the_task_whose_chosen_k_agrees_most_is_recommended_and_its_labels_copied(tmp_path):
    tasks = [
        (choice("hume", ["a", "b"], 0.55, 0.9), labels_table(TRUTH)),
        # its K = 5 is more stable, but it chose 3: only the chosen K counts
        (choice("hume", ["b", "a"], 0.40, 0.8, others={5: (0.99, 0.9)}), labels_table(TRUTH)),
        (choice("turtle", ["a"], 0.80, 0.1), labels_table((np.array(TRUTH) + 1) % 3)),
        (choice("turtle", ["a", "b", "c"], 0.60, 0.7, k=4), labels_table([0] * 5 + [1] * 5)),
    ]
    answer, copy = run_rule(tmp_path, tasks)
    assert (answer.method, answer.spaces, answer.task, answer.k) == ("turtle", ["a"], "a", 3)
    assert answer.ranked_by == "stability" and answer.rule == RULE
    assert answer.labels == str(tmp_path / "turtle/a/labels.csv")
    assert answer.copy == str(copy)
    assert copy.read_bytes() == (tmp_path / "turtle/a/labels.csv").read_bytes()
    # every task, in config order, with its ARI against the recommended labels
    assert [c.task for c in answer.candidates] == ["a--b", "b--a", "a", "a--b--c"]
    assert [c.ari for c in answer.candidates][:3] == [1.0, 1.0, 1.0]  # ids permuted: same
    assert answer.candidates[3].ari < 0.8 and answer.candidates[3].common == 10
    assert [c.task for c in answer.disagreeing()] == ["a--b--c"]  # K = 4 and ARI < 0.8


def test_ties_go_to_the_higher_kappa_then_to_config_order():
    tied = [choice("hume", ["a", "b"], 0.7, 0.5), choice("turtle", ["a"], 0.7, 0.6)]
    assert best([candidate(c) for c in tied]) == 1
    same = [choice("hume", ["a", "b"], 0.7, 0.6), choice("turtle", ["a"], 0.7, 0.6)]
    assert best([candidate(c) for c in same]) == 0


def test_without_a_run_agreement_every_task_is_ranked_by_kappa(tmp_path):
    tasks = [
        (choice("hume", ["a", "b"], 0.9, 0.2), labels_table(TRUTH)),
        (choice("turtle", ["a"], NAN, 0.6), labels_table(TRUTH)),  # one run: no stability
        (choice("turtle", ["b"], 0.3, 0.5), labels_table(TRUTH)),
    ]
    answer, _ = run_rule(tmp_path, tasks)
    assert answer.ranked_by == "kappa" and (answer.method, answer.task) == ("turtle", "a")
    assert answer.candidates[1].stability is None  # written as null, read back as None
    assert answer.disagreeing() == []


def test_a_missing_kappa_ranks_last_and_a_missing_stability_key_counts_as_none():
    no_kappa = choice("hume", ["a", "b"], NAN, NAN)
    old = KChoice("turtle", ["a"], "kappa", 3, {3: {"kappa": 0.1}}, {3: 1})  # no stability key
    assert candidate(old).stability is None
    assert best([candidate(no_kappa), candidate(old)]) == 1
    assert best([candidate(no_kappa)]) == 0


def test_samples_labelled_by_one_task_only_are_left_out_of_the_ari(tmp_path):
    tasks = [
        (choice("turtle", ["a"], 0.9, 0.5), labels_table(TRUTH)),
        (choice("turtle", ["b"], 0.5, 0.5), labels_table(TRUTH[:4], ids=["s0", "s1", "s2", "x"])),
        (choice("turtle", ["c"], 0.5, 0.5), labels_table([0, 1], ids=["y", "z"])),
    ]
    answer, _ = run_rule(tmp_path, tasks)
    assert [(c.ari, c.common) for c in answer.candidates[1:]] == [(1.0, 3), (None, 0)]


def test_a_labels_file_per_task_or_a_one_line_error(tmp_path):
    choices, labels = write_tasks(
        tmp_path, [(choice("turtle", ["a"], 0.9, 0.5), labels_table(TRUTH))]
    )
    with pytest.raises(InputError, match=r"^1 K choices but 2 labels files"):
        recommend_labels(choices, labels * 2, tmp_path / "r.json", tmp_path / "l.csv")
    with pytest.raises(InputError, match="no task to recommend"):
        recommend_labels([], [], tmp_path / "r.json", tmp_path / "l.csv")
    assert not (tmp_path / "r.json").exists() and not (tmp_path / "l.csv").exists()
