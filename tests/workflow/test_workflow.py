"""End to end through Snakemake's CLI on a tiny config, and incremental re-planning.

The runs that tests only read are made in the background (tests/conftest.py).
"""

import html
import re
import shutil
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
from scipy.optimize import linear_sum_assignment
from sklearn.datasets import load_digits
from tiny_workflow import PAIRS, REPO, TINY, snakemake

from hume_workflow.aggregate.export import DEFAULT_RELIABLE_AGREEMENT
from hume_workflow.aggregate.k_pick import choose_k, k_certainty
from hume_workflow.formats.k_choice import read_k_choice


def planned_outputs(log: str) -> set[str]:
    """Output files of the jobs a dry run plans."""
    return {
        path for line in re.findall(r"^\s+output: (.+)$", log, re.M) for path in line.split(", ")
    }


def test_tiny_config_runs_to_a_report(finished):
    report = finished / "results/tiny/report"
    summary = pd.read_csv(report / "summary.csv")
    assert set(zip(summary.phi1, summary.phi2, strict=True)) == {
        ("pixels", "efficientnet_lite0"),
        ("efficientnet_lite0", "pixels"),
    }
    assert summary.vote_acc.between(0, 1).all() and (summary.runs == 2).all()
    runs = pd.read_csv(report / "runs.csv")
    assert len(runs) == 4 and runs.score.between(0, 1).all()
    html = (report / "index.html").read_text()
    assert "<table" in html and "vote_acc" in html
    votes = pd.read_csv(finished / "results/tiny/hume/pixels--efficientnet_lite0/vote.csv")
    assert len(votes) == 60  # inductive: the test split (20% of 300)
    assert votes.agreement.isin([0.5, 1.0]).all()
    # the report's vote ACC, recomputed independently from the vote and the dataset's labels
    with h5py.File(finished / "results/tiny/data.h5") as f:
        truth, split = f["labels"][()], f["split"][()]
    assert sorted(votes.sample_index) == np.flatnonzero(split == 1).tolist()
    confusion = np.zeros((10, 10), dtype=int)
    np.add.at(confusion, (votes.label, truth[votes.sample_index]), 1)
    rows, cols = linear_sum_assignment(-confusion)
    row = summary[(summary.phi1 == "pixels")].iloc[0]
    assert row.vote_acc == pytest.approx(confusion[rows, cols].sum() / 60)
    # labels.csv: the vote per sample id, sklearn_digits:<index in scikit-learn's digits>
    source_truth = load_digits().target
    for pair in PAIRS:
        votes = pd.read_csv(finished / f"results/tiny/hume/{pair}/vote.csv")
        labels = pd.read_csv(finished / f"results/tiny/hume/{pair}/labels.csv")
        assert labels.columns.tolist() == ["sample_id", "label", "agreement", "reliable"]
        assert len(labels) == len(votes) and labels.label.tolist() == votes.label.tolist()
        assert labels.sample_id.str.fullmatch(r"sklearn_digits:\d+").all()
        in_source = labels.sample_id.str.removeprefix("sklearn_digits:").astype(int)
        assert (source_truth[in_source] == truth[votes.sample_index]).all()
        assert labels.sample_id.is_unique and labels.reliable.dtype == bool
        threshold = DEFAULT_RELIABLE_AGREEMENT
        assert labels.reliable.tolist() == (labels.agreement >= threshold).tolist()
        row = summary[(summary.phi1 + "--" + summary.phi2) == pair].iloc[0]
        assert row.reliable_coverage == pytest.approx(labels.reliable.mean())
    for log in (finished / "results/tiny/logs").rglob("*.log"):
        assert "Traceback" not in log.read_text(), log


def test_adding_a_backbone_plans_only_its_jobs(finished):
    config = {
        **TINY,
        "backbones": {**TINY["backbones"], "pixels4": {"kind": "pixels", "image_size": 4}},
        "pairs": [*TINY["pairs"], {"phi1": "pixels", "phi2": "pixels4"}],
    }
    planned = planned_outputs(snakemake(finished, config, "--dry-run"))
    new = "results/tiny/hume/pixels--pixels4"
    assert planned == {
        "results/tiny/embeddings/pixels4.h5",
        "results/tiny/baselines/pixels4.json",
        f"{new}/k10/runs/seed0.h5",
        f"{new}/k10/runs/seed1.h5",
        f"{new}/k10/selection.json",
        f"{new}/k10/vote.csv",
        f"{new}/k10/metrics.json",
        f"{new}/k_choice.json",
        f"{new}/vote.csv",
        f"{new}/labels.csv",
        "results/tiny/recommendation.json",  # a new task may be the recommended one
        "results/tiny/labels.csv",
        "results/tiny/report/summary.csv",
        "results/tiny/report/runs.csv",
        "results/tiny/report/clusters.csv",
        "results/tiny/report/summary.md",
        "results/tiny/report/index.html",
    }


TINY_BUDGET = {"num_iters": 4, "num_subsets": 2, "adaptation_steps": 3, "inner_lr": 0.01}
FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")


