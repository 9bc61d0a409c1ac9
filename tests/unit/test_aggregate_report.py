"""File-level selection, vote and evaluation of a pair's runs."""

from itertools import permutations

import numpy as np
import pandas as pd
import pytest
from fake_runs import write_fake_run

from hume_workflow.aggregate.selected_vote import vote_selected
from hume_workflow.aggregate.selection import select_runs
from hume_workflow.formats.io import read_h5
from hume_workflow.formats.run import LABELS, read_runs
from hume_workflow.report.evaluate import evaluate_task
from hume_workflow.report.page import write_report
from hume_workflow.report.tables import TRUTH_COLUMNS, summary_tables


@pytest.fixture
def run_files(tmp_path):
    """Four runs over samples 10..29: run s flips the first 3*s labels of the truth."""
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 3, 40)
    eval_idx = np.arange(10, 30)
    paths, scores = [], [0.6, 0.9, 0.7, 0.8]
    for seed, score in enumerate(scores):
        labels = truth[eval_idx].copy()
        labels[: 3 * seed] = (labels[: 3 * seed] + 1) % 3
        labels = (labels + seed) % 3  # a different id permutation per run
        path = tmp_path / f"seed{seed}.h5"
        paths.append(write_fake_run(path, seed, labels, score, eval_indices=eval_idx))
    return paths, scores, truth


def test_selection_ranks_by_score_and_keeps_top_n(run_files):
    paths, _, _ = run_files
    manifest = select_runs(read_runs(paths, LABELS), top_n=2, num_classes=3)
    assert manifest.selected == [1, 3]
    assert [r.seed for r in manifest.ranked] == [1, 3, 2, 0]
    assert select_runs(read_runs(paths, LABELS), top_n=None, num_classes=3).selected == [1, 3, 2, 0]
    assert select_runs(read_runs(paths, LABELS), top_n=10, num_classes=3).selected == [
        1,
        3,
        2,
        0,
    ]  # capped, with a warning


def test_vote_and_evaluation(run_files):
    paths, scores, truth = run_files
    manifest = select_runs(read_runs(paths, LABELS), top_n=None, num_classes=3)
    votes = vote_selected(manifest, paths, 3)
    assert votes.sample_index.tolist() == list(range(10, 30))
    result = evaluate_task(manifest, paths, votes, truth, 3)
    accs = {r["seed"]: r["acc"] for r in result["runs"]}
    assert accs[0] == 1.0 and accs[3] < accs[2] < accs[1] < 1.0
    expected_r = np.corrcoef([scores[s] for s in range(4)], [accs[s] for s in range(4)])[0, 1]
    assert result["score_acc_pearson"] == pytest.approx(expected_r)
    assert result["n_runs"] == result["n_selected"] == 4
    # Once aligned, sample i is flipped by the runs with 3 * seed > i: samples 0-2 by three of
    # four runs (the vote flips them), 3-5 by two (a tie, won by the best run, seed 1, which
    # keeps them), 6-8 by one. So the vote is seed 1's labeling.
    assert result["vote"]["acc"] == accs[1]
    np.testing.assert_allclose(votes.agreement, [0.75] * 3 + [0.5] * 3 + [0.75] * 3 + [1] * 11)


def test_unlabelled_data_gives_a_report_without_accuracy(run_files, tmp_path):
    paths, _, truth = run_files
    manifest = select_runs(read_runs(paths, LABELS), top_n=None, num_classes=3)
    votes = vote_selected(manifest, paths, 3)
    result = evaluate_task(manifest, paths, votes, np.full_like(truth, -1), 3)
    assert result["vote"]["acc"] is None and result["score_acc_pearson"] is None
    assert sum(c["size"] for c in result["vote"]["clusters"]) == 20
    pair = {**result, "phi1": "a", "phi2": "b", "k": 3, "setting": "inductive"}
    no_truth = {
        "dim": 4,
        "kmeans": {"acc": None, "ari": None, "nmi": None},
        "linear_probe_acc": None,
    }
    tables = summary_tables([pair], {"a": no_truth, "b": no_truth})
    for table in tables.values():
        assert not TRUTH_COLUMNS & set(table.columns)
    assert {"vote_agreement", "best_score", "vote_clusters_used"} <= set(tables["summary"].columns)
    assert tables["clusters"]["size"].sum() == 20
    out = {k: tmp_path / f"{k}.out" for k in ("summary_csv", "runs_csv", "markdown", "html")}
    write_report(tables, out, "unlabelled")
    page = out["html"].read_text()
    assert "vote_agreement" in page and "vote_acc" not in page and "score" in page
    # what needs the truth is not explained where there is none
    assert "pearson_score_acc" not in page and "Hungarian" not in page
    assert "No ground truth" in page and "bootstrap interval" in page


