"""The K values a config asks for (plan.sweep) and how a plan states them."""

from __future__ import annotations

import numpy as np
import pytest
import yaml
from tiny_workflow import REPO, TINY, changed, preflight

from hume_workflow.errors import InputError
from hume_workflow.formats.io import read_h5, write_h5
from hume_workflow.formats.run import RUN_ARRAYS, read_run
from hume_workflow.plan.methods import Task, config_tasks
from hume_workflow.plan.migrate import migrate, unmigrated
from hume_workflow.plan.preflight import describe_config
from hume_workflow.plan.sweep import class_counts, pair_class_counts


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (10, [10]),
        ([12, 4, 8, 4], [4, 8, 12]),
        ({"min": 2, "max": 6}, [2, 3, 4, 5, 6]),
        ({"min": 4, "max": 16, "step": 4}, [4, 8, 12, 16]),
        ({"min": 5, "max": 5}, [5]),
    ],
)
def test_class_counts_expand_every_form(value, expected):
    assert class_counts(value) == expected


@pytest.mark.parametrize(
    ("value", "key", "message"),
    [
        (
            {"min": 2, "max": 7, "step": 2},
            "dataset.num_classes",
            "config dataset.num_classes={'min': 2, 'max': 7, 'step': 2}: max - min = 5 is not "
            "a multiple of step 2, so max would be left out; use max: 6 or max: 8",
        ),
        (
            {"min": 3, "max": 4, "step": 3},
            "pairs[1].num_classes",
            "config pairs[1].num_classes={'min': 3, 'max': 4, 'step': 3}: max - min = 1 is not "
            "a multiple of step 3, so max would be left out; use max: 3 or max: 6",
        ),
    ],
    ids=["dataset", "pair"],
)
def test_a_range_that_would_leave_out_its_max_is_refused(value, key, message):
    """Both ends of {min, max, step} are included, so a max off the step is refused, naming
    the two nearest max values that are on it."""
    with pytest.raises(InputError) as caught:
        class_counts(value, key)
    assert str(caught.value) == message


def test_a_range_off_its_step_is_refused_at_plan_time(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = changed(TINY, "dataset.num_classes", {"min": 4, "max": 10, "step": 4})
    with pytest.raises(InputError, match=r"^config dataset.num_classes=.* use max: 8 or max: 12$"):
        preflight(config)
    config["pairs"][0]["num_classes"] = {"min": 2, "max": 5, "step": 2}
    config["dataset"]["num_classes"] = 10
    with pytest.raises(InputError, match=r"^config pairs\[0\].num_classes=.* max: 4 or max: 6$"):
        preflight(config)


@pytest.mark.parametrize("criterion", ["stability", "kappa_stability"])
def test_one_run_per_k_is_refused_for_a_sweep_whose_criterion_compares_runs(
    criterion, tmp_path, monkeypatch
):
    """stability and kappa_stability compare runs of the same K: with num_runs 1 a sweep
    could not pick a K, so the plan refuses it; one K, or another criterion, plans."""
    monkeypatch.chdir(tmp_path)
    config = changed(changed(TINY, "num_runs", 1), "k_choice.criterion", criterion)
    config["pairs"][1]["num_classes"] = [5, 10]
    with pytest.raises(InputError) as caught:
        preflight(config)
    message = str(caught.value)
    assert message.startswith(f"config num_runs=1 with k_choice.criterion={criterion!r}: ")
    assert "pairs[1].num_classes=[5, 10]" in message and "\n" not in message
    assert message.endswith(
        "set num_runs >= 2, or k_choice.criterion to one that works with one run: "
        "kappa, outer_fit, silhouette or score"
    )
    for other in ("kappa", "outer_fit", "silhouette", "score"):
        preflight(changed(config, "k_choice.criterion", other))
    preflight(changed(config, "pairs", TINY["pairs"]))  # one K: nothing to choose
    preflight(changed(config, "num_runs", 2))


def test_a_pair_s_own_k_replaces_the_dataset_s():
    config = changed(TINY, "pairs", [{"phi1": "a", "phi2": "b"}, {"phi1": "b", "phi2": "a"}])
    config["pairs"][1]["num_classes"] = [3, 5]
    assert pair_class_counts(config) == {("a", "b"): [10], ("b", "a"): [3, 5]}


def test_a_sweep_plans_with_its_k_values_stated(tmp_path, monkeypatch):
    """The tiny config as a sweep passes the checks (a K list needs no match with the
    dataset's 10 classes) and the plan's line names the K values and the criterion."""
    monkeypatch.chdir(tmp_path)
    config = changed(TINY, "dataset.num_classes", {"min": 4, "max": 12, "step": 4})
    preflight(config)  # raises on a refusal
    schema = yaml.safe_load((REPO / "workflow/schemas/config.schema.yaml").read_text())
    config["k_choice"] = {"criterion": "stability"}
    line = describe_config(config, schema, [])
    assert "K in {4, 8, 12}" in line
    assert "2 pairs x 2 runs per K (12 runs; K picked by stability)" in line


def test_a_single_k_unlike_the_dataset_s_classes_is_still_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InputError, match=r"dataset.num_classes=7 but .* has 10 classes"):
        preflight(changed(TINY, "dataset.num_classes", 7))


