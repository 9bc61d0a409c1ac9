"""Collapsed runs: the rule, the warning, and the selection manifest that records them."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from fake_runs import fake_run

from hume_workflow.aggregate.collapse import collapsed
from hume_workflow.aggregate.selection import collapse_warning
from hume_workflow.aggregate.selection import labels_of as labels_read
from hume_workflow.errors import InputError
from hume_workflow.formats.selection import RankedRun, Selection, read_selection, write_selection


def labels_of(sizes: list[int]) -> np.ndarray:
    """(sum(sizes),) hard labels: cluster k holds sizes[k] samples (0: empty)."""
    return np.repeat(np.arange(len(sizes)), sizes)


@pytest.mark.parametrize(
    ("sizes", "k", "expected"),
    [
        ([4] * 5 + [0] * 5, 10, True),  # 5 of 10 clusters used: half
        ([4] * 6 + [0] * 4, 10, False),  # 6 of 10
        ([50] + [6] * 5 + [5] * 4, 10, False),  # largest holds exactly 1/2
        ([51] + [6] * 4 + [5] * 5, 10, True),  # just above 1/2
        ([6, 1, 1, 1, 1], 5, False),  # exactly 3/K = 0.6
        ([61, 10, 10, 10, 9], 5, True),  # just above 3/K
        ([75, 9, 8, 8], 4, False),  # exactly 3/K = 0.75
        ([76, 8, 8, 8], 4, True),
        ([70, 30], 2, False),  # K = 2: an uneven split is data
        ([70, 30, 0], 3, False),  # K = 3: two of three clusters, 70/30
        ([70, 15, 15], 3, False),
        ([95, 5], 2, False),  # max(1/2, 3/2) can never be exceeded
        ([20], 2, True),  # one cluster: degenerate, so collapsed
        ([20] + [0] * 9, 10, True),
    ],
)
def test_collapse_rule_at_its_edges(sizes, k, expected):
    assert collapsed(labels_of(sizes), k) is expected


def test_a_run_without_labels_cannot_tell_whether_it_collapsed():
    run = dataclasses.replace(fake_run(3, labels_of([4] * 5 + [0] * 5), 0.5), path="r/seed3.h5")
    with pytest.raises(ValueError, match=r"^r/seed3\.h5: labels not read; expected the run read"):
        labels_read(dataclasses.replace(run, labels=None))
    assert collapsed(labels_read(run), 10) and not collapsed(labels_read(run), 8)


def test_collapse_warning_only_when_most_runs_collapsed():
    assert collapse_warning(4, 8, 10, [2, 3, 4, 5]) is None  # half
    assert collapse_warning(0, 8, 10, []) is None
    assert collapse_warning(1, 1, 10, [1]).startswith("1 of 1 runs collapsed (they use 1 of K")
    assert collapse_warning(7, 8, 10, [2, 5, 3, 4, 2, 2, 5]) == (
        "7 of 8 runs collapsed (they use 2-5 of K = 10 clusters): the labels are not "
        "trustworthy; the likely cause is step sizes too large or too small for the feature "
        "scale (hume.inner_lr, hume.outer_lr against phi2's scale; try the paper's values, or "
        "PCA / L2-normalised features) — see docs/algorithm.md#collapsed-runs"
    )


SELECTION = Selection(
    top_n=2,
    n_runs=3,
    n_selected=2,
    n_degenerate=1,
    note="3 of 3 runs collapsed",
    selected=[2, 0],
    ranked=[
        RankedRun(2, 0.9, False, 3, True),
        RankedRun(0, 0.5, False, 10, False),
        RankedRun(1, 0.0, True, 1, True),
    ],
    n_collapsed=2,
)


def test_selection_round_trips_through_json(tmp_path):
    path = tmp_path / "selection.json"
    write_selection(path, SELECTION)
    data = json.loads(path.read_text())
    assert data["n_collapsed"] == 2 and [r["collapsed"] for r in data["ranked"]] == [1, 0, 1]
    assert read_selection(path) == SELECTION


def test_selection_written_before_collapse_was_recorded(tmp_path):
    old = dataclasses.asdict(SELECTION)
    del old["n_collapsed"]
    for run in old["ranked"]:
        del run["collapsed"]
    path = tmp_path / "selection.json"
    path.write_text(json.dumps(old))
    read = read_selection(path)
    assert read.n_collapsed == 0 and not any(r.collapsed for r in read.ranked)
    assert read == dataclasses.replace(
        SELECTION,
        n_collapsed=0,
        ranked=[dataclasses.replace(r, collapsed=False) for r in SELECTION.ranked],
    )


def test_selection_missing_required_keys(tmp_path):
    broken = dataclasses.asdict(SELECTION)
    del broken["selected"]
    del broken["ranked"][1]["score"]
    path = tmp_path / "selection.json"
    path.write_text(json.dumps(broken))
    with pytest.raises(InputError, match=r"selection\.json: no \['selected'\] keys; expected a "):
        read_selection(path)
    broken["selected"] = [2, 0]
    path.write_text(json.dumps(broken))
    with pytest.raises(
        InputError, match=r"selection\.json: no \['score'\] keys in a ranked run; expected a "
    ):
        read_selection(path)
    path.write_text("[1, 2]")
    with pytest.raises(InputError, match=r"no \['top_n', 'n_runs', .*'ranked'\] keys; expected"):
        read_selection(path)
