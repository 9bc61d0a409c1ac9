"""File-level selection, vote and evaluation of a pair's runs."""

import numpy as np
import pytest

from hume_workflow.aggregate import select_runs, vote_selected
from hume_workflow.io import write_h5
from hume_workflow.report import TRUTH_COLUMNS, evaluate_pair, summary_tables, write_report


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
        write_h5(
            path,
            {"labels": labels, "eval_indices": eval_idx},
            {"seed": seed, "score": score, "degenerate": False, "wall_time_s": 1.0},
        )
        paths.append(path)
    return paths, scores, truth


def test_selection_ranks_by_score_and_keeps_top_n(run_files):
    paths, _, _ = run_files
    manifest = select_runs(paths, top_n=2)
    assert manifest["selected"] == [1, 3]
    assert [r["seed"] for r in manifest["ranked"]] == [1, 3, 2, 0]
    assert select_runs(paths, top_n=None)["selected"] == [1, 3, 2, 0]
    assert select_runs(paths, top_n=10)["selected"] == [1, 3, 2, 0]  # capped, with a warning


def test_vote_and_evaluation(run_files):
    paths, scores, truth = run_files
    manifest = select_runs(paths, top_n=None)
    votes = vote_selected(manifest, 3)
    assert votes.sample_index.tolist() == list(range(10, 30))
    result = evaluate_pair(manifest, votes, truth)
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
    manifest = select_runs(paths, top_n=None)
    votes = vote_selected(manifest, 3)
    result = evaluate_pair(manifest, votes, np.full_like(truth, -1))
    assert result["vote"]["acc"] is None and result["score_acc_pearson"] is None
    assert sum(c["size"] for c in result["vote"]["clusters"]) == 20
    pair = {**result, "phi1": "a", "phi2": "b", "setting": "inductive"}
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


def test_metrics_skip_samples_without_truth():
    from hume_workflow.metrics import compute_metrics

    labels = np.array([0, 0, 1, 1, 2])
    truth = np.array([1, 1, 0, 0, -1])
    assert compute_metrics(labels, truth)["acc"] == 1.0
