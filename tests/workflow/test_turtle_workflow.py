"""TURTLE through Snakemake on the tiny dataset: a task of two spaces and a task of one space
whose own num_classes sweeps two K values, run to their labels and the report, a batch of new
images labelled by the runs' heads (``predict.method: encoders``), and the plan after a task
is added.

The run is made once, in the background (tests/conftest.py), in a copy of the finished tiny
workflow (its dataset and embeddings; its HUME pairs are left out of this config), and every
test reads it. What the workflow wrote is checked against direct computations from the
embedding files: each run's labels from its heads, the batch's labels from every voting
run's heads aligned onto the vote.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.special import softmax
from tiny_workflow import PICKED, TINY, planned_jobs, snakemake, with_new_images

from hume_workflow.aggregate.alignment import alignment
from hume_workflow.aggregate.k_pick import choose_k
from hume_workflow.formats.embeddings import read_spaces
from hume_workflow.formats.io import read_h5
from hume_workflow.formats.k_choice import read_k_choice
from hume_workflow.formats.run import read_run
from hume_workflow.formats.selection import read_selection

BOTH = ["pixels", "efficientnet_lite0"]
# task folder -> (its spaces, its K values)
TASKS = {
    "pixels--efficientnet_lite0": (BOTH, [10]),
    "pixels": (["pixels"], [5, 10]),
}
RUN_ARRAYS = ("labels", "eval_indices", "confidence", "encoder", "bias", "trace")


def turtle_config(folder: Path, tasks: list) -> dict:
    """TINY without its HUME pairs, with TURTLE ``tasks`` on a small budget, two runs in one
    job, and the batch ``new`` of the images in ``folder`` labelled by the runs' heads."""
    return {
        **TINY,
        "pairs": [],
        "turtle": {
            "tasks": tasks,
            "num_iters": 40,
            "batch_size": 100,
            "inner_steps": 3,
            "inner_lr": 0.01,
            "outer_lr": 0.01,
        },
        "compute": {"runs_per_job": 2},
        "predict": {"batches": {"new": {"root": str(folder)}}, "method": "encoders"},
    }


TURTLE_TASKS = [BOTH, {"spaces": ["pixels"], "num_classes": [5, 10]}]


def turtle_tiny(workdir: Path, finished: Path) -> Path:
    """The finished tiny workflow, copied, with the TURTLE tasks run to their report and
    the batch of six of its digits labelled by each task."""
    folder = with_new_images(workdir, finished)
    snakemake(workdir, turtle_config(folder, TURTLE_TASKS), "--cores", "2")
    return workdir


pytestmark = pytest.mark.background.with_args(turtle_tiny)


@pytest.fixture(scope="module")
def results(background) -> Path:
    """results/tiny of the TURTLE run (do not modify it)."""
    return background.result(turtle_tiny) / "results/tiny"


def head_labels(run, spaces: dict[str, np.ndarray]) -> np.ndarray:
    """A run's labels of samples ``spaces`` ({space: (n, d)}), from its heads in float64:
    argmax over K of the mean over its spaces of softmax(x W^T + b)."""
    mean = sum(
        softmax(spaces[name].astype(np.float64) @ w.T + run.biases[name], axis=1)
        for name, w in run.encoders.items()
    )
    return mean.argmax(axis=1)


def dataset_spaces(results: Path, names: list[str]) -> dict[str, np.ndarray]:
    """{space: (N, d)} features of the dataset's samples, as the run jobs read them."""
    files = [results / f"embeddings/{name}.h5" for name in names]
    return dict(zip(names, read_spaces(results / "data.h5", files), strict=True))


def test_every_run_holds_a_head_per_space_that_gives_its_labels(results):
    split = read_h5(results / "data.h5", ["split"])[0]["split"]
    test = np.flatnonzero(split == 1)
    features = dataset_spaces(results, BOTH)
    for task, (spaces, ks) in TASKS.items():
        for k in ks:
            for seed in (0, 1):
                path = results / f"turtle/{task}/k{k}/runs/batch0/run{seed}.h5"
                run = read_run(path, arrays=RUN_ARRAYS)
                assert (run.method, run.spaces, run.seed) == ("turtle", tuple(spaces), seed)
                assert run.num_classes == k and run.hyperparameters["num_iters"] == 40
                assert sorted(run.encoders) == sorted(run.biases) == sorted(spaces)
                for name in spaces:
                    assert run.encoders[name].shape == (k, features[name].shape[1])
                    assert run.biases[name].shape == (k,)
                np.testing.assert_array_equal(run.eval_indices, test)  # inductive
                at_test = {name: features[name][test] for name in spaces}
                np.testing.assert_array_equal(run.labels, head_labels(run, at_test))
                assert set(run.trace) == {"cross_entropy", "entropy", "loss"}
                assert all(len(values) == 40 for values in run.trace.values())
                assert 0 <= run.score <= 1 and not run.degenerate
        labels = pd.read_csv(results / f"turtle/{task}/labels.csv")
        assert labels.columns.tolist() == ["sample_id", "label", "agreement", "reliable"]
        assert len(labels) == len(test) and labels.sample_id.is_unique
    # the two seeds of a task are two runs, not one run twice
    runs = [
        read_run(results / f"turtle/pixels/k10/runs/batch0/run{s}.h5", RUN_ARRAYS) for s in (0, 1)
    ]
    assert not np.array_equal(runs[0].encoders["pixels"], runs[1].encoders["pixels"])
    for log in (results / "logs").rglob("*.log"):
        assert "Traceback" not in log.read_text(), log


