"""The baselines at scale: below the size thresholds exactly scikit-learn's KMeans and probe
as before; above them the torch k-means and probe (checked against the truth and against
scikit-learn); the job's request against the peak memory of real runs."""

import json
import os
import subprocess
import sys

import h5py
import numpy as np
import pytest
from sklearn.cluster import KMeans
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from tiny_workflow import REPO

from hume_workflow.aggregate import baselines
from hume_workflow.aggregate.metrics import cluster_accuracy, compute_metrics
from hume_workflow.formats.dataset import TEST, TRAIN
from hume_workflow.plan import resources
from hume_workflow.plan.resources import baseline_methods, baseline_request, dataset_classes

IMAGENET = (1_281_167, 2048, 1000)  # train rows x ResNet-50 width, K


def blobs(n: int, d: int, k: int, spread: float = 0.1, seed: int = 0):
    """(features (n, d) float32, labels (n,), split (n,) 20 % test drawn at random): ``k``
    unit-variance Gaussian centres, each row one of them plus N(0, spread^2) noise."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % k
    centres = rng.normal(0, 1, (k, d))
    x = (centres[labels] + rng.normal(0, spread, (n, d))).astype(np.float32)
    split = np.where(rng.random(n) < 0.2, TEST, TRAIN).astype(np.uint8)
    return x, labels, split


def write_space(tmp_path, features, labels, split):
    """data.h5 (labels, split) and an embedding file (features) of one space."""
    data, embedding = tmp_path / "data.h5", tmp_path / "embedding.h5"
    with h5py.File(data, "w") as f:
        f["labels"], f["split"] = labels, split
    with h5py.File(embedding, "w") as f:
        f["features"] = features
    return data, embedding


@pytest.mark.parametrize("setting", ["inductive", "transductive"])
def test_below_the_thresholds_the_baselines_are_scikit_learns(tmp_path, setting):
    x, labels, split = blobs(600, 16, 6, spread=0.8)
    result = baselines.space_baselines(*write_space(tmp_path, x, labels, split), setting)
    assert (result["kmeans_method"], result["probe_method"]) == ("full", "sklearn")

    fit = split == TRAIN if setting == "inductive" else np.ones(len(x), bool)
    evaluate = split == TEST if setting == "inductive" else fit
    kmeans = KMeans(n_clusters=6, n_init=10, random_state=0).fit(x[fit])
    assert result["kmeans"] == compute_metrics(kmeans.predict(x[evaluate]), labels[evaluate])
    probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    probe.fit(x[split == TRAIN], labels[split == TRAIN])
    accuracy = (probe.predict(x[split == TEST]) == labels[split == TEST]).mean()
    assert result["linear_probe_acc"] == float(accuracy)


def test_the_thresholds_are_rows_times_k():
    limit = resources.KMEANS_FULL_MAX
    assert baseline_methods(limit // 1000, 1000) == ("full", "sklearn")
    assert baseline_methods(limit // 1000 + 1, 1000) == ("lloyd", "torch")
    assert baseline_methods(IMAGENET[0], IMAGENET[2]) == ("lloyd", "torch")
    assert baseline_methods(1797, 10) == ("full", "sklearn")  # the demo's digits


def test_above_the_thresholds_the_file_records_the_torch_methods(tmp_path, monkeypatch):
    monkeypatch.setattr(resources, "KMEANS_FULL_MAX", 100)
    monkeypatch.setattr(resources, "PROBE_FULL_MAX", 100)
    x, labels, split = blobs(400, 8, 4)
    data, embedding = write_space(tmp_path, x, labels, split)
    result = baselines.space_baselines(data, embedding, "transductive", threads=1)
    assert (result["kmeans_method"], result["probe_method"]) == ("lloyd", "torch")
    assert result["kmeans"]["acc"] > 0.95 and result["linear_probe_acc"] > 0.95


@pytest.mark.parametrize("setting", ["inductive", "transductive"])
def test_torch_kmeans_recovers_separated_blobs(setting):
    x, labels, split = blobs(4000, 32, 40)
    metrics = baselines.kmeans_baseline(x, labels, split, setting, 40, method="lloyd", threads=1)
    assert metrics["acc"] > 0.95


def test_torch_kmeans_is_deterministic_and_leaves_the_features_alone():
    x, labels, _ = blobs(3000, 16, 30, spread=0.5)
    before = x.copy()
    rows = np.arange(len(x))
    first = baselines.torch_kmeans(x, rows, 30, rows, seed=3, threads=1)
    assert np.array_equal(first, baselines.torch_kmeans(x, rows, 30, rows, seed=3, threads=1))
    assert np.array_equal(x, before)
    assert cluster_accuracy(first, labels) > 0.9


def test_torch_kmeans_refills_an_emptied_cluster(monkeypatch):
    """A centre seeded far from every row loses them all, and restarts at the farthest row."""
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(0, 1, (200, 4)), rng.normal(50, 1, (200, 4))])
    x = x.astype(np.float32)
    seeds = np.array([[0] * 4, [50] * 4, [1000] * 4], dtype=np.float32)
    monkeypatch.setattr(baselines, "kmeans_plusplus", lambda *a, **k: (seeds, None))
    rows = np.arange(len(x))
    clusters = baselines.torch_kmeans(x, rows, 3, rows, threads=1)
    assert len(np.unique(clusters)) == 3


def test_torch_probe_agrees_with_scikit_learn():
    x, labels, split = blobs(3000, 64, 10, spread=2.0, seed=1)
    sklearn_acc = baselines.linear_probe_accuracy(x, labels, split)
    torch_acc = baselines.linear_probe_accuracy(x, labels, split, method="torch", threads=1)
    assert 0.5 < sklearn_acc < 1  # not trivially separable
    assert abs(torch_acc - sklearn_acc) < 0.03, (torch_acc, sklearn_acc)
    again = baselines.linear_probe_accuracy(x, labels, split, method="torch", threads=1)
    assert again == torch_acc  # seeded


def test_the_probe_skips_unknown_labels_and_unseen_classes_count_wrong():
    x, labels, split = blobs(1000, 8, 5)
    labels = labels.copy()
    labels[::7] = -1
    sklearn_acc = baselines.linear_probe_accuracy(x, labels, split)
    torch_acc = baselines.linear_probe_accuracy(x, labels, split, method="torch", threads=1)
    assert sklearn_acc == torch_acc == 1.0
    labels[(labels == 4) & (split == TRAIN)] = -1  # class 4 only in the test split
    share = ((labels == 4) & (split == TEST)).sum() / ((labels >= 0) & (split == TEST)).sum()
    torch_acc = baselines.linear_probe_accuracy(x, labels, split, method="torch", threads=1)
    assert torch_acc == pytest.approx(1 - share)


def test_rows_is_a_view_for_one_run_of_rows():
    x = np.arange(20, dtype=np.float32).reshape(10, 2)
    assert np.shares_memory(baselines.rows(x, np.arange(10)), x)
    assert np.shares_memory(baselines.rows(x, np.arange(3, 7)), x)
    scattered = baselines.rows(x, np.array([1, 4, 5]))
    assert not np.shares_memory(scattered, x)
    assert np.array_equal(scattered, x[[1, 4, 5]])
    assert baselines.rows(x, np.array([], dtype=np.int64)).shape == (0, 2)


def test_classes_come_from_the_labels_of_data_h5(tmp_path):
    path = tmp_path / "data.h5"
    with h5py.File(path, "w") as f:
        f["labels"] = np.array([3, 3, 7, -1, 0])
    assert dataset_classes(str(path), planned=50) == 3
    assert dataset_classes(str(tmp_path / "absent.h5"), planned=50) == 50


# Runs the job's library call on two files in a fresh process, under a parent that reports
# the peak resident memory of its one child (RUSAGE_CHILDREN: nothing else of this session's).
# A third argument sets both thresholds to it (0: the torch paths at any size).
MEASURE = """
import json, resource, subprocess, sys
child = (
    "import sys, json; from threadpoolctl import threadpool_limits;"
    "from hume_workflow.plan import resources;"
    "from hume_workflow.aggregate.baselines import space_baselines;"
    "resources.KMEANS_FULL_MAX = resources.PROBE_FULL_MAX = int(sys.argv[3]);"
    "threadpool_limits(2);"
    "r = space_baselines(sys.argv[1], sys.argv[2], 'inductive', threads=2);"
    "print(json.dumps([r['kmeans_method'], r['probe_method']]))"
)
run = subprocess.run([sys.executable, "-c", child, *sys.argv[1:]], capture_output=True,
                     text=True)