def test_metrics_skip_samples_without_truth():
    from hume_workflow.aggregate.metrics import compute_metrics

    labels = np.array([0, 0, 1, 1, 2])
    truth = np.array([1, 1, 0, 0, -1])
    assert compute_metrics(labels, truth)["acc"] == 1.0


def brute_force_vote(labelings: np.ndarray, k: int) -> np.ndarray:
    """Majority vote after aligning each run to the first by trying every permutation."""
    reference = labelings[0]
    aligned = [reference]
    for labels in labelings[1:]:
        best = max(permutations(range(k)), key=lambda p: (np.array(p)[labels] == reference).sum())
        aligned.append(np.array(best)[labels])
    aligned = np.stack(aligned)
    votes = []
    for column in aligned.T:
        counts = np.bincount(column, minlength=k)
        tied = np.flatnonzero(counts == counts.max())
        votes.append(column[0] if column[0] in tied else tied[0])
    return np.array(votes)


def brute_force_acc(labels: np.ndarray, truth: np.ndarray, k: int) -> tuple[float, np.ndarray]:
    """ACC over every permutation of cluster ids, and the per-sample correctness of the best."""
    best = max(permutations(range(k)), key=lambda p: (np.array(p)[labels] == truth).sum())
    correct = np.array(best)[labels] == truth
    return correct.mean(), correct


def test_vote_acc_by_n_coverage_and_spearman(run_files):
    paths, scores, truth = run_files
    manifest = select_runs(read_runs(paths, LABELS), top_n=None, num_classes=3)
    votes = vote_selected(manifest, paths, 3)
    result = evaluate_task(manifest, paths, votes, truth, 3)
    ranked = [r.seed for r in manifest.ranked]
    labelings = np.stack([read_h5(paths[s], ["labels"])[0]["labels"] for s in ranked])
    eval_truth = truth[10:30]
    expected = [
        brute_force_acc(brute_force_vote(labelings[:n], 3), eval_truth, 3)[0] for n in (1, 2, 3, 4)
    ]
    assert [c["n"] for c in result["vote_by_n"]] == [1, 2, 3, 4]
    assert [c["acc"] for c in result["vote_by_n"]] == pytest.approx(expected)
    assert result["vote_by_n"][-1]["acc"] == result["vote"]["acc"]  # all runs vote by default
    # accuracy vs coverage: thresholds are the agreement values, from the highest down
    agreement = votes.agreement.to_numpy()
    _, correct = brute_force_acc(votes.label.to_numpy(), eval_truth, 3)
    curve = result["coverage"]
    assert [c["threshold"] for c in curve] == sorted(set(agreement), reverse=True)
    for point in curve:
        kept = agreement >= point["threshold"]
        assert point["coverage"] == pytest.approx(kept.mean())
        assert point["acc"] == pytest.approx(correct[kept].mean())
    assert curve[-1]["coverage"] == 1 and curve[-1]["acc"] == pytest.approx(result["vote"]["acc"])
    # Spearman: the Pearson correlation of the ranks (no ties here)
    accs = [next(r["acc"] for r in result["runs"] if r["seed"] == s) for s in range(4)]
    ranks = [np.argsort(np.argsort(v)) for v in (scores, accs)]
    assert result["score_acc_spearman"] == pytest.approx(np.corrcoef(*ranks)[0, 1])
    # the confusion matrix holds every sample, its diagonal the correct ones
    counts = np.array(result["confusion"])
    assert counts.sum() == 20 and np.trace(counts) == correct.sum()


