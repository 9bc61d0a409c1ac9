"""Labelling new images with a finished pair (hume_workflow.predict), against direct
computations: scikit-learn's probe fitted here, a brute-force alignment of each run."""

from __future__ import annotations

import math
from itertools import permutations

import numpy as np
import pytest
from PIL import Image
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from hume_workflow.embed.pipeline import embed_dataset
from hume_workflow.errors import InputError
from hume_workflow.formats.dataset import ImageDataset, read_sample_ids, write_dataset
from hume_workflow.formats.embeddings import read_features, read_pca
from hume_workflow.formats.io import read_h5
from hume_workflow.predict.assign import encoded_labels, encoder_labels, probe_labels
from hume_workflow.predict.images import prepare_batch


def blobs(rng, n_per=40, k=3, d=5):
    centres = rng.normal(scale=4, size=(k, d))
    truth = np.repeat(np.arange(k), n_per)
    return centres[truth] + rng.normal(size=(len(truth), d)), truth


def test_probe_is_scikit_learn_s_logistic_regression_on_standardised_phi2():
    rng = np.random.default_rng(0)
    x, votes = blobs(rng)
    new = rng.normal(scale=4, size=(25, 5))
    weights = rng.uniform(0.3, 1, len(votes))
    labels, confidence = probe_labels(x, votes, new, weights=weights)
    scaler = StandardScaler().fit(x)
    model = LogisticRegression(max_iter=1000).fit(scaler.transform(x), votes, sample_weight=weights)
    probabilities = model.predict_proba(scaler.transform(new))
    np.testing.assert_array_equal(labels, model.classes_[probabilities.argmax(1)])
    np.testing.assert_allclose(confidence, probabilities.max(1), rtol=1e-6)


def test_probe_keeps_the_vote_s_ids_when_some_are_unused():
    rng = np.random.default_rng(1)
    x, truth = blobs(rng)
    votes = np.array([0, 4, 7])[truth]  # ids 0, 4, 7 of K = 8
    labels, _ = probe_labels(x, votes, x[::10])
    np.testing.assert_array_equal(labels, votes[::10])


def brute_force_encoders(thetas, run_labels, votes, new_phi1, k):
    """Each run mapped onto the vote by the permutation of ids with the most overlap, then a
    per-sample majority (ties: the smallest id)."""
    mapped = []
    for theta, labels in zip(thetas, run_labels, strict=True):
        best = max(permutations(range(k)), key=lambda p: (np.array(p)[labels] == votes).sum())
        mapped.append(np.array(best)[(new_phi1 @ theta.T).argmax(1)])
    mapped = np.stack(mapped)
    counts = np.stack([(mapped == c).sum(0) for c in range(k)], axis=1)
    return counts.argmax(1), counts.max(1) / len(thetas)


def test_encoders_vote_the_runs_mapped_onto_the_vote_s_ids():
    rng = np.random.default_rng(2)
    k, d = 3, 6
    phi1 = rng.normal(size=(90, d))
    new = rng.normal(size=(40, d))
    base = rng.normal(size=(k, d))
    # each run: the same encoder up to noise, its rows (cluster ids) in another order, so
    # that the best mapping onto the vote is unique
    thetas = [(base + rng.normal(scale=0.3, size=(k, d)))[rng.permutation(k)] for _ in range(5)]
    run_labels = [(phi1 @ t.T).argmax(1) for t in thetas]
    votes = run_labels[0]
    encoders = [{"phi1": theta} for theta in thetas]
    labels, confidence = encoder_labels(encoders, run_labels, votes, {"phi1": new}, k)
    expected, expected_confidence = brute_force_encoders(thetas, run_labels, votes, new, k)
    np.testing.assert_array_equal(labels, expected)
    np.testing.assert_allclose(confidence, expected_confidence)


def test_a_run_with_encoders_in_several_spaces_labels_by_their_mean_softmax():
    """A run's own label of a new sample is the argmax of the mean over its encoders' spaces
    of the softmax of logits plus bias, computed here sample by sample and class by class;
    with one encoder and no bias, the argmax of its logits."""
    rng = np.random.default_rng(4)
    k, widths = 4, {"a": 3, "b": 5}
    encoders = {space: rng.normal(size=(k, d)) for space, d in widths.items()}
    biases = {space: rng.normal(size=k) for space in widths}
    new = {space: rng.normal(size=(30, d)) for space, d in widths.items()}

    def probability(space, i, c):
        logit = [
            sum(new[space][i, j] * encoders[space][c2, j] for j in range(widths[space]))
            + biases[space][c2]
            for c2 in range(k)
        ]
        return math.exp(logit[c]) / sum(math.exp(v) for v in logit)

    expected = [
        max(range(k), key=lambda c, i=i: sum(probability(s, i, c) for s in widths))
        for i in range(30)
    ]
    np.testing.assert_array_equal(encoded_labels(encoders, new, biases), expected)
    one = {"a": encoders["a"]}
    np.testing.assert_array_equal(
        encoded_labels(one, new), (new["a"] @ encoders["a"].T).argmax(axis=1)
    )
    assert (encoded_labels(encoders, new, biases) != encoded_labels(encoders, new)).any()


