"""Bad embedding files and bad or unusual runs: one-line errors, nothing written or changed."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import numpy as np
import pytest
from fake_runs import write_fake_run
from tiny_workflow import fingerprint

from hume_workflow.aggregate.selected_vote import vote_selected
from hume_workflow.aggregate.selection import collapse_warning, select_runs
from hume_workflow.embed.pipeline import embed_dataset
from hume_workflow.errors import InputError
from hume_workflow.formats import embeddings as features
from hume_workflow.formats.embeddings import SAMPLES_SHA256, read_features, read_spaces
from hume_workflow.formats.io import read_h5, write_h5
from hume_workflow.formats.run import LABELS, read_runs
from hume_workflow.report.evaluate import evaluate_task
from hume_workflow.report.page import write_report
from hume_workflow.report.tables import summary_tables

N, D = 20, 4
SHA_A, SHA_B = "a1" * 32, "b2" * 32


def write_data(path: Path, n: int = N, sha: str | None = SHA_A) -> Path:
    """A tiny data.h5: uint8 (n, 8, 8) images, labels, split, and the sample order if given."""
    rng = np.random.default_rng(0)
    arrays = {
        "images": rng.integers(0, 256, (n, 8, 8), dtype=np.uint8),
        "labels": rng.integers(0, 3, n),
        "split": np.arange(n) % 2,
    }
    attrs = {"name": "tiny", "class_names": ["a", "b", "c"]}
    write_h5(path, arrays, attrs | ({SAMPLES_SHA256: sha} if sha else {}))
    return path


def write_space(path: Path, feats: np.ndarray | None = None, sha: str | None = SHA_A) -> Path:
    """An embedding file holding ``feats`` (default: random float32 (N, D))."""
    if feats is None:
        feats = np.random.default_rng(1).normal(size=(N, D)).astype(np.float32)
    attrs = {"backbone": path.stem, "num_samples": len(feats)}
    write_h5(path, {"features": feats}, attrs | ({SAMPLES_SHA256: sha} if sha else {}))
    return path


# ---- embedding files -------------------------------------------------------------------------


def test_valid_space_reads_as_float32(tmp_path):
    feats = np.random.default_rng(2).normal(size=(N, D)).astype(np.float16)
    path = write_space(tmp_path / "phi.h5", feats)
    out = read_features(path, N, SHA_A)
    assert out.dtype == np.float32 and out.shape == (N, D)
    np.testing.assert_array_equal(out, feats.astype(np.float32))


@pytest.mark.parametrize("damage", ["truncated", "foreign"])
def test_unreadable_space(tmp_path, damage):
    path = write_space(tmp_path / "phi.h5")
    if damage == "truncated":
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    else:
        path.write_text("backbone,features\nresnet,1 2 3\n")
    before = fingerprint(tmp_path)
    pattern = rf"^{re.escape(str(path))}: not a readable HDF5 file \(truncated or foreign\?\): .+$"
    with pytest.raises(InputError, match=pattern) as info:
        read_features(path, N, SHA_A)
    assert "\n" not in str(info.value)
    assert fingerprint(tmp_path) == before


def test_missing_space(tmp_path):
    with pytest.raises(InputError, match=rf"^{re.escape(str(tmp_path / 'phi.h5'))}: no such file$"):
        read_features(tmp_path / "phi.h5")
    assert not list(tmp_path.iterdir())


def test_space_without_features(tmp_path):
    path = tmp_path / "phi.h5"
    write_h5(path, {"embeddings": np.zeros((N, D), np.float32)}, {})
    before = fingerprint(tmp_path)
    with pytest.raises(
        InputError, match=r"phi\.h5: no 'features' dataset; it holds \['embeddings'\]$"
    ):
        read_features(path, N)
    assert fingerprint(tmp_path) == before


@pytest.mark.parametrize(
    ("array", "described"),
    [
        (np.zeros(N, np.float32), r"float32 \(20,\)"),
        (np.zeros((N, D, 2), np.float32), r"float32 \(20, 4, 2\)"),
        (np.zeros((N, D), np.int64), r"int64 \(20, 4\)"),
    ],
    ids=["1-D", "3-D", "int64"],
)
def test_space_with_wrong_layout(tmp_path, array, described):
    path = write_space(tmp_path / "phi.h5", array)
    before = fingerprint(tmp_path)
    expected = (
        rf"phi\.h5: features are {described}; expected a 2-D float16/float32/float64 \(N, d\)"
    )
    with pytest.raises(InputError, match=expected):
        read_features(path, N)
    assert fingerprint(tmp_path) == before


def test_space_with_other_sample_count(tmp_path):
    data = write_data(tmp_path / "data.h5")
    phi = write_space(tmp_path / "phi.h5", np.ones((N - 3, D), np.float32))
    before = fingerprint(tmp_path)
    expected = (
        rf"^{re.escape(str(phi))}: features hold 17 samples but {re.escape(str(data))} has 20; "
        "re-run extract_embeddings$"
    )
    with pytest.raises(InputError, match=expected):
        read_spaces(data, [phi])
    assert fingerprint(tmp_path) == before


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
@pytest.mark.parametrize("block_bytes", [1, 2**20], ids=["row-blocks", "one-block"])
def test_space_with_nonfinite_values(tmp_path, monkeypatch, dtype, block_bytes):
    monkeypatch.setattr(features, "_BLOCK_BYTES", block_bytes)  # 1: read one row at a time
    feats = np.ones((N, D), dtype)
    feats[17, 2], feats[17, 3], feats[19, 0] = np.nan, np.inf, -np.inf
    path = write_space(tmp_path / "phi.h5", feats)
    before = fingerprint(tmp_path)
    expected = (
        r"phi\.h5: features hold 3 non-finite values \(NaN/Inf\), first at row 17, column 2; "
        r"delete the file and re-run extract_embeddings; .* precision: fp32$"
    )
    with pytest.raises(InputError, match=expected):
        read_features(path, N, SHA_A)
    # reading some rows checks those rows, with the same message (the first in their order)
    with pytest.raises(InputError, match=expected):
        read_features(path, N, SHA_A, rows=np.array([17, 3, 19]))
    assert np.array_equal(read_features(path, N, SHA_A, rows=np.array([4, 3])), feats[[4, 3]])
    assert fingerprint(tmp_path) == before


def test_space_from_another_sample_order_than_the_data(tmp_path):
    data = write_data(tmp_path / "data.h5", sha=SHA_A)
    phi1 = write_space(tmp_path / "phi1.h5", sha=SHA_A)
    phi2 = write_space(tmp_path / "phi2.h5", sha=SHA_B)
    before = fingerprint(tmp_path)
    expected = (
        rf"^{re.escape(str(phi2))}: made from a different dataset sample order than "
        rf"{re.escape(str(data))} \(samples_sha256 {SHA_B[:12]}… vs {SHA_A[:12]}…\); "
        "re-run extract_embeddings$"
    )
    with pytest.raises(InputError, match=expected):
        read_spaces(data, [phi1, phi2])
    assert fingerprint(tmp_path) == before


def test_spaces_disagree_when_the_data_has_no_sample_order(tmp_path, caplog):
    data = write_data(tmp_path / "data.h5", sha=None)
    phi1 = write_space(tmp_path / "phi1.h5", sha=SHA_A)
    phi2 = write_space(tmp_path / "phi2.h5", sha=SHA_B)
    expected = (
        rf"^{re.escape(str(phi2))}: made from a different dataset sample order than "
        rf"{re.escape(str(phi1))} \(samples_sha256 {SHA_B[:12]}… vs {SHA_A[:12]}…\)"
    )
    with caplog.at_level(logging.WARNING), pytest.raises(InputError, match=expected):
        read_spaces(data, [phi1, phi2])
    assert f"{data} has no samples_sha256 attribute" in caplog.text


def test_older_space_without_sample_order_is_read_with_a_warning(tmp_path, caplog):
    data = write_data(tmp_path / "data.h5", sha=SHA_A)
    phi1 = write_space(tmp_path / "phi1.h5", sha=None)
    phi2 = write_space(tmp_path / "phi2.h5", sha=SHA_A)
    with caplog.at_level(logging.WARNING):
        spaces = read_spaces(data, [phi1, phi2])
    assert [s.shape for s in spaces] == [(N, D), (N, D)]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [
        f"{phi1} has no samples_sha256 attribute (an older file): its sample order is not "
        f"checked against {data}"
    ]


@pytest.mark.parametrize("sha", [SHA_A, None], ids=["with-order", "older-data"])
def test_embedding_records_the_sample_order(tmp_path, sha):
    data = write_data(tmp_path / "data.h5", sha=sha)
    out = tmp_path / "embeddings" / "pixels.h5"
    embed_dataset(data, out, "pixels", {"kind": "pixels", "batch_size": 8})
    _, attrs = read_h5(out, [])
    assert attrs["num_samples"] == N
    assert attrs.get(SAMPLES_SHA256) == sha
    assert read_spaces(data, [out])[0].shape == (N, 64)


# ---- runs --------------------------------------------------------------------------------------

K = 10


def write_run(folder: Path, seed: int, labels: np.ndarray, score: float) -> Path:
    """A run file of K = 10 labelling samples 10.. (degenerate when < 2 clusters are used)."""
    folder.mkdir(parents=True, exist_ok=True)
    indices = np.arange(10, 10 + len(labels))
    path = folder / f"seed{seed}.h5"
    return write_fake_run(path, seed, labels, score, eval_indices=indices, num_classes=K)


def test_all_runs_degenerate(tmp_path, caplog):
    paths = [write_run(tmp_path, seed, np.full(N, seed % 2), 0.0) for seed in range(3)]
    with caplog.at_level(logging.WARNING):
        manifest = select_runs(read_runs(paths, LABELS), top_n=2, num_classes=K)
    assert manifest.n_degenerate == 3 and manifest.n_selected == 2
    assert all(r.degenerate and r.n_clusters == 1 for r in manifest.ranked)
    line = "3 of 3 runs degenerate (fewer than two clusters used, score 0), 2 of them voting"
    assert line in manifest.note
    assert manifest.n_collapsed == 3 and all(r.collapsed for r in manifest.ranked)
    messages = [r.getMessage() for r in caplog.records]
    assert messages[0] == f"{line}: seeds [0, 1, 2]"
    assert messages[1].startswith("3 of 3 runs collapsed (at most 5 of 10 clusters used")
    assert messages[2].startswith("3 of 3 runs collapsed (they use 1 of K = 10 clusters)")
    assert manifest.note == "; ".join(messages)
    votes = vote_selected(manifest, paths, K)
    np.testing.assert_array_equal(votes.label, 0)  # seed 0's single cluster
    np.testing.assert_array_equal(votes.agreement, 1.0)  # one cluster each: aligned, they agree


def test_runs_using_one_or_three_of_ten_clusters(tmp_path, caplog):
    truth = np.arange(N) % K
    paths = [
        write_run(tmp_path, 0, truth, 0.9),
        write_run(tmp_path, 1, np.zeros(N, np.int64), 0.0),  # collapsed to one cluster
        write_run(tmp_path, 2, truth % 3, 0.5),  # 3 of 10 clusters, 7 empty
    ]
    manifest = select_runs(read_runs(paths, LABELS), top_n=None, num_classes=K)
    assert manifest.selected == [0, 2, 1] and manifest.n_degenerate == 1
    assert {r.seed: (r.degenerate, r.n_clusters, r.collapsed) for r in manifest.ranked} == {
        0: (False, 10, False),
        1: (True, 1, True),
        2: (False, 3, True),
    }
    assert manifest.n_collapsed == 2 and "runs collapsed (they use 1-3 of K = 10" in manifest.note
    with caplog.at_level(logging.INFO):
        votes = vote_selected(manifest, paths, K)
    assert votes.sample_index.tolist() == list(range(10, 10 + N))
    assert votes.label.between(0, K - 1).all()
    assert set(np.round(votes.agreement * 3)) <= {1, 2, 3}  # 1, 2 or 3 of the 3 runs
    line = "2 of 3 voting runs use fewer than 10 clusters on the labelled samples"
    assert f"{line} (seed 2: 3, seed 1: 1)" in caplog.text


@pytest.mark.parametrize("n_collapsed", [2, 3])
def test_collapsed_runs_are_counted_and_still_vote(tmp_path, caplog, n_collapsed):
    truth = np.arange(N) % K
    labelings = [
        truth,  # 10 of 10 clusters
        truth % 6,  # 6 of 10: not collapsed
        truth % 5,  # 5 of 10: collapsed
        np.r_[np.zeros(11, np.int64), np.arange(1, 10)],  # all 10 used, one holds 11 of 20
        truth % 2,  # 2 of 10: collapsed
    ]
    paths = [
        write_run(tmp_path, seed, labels, 0.9 - seed / 10)
        for seed, labels in enumerate(labelings[: 2 + n_collapsed])
    ]
    with caplog.at_level(logging.WARNING):
        manifest = select_runs(read_runs(paths, LABELS), top_n=None, num_classes=K)
    seeds = list(range(2, 2 + n_collapsed))
    assert manifest.n_collapsed == n_collapsed and manifest.n_degenerate == 0
    assert [r.seed for r in manifest.ranked if r.collapsed] == seeds
    assert manifest.selected == list(range(len(paths)))  # collapsed runs still vote
    count = (
        f"{n_collapsed} of {len(paths)} runs collapsed (at most 5 of 10 clusters used, or one "
        f"cluster holding more than 50% of the samples): seeds {seeds}"
    )
    warning = collapse_warning(n_collapsed, len(paths), K, [5, 10, 2][:n_collapsed])
    assert (warning is None) == (n_collapsed == 2)  # 2 of 4 is not most; 3 of 5 is
    if warning:
        assert warning.startswith("3 of 5 runs collapsed (they use 2-10 of K = 10 clusters)")
    notes = [count] + ([warning] if warning else [])
    assert [r.getMessage() for r in caplog.records] == notes
    assert manifest.note == "; ".join(notes)
    assert select_runs(read_runs(paths[:2], LABELS), top_n=None, num_classes=K).note is None


def test_fewer_runs_than_top_n_is_recorded_and_reported(tmp_path, caplog):
    truth = np.arange(N) % 3
    paths = [write_run(tmp_path, s, (truth + s) % 3, 0.5 + s / 10) for s in range(4)]
    with caplog.at_level(logging.WARNING):
        manifest = select_runs(read_runs(paths, LABELS), top_n=10, num_classes=3)
    note = "top_n=10 but only 4 runs: voting all of them"
    assert (manifest.top_n, manifest.n_selected, manifest.note) == (10, 4, note)
    assert [r.getMessage() for r in caplog.records] == [note]
    assert select_runs(read_runs(paths, LABELS), top_n=4, num_classes=3).note is None
    votes = vote_selected(manifest, paths, 3)
    result = evaluate_task(manifest, paths, votes, np.r_[np.zeros(10, np.int64), truth], 3)
    pair = {**result, "phi1": "a", "phi2": "b", "k": 3, "setting": "inductive"}
    space = {"dim": 4, "kmeans": {"acc": 0.5, "ari": 0.1, "nmi": 0.1}, "linear_probe_acc": 0.9}
    tables = summary_tables([pair], {"a": space, "b": space})
    assert tables["summary"]["selection_note"].tolist() == [note]
    out = {k: tmp_path / f"{k}.out" for k in ("summary_csv", "runs_csv", "markdown", "html")}
    write_report(tables, out, "few runs")
    assert note in out["html"].read_text() and note in out["markdown"].read_text()


@pytest.mark.parametrize("damage", ["missing", "truncated"])
def test_vote_with_a_missing_or_truncated_run(tmp_path, damage):
    paths = [write_run(tmp_path, s, np.arange(N) % 3, 0.5 + s / 10) for s in range(3)]
    manifest = select_runs(read_runs(paths, LABELS), top_n=None, num_classes=3)
    bad = paths[1]
    if damage == "missing":
        bad.unlink()
        expected = rf"^{re.escape(str(bad))}: no such file$"
    else:
        bad.write_bytes(bad.read_bytes()[: bad.stat().st_size // 2])
        expected = rf"^{re.escape(str(bad))}: not a readable HDF5 file \(truncated or foreign\?\)"
    before = fingerprint(tmp_path)
    with pytest.raises(InputError, match=expected):
        vote_selected(manifest, paths, 3)
    assert fingerprint(tmp_path) == before


def test_vote_with_labels_beyond_num_classes(tmp_path):
    paths = [write_run(tmp_path, s, np.arange(N) % 5, 0.5 + s / 10) for s in range(2)]
    with pytest.raises(
        InputError,
        match=r"seed1\.h5: labels span 0\.\.4; expected cluster ids in \[0, 3\) \(num_classes=3\)$",
    ):
        vote_selected(select_runs(read_runs(paths, LABELS), top_n=None, num_classes=3), paths, 3)


def test_selection_of_two_runs_with_one_seed(tmp_path):
    run = write_run(tmp_path, 0, np.arange(N) % 3, 0.5)
    (tmp_path / "other").mkdir()
    other = write_run(tmp_path / "other", 0, np.arange(N) % 3, 0.7)
    expected = (
        rf"^{re.escape(str(other))}: seed 0 is also the seed of {re.escape(str(run))}; "
        "expected one run per seed$"
    )
    with pytest.raises(InputError, match=expected):
        read_runs([run, other])


def test_selection_of_a_foreign_run_file(tmp_path):
    run = write_run(tmp_path, 0, np.arange(N) % 3, 0.5)
    foreign = tmp_path / "foreign.h5"
    write_h5(foreign, {"labels": np.zeros(N, np.int64)}, {"seed": 3})
    with pytest.raises(
        InputError,
        match=r"foreign\.h5: no run attributes \['method', 'spaces', 'setting', 'score', "
        r"'degenerate', 'wall_time_s'\]; expected a run job's output",
    ):
        read_runs([run, foreign])


def test_selection_of_no_runs():
    with pytest.raises(
        InputError, match=r"^no run files given; expected at least one run job's output$"
    ):
        read_runs([])


def test_run_without_labels(tmp_path):
    path = tmp_path / "seed0.h5"
    attrs = {"seed": 0, "setting": "transductive", "score": 0.5, "degenerate": False}
    attrs |= {"method": "hume", "spaces": ["a", "b"], "hyperparameters": {"num_classes": 3}}
    write_h5(path, {"eval_indices": np.arange(N)}, attrs | {"wall_time_s": 1.0})
    with pytest.raises(
        InputError, match=r"seed0\.h5: no 'labels' in the file; it holds \['eval_indices'\]$"
    ):
        vote_selected(select_runs(read_runs([path], LABELS), top_n=None, num_classes=3), [path], 3)