def test_report_page_inlines_figures_and_the_papers_numbers(run_files, tmp_path):
    from hume_workflow.report import figures
    from hume_workflow.report.paper import reported_beside_ours

    paths, _, truth = run_files
    manifest = select_runs(read_runs(paths, LABELS), top_n=2, num_classes=3)
    votes = vote_selected(manifest, paths, 3)
    pair = {
        **evaluate_task(manifest, paths, votes, truth, 3),
        "phi1": "a",
        "phi2": "b",
        "k": 3,
        "setting": "x",
    }
    base = {"dim": 4, "kmeans": {"acc": 0.5, "ari": 0.1, "nmi": 0.2}, "linear_probe_acc": 0.9}
    scaled = base | {"kmeans_method": "lloyd", "probe_method": "torch"}
    tables = summary_tables([pair], {"a": base, "b": scaled})
    assert "spearman_score_acc" in tables["summary"].columns
    # which baselines ran, where the file says (an older one does not)
    assert tables["baselines"].set_index("backbone").kmeans_method.fillna("").to_dict() == {
        "a": "",
        "b": "lloyd",
    }
    panels = [
        ("scatter", figures.score_vs_acc(pair)),
        ("by n", figures.vote_by_n(pair, labelled=True)),
        ("confusion", figures.confusion(pair, ["x", "y", "z"])),
        ("sizes", figures.cluster_sizes(pair)),
        ("agreement", figures.agreement_histogram(votes.agreement.to_numpy())),
        ("coverage", figures.coverage(pair)),
    ]
    images = {i: np.full((4, 4, 1), i, dtype=np.uint8) for i in range(10, 30)}
    panels.append(("grid", figures.image_grid(votes, images, best=3, worst=2)))
    assert reported_beside_ours("tiny", tables["summary"]) is None
    paper = reported_beside_ours("cifar10", tables["summary"])
    assert paper.acc_pct.tolist()[:2] == [89.5, 86.6]
    assert paper.acc_pct.iloc[-1] == pytest.approx(100 * pair["vote"]["acc"])
    out = {k: tmp_path / f"{k}.out" for k in ("summary_csv", "runs_csv", "markdown", "html")}
    write_report(
        tables, out, "t", {"a + b": panels}, {"Provenance": tables["baselines"]}, {"P": paper}
    )
    page = out["html"].read_text()
    assert page.count("src='data:image/png;base64,iVBOR") == len(panels)
    assert page.index('id="summary"') < page.index("<h2>P</h2>") < page.index("<img")


def test_summary_and_runs_csv_name_each_method_and_task(tmp_path):
    """A HUME pair, a one-space and a three-space TURTLE task: each voted and evaluated from
    its run files, each named in the CSVs by method and task, never as phi1 = phi2."""
    truth = np.arange(30) % 3
    spaces = {
        ("hume", ("a", "b")): 0,
        ("turtle", ("a",)): 1,
        ("turtle", ("a", "b", "c")): 2,
    }
    tasks = []
    for (method, names), shift in spaces.items():
        folder = tmp_path / method / "--".join(names)
        paths = [
            write_fake_run(
                folder / f"seed{s}.h5",
                s,
                (truth + shift + s) % 3,
                0.5 + s / 10,
                spaces=names,
                method=method,
            )
            for s in range(3)
        ]
        manifest = select_runs(read_runs(paths, LABELS), top_n=None, num_classes=3)
        votes = vote_selected(manifest, paths, 3)
        result = evaluate_task(manifest, paths, votes, truth, 3)
        tasks.append({**result, "method": method, "spaces": list(names), "k": 3, "setting": "x"})
    base = {"dim": 4, "kmeans": {"acc": 0.5, "ari": 0.1, "nmi": 0.2}, "linear_probe_acc": 0.9}
    tables = summary_tables(tasks, {name: base for name in "abc"})
    out = {k: tmp_path / f"{k}.out" for k in ("summary_csv", "runs_csv", "markdown", "html")}
    write_report(tables, out, "three tasks")
    summary, runs = pd.read_csv(out["summary_csv"]), pd.read_csv(out["runs_csv"])
    for table in (summary, runs):
        assert table.columns[:4].tolist() == ["method", "task", "phi1", "phi2"]
        assert not (table.phi1 == table.phi2).any()
    assert list(zip(summary.method, summary.task, strict=True)) == [
        ("hume", "a--b"),
        ("turtle", "a"),
        ("turtle", "a--b--c"),
    ]
    assert summary.phi1.fillna("").tolist() == ["a", "", ""]
    assert (summary.vote_acc == 1.0).all() and (summary.kmeans_acc_best == 0.5).all()
    assert runs.groupby(["method", "task"]).seed.apply(list).to_dict() == {
        ("hume", "a--b"): [2, 1, 0],
        ("turtle", "a"): [2, 1, 0],
        ("turtle", "a--b--c"): [2, 1, 0],
    }
