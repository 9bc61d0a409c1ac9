"""labels.csv (rule export_labels): the vote per sample id, flagged reliable by agreement;
data.h5's sample ids; the report's coverage and ACC of the reliable samples."""

from __future__ import annotations

import logging
from itertools import permutations
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
from PIL import Image
from tiny_workflow import one_line

from hume_workflow.aggregate.export import export_labels
from hume_workflow.data.prepare import prepare_dataset
from hume_workflow.errors import InputError
from hume_workflow.formats.dataset import (
    ImageDataset,
    read_dataset,
    read_sample_ids,
    write_dataset,
)
from hume_workflow.formats.io import write_h5
from hume_workflow.formats.votes import LABEL_COLUMNS
from hume_workflow.report.assemble import exported_reliability
from hume_workflow.report.evaluate import reliable_metrics
from hume_workflow.report.tables import summary_tables

N = 12
IDS = [f"train/{'ab'[i % 2]}/img_{i}_é.png" for i in range(N)]  # paths under dataset.root


@pytest.fixture
def data_h5(tmp_path: Path) -> Path:
    """A data.h5 of N samples named by IDS."""
    dataset = ImageDataset(
        name="t",
        images=np.zeros((N, 2, 2, 1), np.uint8),
        labels=np.arange(N) % 3,
        split=(np.arange(N) % 4 == 0).astype(np.uint8),
        class_names=["a", "b", "c"],
        sample_ids=IDS,
    )
    write_dataset(tmp_path / "data.h5", dataset)
    return tmp_path / "data.h5"


@pytest.fixture
def vote_csv(tmp_path: Path) -> Path:
    """A vote of 10 runs over 8 of the samples (as vote.csv writes agreements: k / 10)."""
    votes = pd.DataFrame(
        {
            "sample_index": [0, 2, 3, 5, 7, 8, 10, 11],
            "label": [2, 0, 1, 1, 0, 2, 2, 1],
            "agreement": np.array([10, 9, 3, 8, 10, 5, 9, 1]) / 10,
        }
    )
    votes.to_csv(tmp_path / "vote.csv", index=False)
    return tmp_path / "vote.csv"


def test_data_h5_holds_the_sample_ids_as_utf8_strings(data_h5):
    with h5py.File(data_h5) as f:
        stored = f["sample_ids"]
        assert stored.shape == (N,) and h5py.check_string_dtype(stored.dtype).encoding == "utf-8"
        assert [s.decode() for s in stored[()]] == IDS
        assert sorted(f) == ["images", "labels", "sample_ids", "split"]
    assert read_sample_ids(data_h5) == IDS
    assert read_dataset(data_h5).sample_ids == IDS


def test_image_folder_ids_are_written_without_the_skipped_images(tmp_path):
    """LazyImages are written chunk by chunk; the ids follow the images that are kept."""
    root = tmp_path / "imgs"
    for part, cls, i in [("train", "a", 0), ("train", "b", 1), ("test", "a", 2), ("test", "b", 3)]:
        (root / part / cls).mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (6, 5), (i * 60, 0, 0)).save(root / part / cls / f"{i}.png")
    (root / "train" / "b" / "bad.png").write_bytes(b"not an image")
    dataset = prepare_dataset("image_folder", root=root, image_size=4, skip_bad_images=True)
    write_dataset(tmp_path / "data.h5", dataset)
    ids = read_sample_ids(tmp_path / "data.h5")
    assert ids == ["train/a/0.png", "train/b/1.png", "test/a/2.png", "test/b/3.png"]
    assert len(ids) == len(read_dataset(tmp_path / "data.h5").labels)


@pytest.mark.parametrize("threshold", [0.0, 0.5, 0.9, 1.0])
def test_labels_are_the_vote_per_sample_id_flagged_at_the_threshold(data_h5, vote_csv, threshold):
    labels = export_labels(vote_csv, data_h5, threshold)
    assert tuple(labels.columns) == LABEL_COLUMNS
    votes = pd.read_csv(vote_csv)
    with h5py.File(data_h5) as f:  # the ids, read directly
        ids = [s.decode() for s in f["sample_ids"][()]]
    expected = pd.DataFrame(
        {
            "sample_id": [ids[i] for i in votes.sample_index],
            "label": votes.label,
            "agreement": votes.agreement,
            "reliable": [a >= threshold for a in votes.agreement],
        }
    )
    pd.testing.assert_frame_equal(labels, expected)
    if threshold == 0:
        assert labels.reliable.all()
    if threshold == 1:
        assert labels.reliable.tolist() == [a == 1 for a in votes.agreement]
    if threshold == 0.9:  # 9 of 10 runs is 0.9 exactly: reliable
        assert labels.reliable.tolist() == [True, True, False, False, True, False, True, False]
    # as the rule writes it: the flag reads back as booleans
    labels.to_csv(data_h5.parent / "labels.csv", index=False)
    pd.testing.assert_frame_equal(pd.read_csv(data_h5.parent / "labels.csv"), expected)


def test_data_h5_without_sample_ids_names_samples_by_index_with_one_warning(
    tmp_path, vote_csv, caplog
):
    arrays = {"images": np.zeros((N, 2, 2, 1), np.uint8), "labels": np.zeros(N, np.int64)}
    write_h5(tmp_path / "old.h5", arrays | {"split": np.zeros(N, np.uint8)}, {"name": "old"})
    assert read_sample_ids(tmp_path / "old.h5") is None
    with caplog.at_level(logging.WARNING):
        labels = export_labels(vote_csv, tmp_path / "old.h5", 0.9)
    assert labels.sample_id.tolist() == [f"index:{i}" for i in pd.read_csv(vote_csv).sample_index]
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "no sample_ids" in warnings[0].getMessage()