def test_tasks_are_the_pairs_with_their_k_values():
    config = changed(TINY, "dataset.num_classes", 10)
    config["pairs"] = [
        {"phi1": "a", "phi2": "b"},
        {"phi1": "b", "phi2": "a", "num_classes": [5, 3]},
    ]
    assert config_tasks(config) == [
        Task("hume", ("a", "b"), (10,)),
        Task("hume", ("b", "a"), (3, 5)),
    ]
    assert [t.name for t in config_tasks(config)] == ["a--b", "b--a"]


def write_old_run(path, seed=0, k=7):
    """A run file of HUME's own record (attributes phi1/phi2, the dataset theta)."""
    arrays = {
        "labels": np.array([0, 1, 1]),
        "eval_indices": np.arange(3),
        "confidence": np.ones(3, np.float32),
        "mean_soft_label": np.full(2, 0.5, np.float32),
        "theta": np.arange(8, dtype=np.float32).reshape(2, 4),
        "trace/cross_entropy": np.ones(4, np.float32),
    }
    attrs = {"seed": seed, "setting": "inductive", "score": 0.5, "kappa": 0.2}
    attrs |= {"n_clusters": 2, "min_cluster_size": 1, "degenerate": False, "wall_time_s": 1.0}
    attrs |= {"phi1": "a", "phi2": "b", "dataset": "tiny", "hyperparameters": {"num_classes": k}}
    write_h5(path, arrays, attrs)


def test_a_run_file_of_hume_s_own_record_is_refused_naming_the_migration(tmp_path):
    write_old_run(tmp_path / "seed0.h5")
    with pytest.raises(InputError, match=r"older layout; to keep it, python -m hume_workflow"):
        read_run(tmp_path / "seed0.h5")


def test_the_migration_rewrites_run_files_with_the_same_numbers(tmp_path):
    """Every array and attribute is kept; theta becomes phi1's encoder; the method and the
    task's spaces are recorded; a second migration finds nothing."""
    results = tmp_path / "results/tiny"
    path = results / "hume/a--b/k7/runs/seed0.h5"
    path.parent.mkdir(parents=True)
    write_old_run(path)
    before, before_attrs = read_h5(path)
    assert migrate(results) == [f"rewrote {path} in the run file of every method"]
    run = read_run(path, RUN_ARRAYS)
    assert run.method == "hume" and run.spaces == ("a", "b") and run.num_classes == 7
    np.testing.assert_array_equal(run.encoders["a"], before["theta"])
    np.testing.assert_array_equal(run.labels, before["labels"])
    np.testing.assert_array_equal(run.trace["cross_entropy"], before["trace"]["cross_entropy"])
    assert (run.score, run.kappa, run.seed) == (0.5, 0.2, 0)
    after_attrs = read_h5(path, [])[1]
    kept = set(before_attrs) - {"phi1", "phi2"}
    assert {key: after_attrs[key] for key in kept} == {key: before_attrs[key] for key in kept}
    assert migrate(results) == []


def test_runs_of_the_layout_without_k_folders_are_moved_and_kept(tmp_path):
    """A pair's runs (K read from the files), benchmarks and logs move into k<K>/; its
    derived files go; a second migration finds nothing; the plan warns before, not after."""
    results = tmp_path / "results/tiny"
    pair = results / "hume/a--b"
    (pair / "runs").mkdir(parents=True)
    write_old_run(pair / "runs/seed0.h5")
    (pair / "vote.csv").write_text("sample_index,label,agreement\n")
    bench, logs = results / "benchmarks/run_hume/a--b", results / "logs/run_hume/a--b"
    bench.mkdir(parents=True), logs.mkdir(parents=True)
    (bench / "job0.tsv").write_text("s\n1\n")
    (logs / "job0.log").write_text("done\n")
    [warning] = unmigrated(results)
    assert f"python -m hume_workflow.plan.migrate {results}" in warning
    migrate(results)
    assert read_run(pair / "k7/runs/seed0.h5").seed == 0
    assert (bench / "k7/job0.tsv").read_text() == "s\n1\n" and (logs / "k7/job0.log").exists()
    assert not (pair / "runs").exists() and not (pair / "vote.csv").exists()
    assert unmigrated(results) == [] and migrate(results) == []
