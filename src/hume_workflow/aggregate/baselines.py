"""Baselines on one representation space: k-means (the floor) and a linear probe (the ceiling)."""

from __future__ import annotations

import os

import numpy as np
from sklearn.cluster import KMeans
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from hume_workflow.aggregate.metrics import compute_metrics
from hume_workflow.data.setting import setting_indices
from hume_workflow.errors import InputError
from hume_workflow.formats.dataset import TEST, TRAIN
from hume_workflow.formats.embeddings import read_spaces
from hume_workflow.formats.io import read_h5


def kmeans_baseline(
    features: np.ndarray, labels: np.ndarray, split: np.ndarray, setting: str, k: int, seed: int = 0
) -> dict[str, float]:
    """ACC/ARI/NMI of k-means with ``k`` clusters, fitted and evaluated as HUME is in ``setting``.

    Args:
        features: (N, d); labels: (N,) ground truth; split: (N,) 0 = train, 1 = test.

    Raises:
        InputError: fewer samples to fit on than ``k`` (config ``dataset.num_classes``).
    """
    fit_idx, eval_idx = setting_indices(split, setting)
    if len(fit_idx) < k:
        raise InputError(
            f"config dataset.num_classes={k}: expected at most the {len(fit_idx)} samples "
            f"k-means fits on ({setting} setting); lower dataset.num_classes or add images"
        )
    model = KMeans(n_clusters=k, n_init=10, random_state=seed).fit(features[fit_idx])
    return compute_metrics(model.predict(features[eval_idx]), labels[eval_idx])  # None: no labels


def linear_probe_accuracy(
    features: np.ndarray, labels: np.ndarray, split: np.ndarray, max_iter: int = 1000
) -> float | None:
    """Test accuracy of a supervised logistic regression trained on the train split.

    The supervised ceiling of a space: what a linear model reaches with the true labels.
    Only samples with a known label (>= 0) count; None when either split has none.
    """
    train, test = (split == TRAIN) & (labels >= 0), (split == TEST) & (labels >= 0)
    if not train.any() or not test.any():
        return None
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=max_iter))
    model.fit(features[train], labels[train])
    return float((model.predict(features[test]) == labels[test]).mean())


def space_baselines(
    data_path: str | os.PathLike, features_path: str | os.PathLike, setting: str
) -> dict:
    """Both baselines of one embedding file against data.h5: the baselines file's content
    (``dim``, ``kmeans`` metrics, ``linear_probe_acc``).

    k-means runs with the dataset's number of known classes, whatever K the runs sweep (the
    plan refuses a single K unlike a labelled dataset's classes), so adding a K reruns no
    baseline; without a known label it is not fitted at all (every metric None).
    """
    features = read_spaces(data_path, [features_path])[0]
    data = read_h5(data_path, ["labels", "split"])[0]
    labels, split = data["labels"], data["split"]
    k = len(np.unique(labels[labels >= 0]))
    return {
        "dim": int(features.shape[1]),
        "kmeans": (
            kmeans_baseline(features, labels, split, setting, k)
            if k
            else compute_metrics(labels, labels)  # no known label: every metric None
        ),
        "linear_probe_acc": linear_probe_accuracy(features, labels, split),
    }
