"""The output layout (plan/layout.py): the one home of every path the workflow writes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from tiny_workflow import REPO

from hume_workflow.plan import layout
from hume_workflow.plan.methods import METHODS


def test_the_rules_and_scripts_spell_no_results_path():
    """Rules, scripts and the Snakefile build their paths from plan/layout.py only."""
    files = [REPO / "Snakefile", *sorted((REPO / "workflow").rglob("*.smk"))]
    files += sorted((REPO / "workflow/scripts").glob("*.py"))
    spelt = [str(p.relative_to(REPO)) for p in files if "results/" in p.read_text()]
    assert spelt == []


@pytest.mark.parametrize(("num_runs", "runs_per_job"), [(6, 1), (6, 2), (24, 8), (8, 8)])
def test_run_files_hold_every_seed_once_job_by_job(num_runs, runs_per_job):
    """File i of job b holds seed b * runs_per_job + i, as the run script numbers them."""
    files = layout.run_files("d", "hume", "a--b", 10, num_runs, runs_per_job)
    assert len(set(files)) == len(files) == num_runs
    seeds = [
        seed
        for batch in range(layout.job_count(num_runs, runs_per_job))
        for seed in layout.job_seeds(batch, runs_per_job)
    ]
    assert seeds == list(range(num_runs))
    for seed, path in zip(seeds, files, strict=True):
        batch, i = divmod(seed, runs_per_job)
        name = f"seed{batch}.h5" if runs_per_job == 1 else f"batch{batch}/run{i}.h5"
        assert path == f"results/d/hume/a--b/k10/runs/{name}"


def test_a_task_s_name_and_spaces_round_trip():
    assert layout.task_name(["pixels", "efficientnet_lite0"]) == "pixels--efficientnet_lite0"
    assert layout.task_spaces("a--b--c") == ["a", "b", "c"]
    assert layout.task_spaces(layout.task_name(("x_1", "y"))) == ["x_1", "y"]


@pytest.mark.parametrize(
    ("wildcard", "value", "matches"),
    [
        ("task", "pixels--efficientnet_lite0", True),
        ("task", "a--b--c", True),
        ("task", "pixels", True),  # a TURTLE task of one space
        ("task", "pixels--", False),
        ("task", "a--", False),
        ("method", "hume", True),
        ("method", "predict", False),  # predict/ holds the new batches, not a method
        ("dataset", "digits_2", True),
        ("dataset", "a/b", False),
        ("k", "10", True),
    ],
)
def test_wildcards_match_what_their_folders_hold(wildcard, value, matches):
    pattern = layout.wildcards(METHODS)[wildcard]
    assert (re.fullmatch(pattern, value) is not None) is matches


def test_every_pattern_fills_in_to_a_path_under_results():
    values = {"dataset": "d", "method": "hume", "task": "a--b", "k": 3, "backbone": "a"}
    values |= {"new": "n", "batch": 0}
    patterns = [value for name, value in vars(layout).items() if name.isupper()]
    patterns = [p for p in patterns if isinstance(p, str) and "{dataset}" in p]
    assert len(patterns) >= 15
    for pattern in patterns:
        path = Path(layout.fill(pattern, **values))
        assert path.parts[:2] == ("results", "d") and "{" not in str(path)