assert run.returncode == 0, run.stderr
methods = json.loads(run.stdout.splitlines()[-1])
print(json.dumps([methods, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024]))
"""
LIMIT = resources.KMEANS_FULL_MAX


@pytest.mark.parametrize(
    ("n", "d", "k", "limit", "methods"),
    [
        (40_000, 1024, 5, LIMIT, ["full", "sklearn"]),  # fit and train rows copied (inductive)
        (12_000, 64, 1000, LIMIT, ["lloyd", "torch"]),  # above the thresholds: torch
        (100_000, 512, 5, 0, ["lloyd", "torch"]),  # torch on 200 MB of features, in place
    ],
)
def test_the_request_covers_the_measured_peak(tmp_path, monkeypatch, n, d, k, limit, methods):
    assert resources.PROBE_FULL_MAX == LIMIT  # the thresholds agree, as the child sets them
    monkeypatch.setattr(resources, "KMEANS_FULL_MAX", limit)
    monkeypatch.setattr(resources, "PROBE_FULL_MAX", limit)
    x, labels, split = blobs(n, d, k)
    data, embedding = write_space(tmp_path, x, labels, split)
    del x
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    run = subprocess.run(
        [sys.executable, "-c", MEASURE, str(data), str(embedding), str(limit)],
        capture_output=True,
        text=True,
        env=env,
    )
    assert run.returncode == 0, run.stderr
    ran, peak = json.loads(run.stdout.splitlines()[-1])
    assert ran == methods
    request = baseline_request(n, d, k)["mem_mb"] * 1e6
    assert request >= peak, f"{request / 1e6:.0f} MB requested, {peak / 1e6:.0f} MB peak"
    assert request < 4 * peak + 1e9  # a model, not a blanket


def test_the_request_at_imagenet_shapes():
    """The torch paths hold the float32 features once (10.5 GB) and a chunk of rows."""
    request = baseline_request(*IMAGENET)
    features_mb = IMAGENET[0] * IMAGENET[1] * 4 / 1e6
    assert features_mb < request["mem_mb"] <= 64_000
    assert request["runtime"] <= 24 * 60
    assert baseline_request(*IMAGENET, attempt=2)["mem_mb"] > request["mem_mb"]