def test_encoders_refuse_new_samples_of_another_width():
    theta = np.zeros((3, 4))
    with pytest.raises(InputError, match="5 phi1 dimensions"):
        encoder_labels(
            [{"phi1": theta}], [np.zeros(2, int)], np.zeros(2, int), {"phi1": np.zeros((1, 5))}, 3
        )


def test_new_images_are_projected_with_the_dataset_s_pca(tmp_path):
    """A batch of some of the dataset's own images gets exactly their features: the batch is
    projected with the PCA fitted on the dataset, not one of its own."""
    rng = np.random.default_rng(3)
    images = rng.integers(0, 256, (60, 8, 8, 1), dtype=np.uint8)
    split = (np.arange(60) % 5 == 0).astype(np.uint8)
    ids = [f"x:{i}" for i in range(60)]
    data = ImageDataset("toy", images, np.zeros(60, np.int64), split, ["a"], sample_ids=ids)
    write_dataset(tmp_path / "data.h5", data)
    spec = {"kind": "pixels", "pca_dim": 6}
    embed_dataset(tmp_path / "data.h5", tmp_path / "space.h5", "pixels", spec)
    picked = [3, 17, 42]
    batch = ImageDataset(
        "new", images[picked], np.full(3, -1), np.ones(3, np.uint8), [], sample_ids=["a", "b", "c"]
    )
    write_dataset(tmp_path / "batch.h5", batch)
    pca = read_pca(tmp_path / "space.h5")
    embed_dataset(tmp_path / "batch.h5", tmp_path / "batch_space.h5", "pixels", spec, pca=pca)
    features = read_features(tmp_path / "space.h5", 60)
    new = read_features(tmp_path / "batch_space.h5", 3)
    np.testing.assert_allclose(new, features[picked], atol=1e-5)
    assert read_sample_ids(tmp_path / "batch.h5") == ["a", "b", "c"]
    with pytest.raises(InputError, match="pca_mean"):
        read_pca(tmp_path / "data.h5")


def test_a_batch_folder_takes_the_dataset_s_size_and_greyscale(tmp_path):
    images = np.zeros((2, 8, 8, 1), np.uint8)
    data = ImageDataset("toy", images, np.zeros(2, np.int64), np.zeros(2, np.uint8), ["a"])
    write_dataset(tmp_path / "data.h5", data)
    folder = tmp_path / "new"
    folder.mkdir()
    colour = np.zeros((16, 16, 3), np.uint8)
    colour[..., 0] = 200  # pure red: luma 0.299 * 200
    Image.fromarray(colour).save(folder / "red.png")
    batch = prepare_batch(folder, tmp_path / "data.h5")
    assert batch.images.shape == (1, 8, 8, 1) and batch.sample_ids == ["red.png"]
    assert int(batch.images[0, 4, 4, 0]) == round(0.299 * 200)
    assert read_h5(tmp_path / "data.h5", ["labels"])[0]["labels"].shape == (2,)


def test_a_feature_batch_gets_the_features_the_dataset_s_own_rows_got(tmp_path, monkeypatch):
    """New samples given as a feature file: the rows of the dataset's own file come out of the
    batch's embedding exactly as the dataset's embedding holds them (same PCA, same L2)."""
    from hume_workflow.data.features_only import load_features_only
    from hume_workflow.embed.precomputed import embed_precomputed
    from hume_workflow.predict.feature_batches import embed_feature_batch, prepare_feature_batch

    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(4)
    raw = rng.normal(size=(80, 12)).astype(np.float32)
    np.save("x.npy", raw)
    np.save("labels.npy", rng.integers(0, 3, 80))
    write_dataset(tmp_path / "data.h5", load_features_only("x.npy", "labels.npy"))
    spec = {"kind": "precomputed", "path": "x.npy", "pca_dim": 5}
    embed_precomputed(tmp_path / "data.h5", tmp_path / "space.h5", "x", spec)
    picked = [2, 30, 77]
    np.save("new.npy", raw[picked])
    batch = {"features": {"x": "new.npy"}}
    write_dataset(tmp_path / "batch.h5", prepare_feature_batch("new", batch))
    assert read_sample_ids(tmp_path / "batch.h5") == ["row:0", "row:1", "row:2"]
    pca = read_pca(tmp_path / "space.h5")
    embed_feature_batch(tmp_path / "batch.h5", tmp_path / "new.h5", "x", spec, "new.npy", pca=pca)
    np.testing.assert_allclose(
        read_features(tmp_path / "new.h5", 3),
        read_features(tmp_path / "space.h5", 80)[picked],
        atol=1e-5,
    )
    np.save("wide.npy", np.zeros((3, 13), np.float32))
    with pytest.raises(InputError, match="13 features per row; expected 12"):
        embed_feature_batch("batch.h5", "w.h5", "x", spec, "wide.npy", pca=pca)
    np.save("short.npy", np.zeros((2, 12), np.float32))
    with pytest.raises(InputError, match=r"files of \[2, 3\] rows"):
        prepare_feature_batch("new", {"features": {"x": "new.npy", "y": "short.npy"}})