def fashion_mnist_subset(workdir: Path) -> Path | None:
    """The Fashion-MNIST preset on a subset, run to its report (None without the data)."""
    if not FASHION_MNIST.exists():
        return None
    subset = {
        "dataset": {"max_samples": 1500},
        "num_runs": 2,
        "hume": TINY_BUDGET,
        "score": {"n_folds": 3, "max_iter": 50},
    }
    snakemake(workdir, subset, "--cores", "2", base=REPO / "config/fashion_mnist.yaml")
    return workdir


@pytest.mark.skipif(
    not FASHION_MNIST.exists(),
    reason="Debian's dataset-fashion-mnist is absent (apt-get install dataset-fashion-mnist)",
)
@pytest.mark.background.with_args(fashion_mnist_subset)
def test_fashion_mnist_preset_runs_offline_on_a_subset(background):
    workdir = background.result(fashion_mnist_subset)
    summary = pd.read_csv(workdir / "results/fashion_mnist/report/summary.csv")
    assert len(summary) == 2 and summary.vote_acc.between(0, 1).all()
    assert (summary.probe_acc_phi1 > 0.5).all()  # real images with real labels


def unlabelled_image_folder(workdir: Path) -> Path:
    """A flat folder of 60 images of three kinds, no labels anywhere, run to its report with
    K swept from 2 to 4 (K is what an unlabelled folder does not tell)."""
    from PIL import Image

    rng = np.random.default_rng(0)
    folder = workdir / "images"
    folder.mkdir()
    for i in range(60):  # three kinds of images, no labels anywhere
        pixels = rng.integers(0, 60, (8, 8, 3)) + 90 * (i % 3)
        Image.fromarray(pixels.astype(np.uint8)).save(folder / f"img{i:02d}.png")
    config = {
        "dataset": {
            "name": "mine",
            "source": "image_folder",
            "root": str(folder),
            "image_size": 8,
            "num_classes": {"min": 2, "max": 4},
            "test_fraction": 0.25,
        },
        "backbones": {"pixels": {"kind": "pixels"}, "pixels4": {"kind": "pixels", "image_size": 4}},
        "pairs": [{"phi1": "pixels", "phi2": "pixels4"}],
        "num_runs": 2,
        "hume": TINY_BUDGET,
        "score": {"n_folds": 3, "max_iter": 50},
    }
    snakemake(workdir, config, "--cores", "2")
    return workdir


@pytest.mark.background.with_args(unlabelled_image_folder)
def test_unlabelled_image_folder_runs_and_reports_no_accuracy(background):
    workdir = background.result(unlabelled_image_folder)
    report = workdir / "results/mine/report"
    summary = pd.read_csv(report / "summary.csv")
    assert not {"vote_acc", "run_acc_mean", "kmeans_acc_phi1"} & set(summary.columns)
    assert {"vote_agreement", "best_score", "vote_clusters_used"} <= set(summary.columns)
    page = (report / "index.html").read_text()
    assert "Clusters of the vote" in page and "vote_acc" not in page
    pair = workdir / "results/mine/hume/pixels--pixels4"
    votes = pd.read_csv(pair / "vote.csv")
    assert len(votes) == 15  # inductive: the 25% test split is labelled by HUME
    # the sweep: every K run and voted, one chosen without labels, its vote the pair's
    choice = read_k_choice(pair / "k_choice.json")
    assert sorted(choice.evidence) == [2, 3, 4] and choice.n_runs == {2: 2, 3: 2, 4: 2}
    assert choice.criterion == "stability"  # the schema's default
    assert choice.chosen_k == choose_k(choice.evidence, "stability")
    pd.testing.assert_frame_equal(votes, pd.read_csv(pair / f"k{choice.chosen_k}/vote.csv"))
    assert summary.k.tolist() == [choice.chosen_k]
    assert f"stability picks K = {choice.chosen_k}" in page and "K sweep" in page
    # how sure the choice is, as the headline and the K panel's caption say it
    assert html.escape(k_certainty(choice.evidence, "stability").sentence(), False) in page
    assert len(pd.read_csv(report / "runs.csv").query("k == 3")) == 2


def test_runs_per_job_writes_the_same_runs(finished, tmp_path):
    """Two seeds per job, advancing together: the same labels as one seed per job.

    Run in a copy of the finished workflow without its HUME results, up to the votes: the
    dataset and the embeddings (inputs, not under test) are reused, every HUME job, selection
    and vote is made anew."""
    workdir = tmp_path / "tiny"
    shutil.copytree(finished, workdir)
    shutil.rmtree(workdir / "results/tiny/hume")
    votes = [f"results/tiny/hume/{pair}/vote.csv" for pair in PAIRS]
    snakemake(workdir, {**TINY, "compute": {"runs_per_job": 2}}, "--cores", "2", *votes)
    for pair in PAIRS:
        for seed in range(2):
            with h5py.File(finished / f"results/tiny/hume/{pair}/k10/runs/seed{seed}.h5") as f:
                alone = f["labels"][()]
            with h5py.File(workdir / f"results/tiny/hume/{pair}/k10/runs/batch0/run{seed}.h5") as f:
                assert f.attrs["seed"] == seed
                np.testing.assert_array_equal(f["labels"][()], alone)
        votes = [pd.read_csv(d / f"results/tiny/hume/{pair}/vote.csv") for d in (finished, workdir)]
        pd.testing.assert_frame_equal(*votes)