@pytest.mark.parametrize("bad_index", [N, -1])
def test_vote_of_samples_outside_the_dataset_is_one_line(data_h5, tmp_path, bad_index):
    votes = pd.DataFrame({"sample_index": [0, bad_index], "label": [0, 1], "agreement": [1, 1]})
    votes.to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(InputError) as error:
        export_labels(tmp_path / "bad.csv", data_h5, 0.9)
    assert one_line(error).startswith(f"{tmp_path / 'bad.csv'}: sample_index spans ")
    assert f"the {N} samples of {data_h5}" in str(error.value)


def test_bad_vote_file_and_threshold_are_one_line(data_h5, vote_csv, tmp_path):
    pd.DataFrame({"sample_index": [0], "label": [1]}).to_csv(tmp_path / "short.csv", index=False)
    with pytest.raises(InputError) as error:
        export_labels(tmp_path / "short.csv", data_h5, 0.9)
    assert "no ['agreement'] columns" in one_line(error)
    for threshold in (-0.1, 1.5):
        with pytest.raises(InputError) as error:
            export_labels(vote_csv, data_h5, threshold)
        assert one_line(error).startswith(f"config export.reliable_agreement={threshold}:")


def brute_force_reliable(labels, reliable, truth, k) -> tuple[float, float | None]:
    """Coverage, and the ACC of the reliable samples under the permutation of cluster ids that
    is right on the most samples of known label (checked unique); a cluster mapped to an id
    that is no class counts wrong."""
    known = truth >= 0
    hits = {
        p: int((np.array(p)[labels[known]] == truth[known]).sum()) for p in permutations(range(k))
    }
    best, *rest = sorted(hits, key=hits.get, reverse=True)
    assert hits[best] > hits[rest[0]], "the test needs one best matching"
    kept = reliable & known
    acc = (np.array(best)[labels[kept]] == truth[kept]).mean() if kept.any() else None
    return reliable.mean(), acc


@pytest.mark.parametrize("seed", range(6))
def test_reliable_coverage_and_acc_against_brute_force(seed):
    rng = np.random.default_rng(seed)
    n, classes = 80, 4
    clusters = classes + seed % 2  # odd seeds: one cluster more than there are classes
    truth = rng.integers(0, classes, n)
    labels = rng.permutation(clusters)[truth]  # the truth under other ids ...
    noisy = rng.random(n) < 0.3
    labels[noisy] = rng.integers(0, clusters, noisy.sum())  # ... with noise
    truth[rng.random(n) < 0.1] = -1  # some labels unknown
    reliable = rng.random(n) < 0.6
    got = reliable_metrics(labels, reliable, truth)
    coverage, acc = brute_force_reliable(labels, reliable, truth, clusters)
    assert got["reliable_coverage"] == pytest.approx(coverage)
    assert got["reliable_acc"] == pytest.approx(acc)


def test_reliable_metrics_without_truth_or_reliable_samples():
    labels = np.array([0, 1, 1, 0])
    flags = np.array([True, False, True, True])
    got = reliable_metrics(labels, flags, np.full(4, -1))
    assert got == {"reliable_coverage": 0.75, "reliable_acc": None}
    got = reliable_metrics(labels, np.zeros(4, bool), np.array([1, 0, 0, 1]))
    assert got == {"reliable_coverage": 0.0, "reliable_acc": None}
    got = reliable_metrics(labels, np.ones(4, bool), np.array([1, 0, 0, 1]))
    assert got == {"reliable_coverage": 1.0, "reliable_acc": 1.0}


def test_report_reads_the_reliable_samples_of_labels_csv(data_h5, vote_csv, tmp_path):
    labels = export_labels(vote_csv, data_h5, 0.9)
    labels.to_csv(tmp_path / "labels.csv", index=False)
    votes = pd.read_csv(vote_csv)
    truth = np.arange(N) % 3
    got = exported_reliability(tmp_path / "labels.csv", votes, truth)
    index = votes.sample_index.to_numpy()
    assert got == reliable_metrics(votes.label.to_numpy(), labels.reliable.to_numpy(), truth[index])
    assert got["reliable_coverage"] == 0.5
    labels.iloc[:-1].to_csv(tmp_path / "stale.csv", index=False)  # another vote's export
    with pytest.raises(InputError) as error:
        exported_reliability(tmp_path / "stale.csv", votes, truth)
    assert one_line(error).startswith(f"{tmp_path / 'stale.csv'}: not the export")


def _pair(acc: float | None, **reliable) -> dict:
    vote = {"acc": acc, "ari": acc, "nmi": acc, "mean_agreement": 0.8, "clusters": []}
    run = {"seed": 0, "score": 0.5, "acc": acc, "ari": acc, "nmi": acc}
    return {
        **{"phi1": "a", "phi2": "b", "k": 3, "setting": "transductive", "n_runs": 1},
        **{"n_selected": 1, "vote": vote, "runs": [run], "score_acc_pearson": None},
        **reliable,
    }


def test_summary_has_the_reliable_columns_and_drops_the_acc_without_truth():
    base = {"dim": 4, "kmeans": {"acc": None, "ari": None, "nmi": None}, "linear_probe_acc": None}
    baselines = {"a": base, "b": base}
    summary = summary_tables([_pair(0.7, reliable_coverage=0.6, reliable_acc=0.9)], baselines)
    row = summary["summary"].iloc[0]
    assert row.reliable_coverage == 0.6 and row.reliable_acc == 0.9
    unlabelled = summary_tables([_pair(None, reliable_coverage=0.6, reliable_acc=None)], baselines)
    assert "reliable_coverage" in unlabelled["summary"]
    assert "reliable_acc" not in unlabelled["summary"]
    assert "reliable_coverage" not in summary_tables([_pair(0.7)], baselines)["summary"]