def test_the_report_lists_the_turtle_tasks(results):
    summary = pd.read_csv(results / "report/summary.csv")
    assert sorted(zip(summary.method, summary.task, strict=True)) == [
        ("turtle", task) for task in sorted(TASKS)
    ]
    assert summary.vote_acc.between(0, 1).all() and (summary.runs == 2).all()
    chosen = read_k_choice(results / "turtle/pixels/k_choice.json").chosen_k
    assert summary.set_index("task").k.to_dict() == {
        "pixels--efficientnet_lite0": 10,
        "pixels": chosen,
    }
    runs = pd.read_csv(results / "report/runs.csv")
    assert len(runs) == 2 + 2 * 2  # two runs per K: one K, and two


def test_a_k_sweep_of_a_turtle_task_picks_a_k(results):
    task = results / "turtle/pixels"
    choice = read_k_choice(task / "k_choice.json")
    assert sorted(choice.evidence) == [5, 10] and choice.n_runs == {5: 2, 10: 2}
    assert choice.chosen_k == choose_k(choice.evidence, choice.criterion)
    votes = pd.read_csv(task / "vote.csv")
    pd.testing.assert_frame_equal(votes, pd.read_csv(task / f"k{choice.chosen_k}/vote.csv"))
    single = read_k_choice(results / "turtle/pixels--efficientnet_lite0/k_choice.json")
    assert single.chosen_k == 10


@pytest.mark.parametrize("task", list(TASKS))
def test_new_images_get_the_labels_of_the_voting_runs_heads(results, task):
    """Every voting run labels the batch with its heads, its ids mapped onto the vote's by
    the alignment of its labels with the vote; the majority (ties: the smallest id) and the
    fraction of runs that give it."""
    predicted = pd.read_csv(results / f"predict/turtle/{task}/new.csv")
    assert predicted.sample_id.tolist() == [f"sample{i:03d}.png" for i in PICKED]
    spaces = TASKS[task][0]
    k = read_k_choice(results / f"turtle/{task}/k_choice.json").chosen_k
    files = [results / f"predict/batches/new/embeddings/{name}.h5" for name in spaces]
    new = dict(
        zip(spaces, read_spaces(results / "predict/batches/new/data.h5", files), strict=True)
    )
    # the batch is six of the dataset's own digits: their features are those samples'
    for name, own in dataset_spaces(results, spaces).items():
        np.testing.assert_allclose(new[name], own[PICKED], rtol=1e-5, atol=1e-5)
    votes = pd.read_csv(results / f"turtle/{task}/vote.csv")
    seeds = read_selection(results / f"turtle/{task}/k{k}/selection.json").selected
    counts = np.zeros((len(PICKED), k))
    for seed in seeds:
        run = read_run(results / f"turtle/{task}/k{k}/runs/batch0/run{seed}.h5", RUN_ARRAYS)
        np.testing.assert_array_equal(run.eval_indices, votes.sample_index)
        lookup = alignment(run.labels, votes.label.to_numpy(), k)
        counts[np.arange(len(PICKED)), lookup[head_labels(run, new)]] += 1
    np.testing.assert_array_equal(predicted.label, counts.argmax(axis=1))
    np.testing.assert_allclose(predicted.confidence, counts.max(axis=1) / len(seeds))


def test_adding_a_turtle_task_plans_only_its_jobs(results):
    """A dry run with one more task: that task's one run job (two seeds) and what follows
    from it, then the dataset's summaries; no job of the other tasks (their params are the
    hyperparameters, not the task list) and nothing upstream."""
    workdir = results.parents[1]
    config = turtle_config(workdir / "new", [*TURTLE_TASKS, ["efficientnet_lite0"]])
    jobs = planned_jobs(snakemake(workdir, config, "--dry-run"))
    per_task = {}
    for job in jobs:
        per_task.setdefault(job.get("task"), []).append(job["rule"])
    assert set(per_task) == {"efficientnet_lite0", None}, jobs
    assert sorted(per_task["efficientnet_lite0"]) == [
        "choose_k",
        "evaluate_task",
        "export_labels",
        "majority_vote",
        "predict_batch",
        "run_turtle",
        "select_runs",
    ]
    # the dataset's summaries over every task
    assert sorted(per_task[None]) == ["recommend", "write_report"]
    [run_job] = [job for job in jobs if job["rule"] == "run_turtle"]
    assert (run_job["k"], run_job["batch"]) == ("10", "0")
