"""Baselines on one representation space: k-means (the floor) and a linear probe (the ceiling).

Up to a size, rows x K of the space (plan/resources.py's :func:`baseline_methods`, which the
job's request model reads too), scikit-learn's KMeans (n_init=10) and L-BFGS
LogisticRegression on standardised features, as they always were. Above it (ImageNet's
1.28 M x 2048 with K = 1000 took ~18 CPU-hours and two (rows, d) copies that way): k-means
by Lloyd's passes in torch from one k-means++ seeding, and a multinomial logistic
regression in torch (mini-batch Adam), each with a fixed budget, on the GPU when one is
present, reading the float32 (rows, d) features in place a chunk of rows at a time. The
baselines file records which ran (``kmeans_method``, ``probe_method``).
"""

from __future__ import annotations

import contextlib
import logging
import math
import os

import numpy as np
from sklearn.cluster import KMeans, kmeans_plusplus
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from hume_workflow.aggregate.metrics import compute_metrics
from hume_workflow.data.setting import setting_indices
from hume_workflow.errors import InputError
from hume_workflow.formats.dataset import TEST, TRAIN
from hume_workflow.formats.embeddings import read_spaces
from hume_workflow.formats.io import read_h5
from hume_workflow.plan.resources import (
    BASELINE_CHUNK_ROWS,
    LLOYD_PASSES,
    PROBE_EPOCHS,
    PROBE_MIN_ROWS,
    baseline_methods,
    known_classes,
    seeding_rows,
)

log = logging.getLogger(__name__)

# The torch k-means (kmeans_method "lloyd") stops once at most a LLOYD_TOL fraction of the
# fit rows changes cluster in a pass; its budgets, with the probe's, are in plan/resources.py
# beside the request model that reads them.
LLOYD_TOL = 1e-4
# The torch probe (probe_method "torch"): PROBE_EPOCHS passes of Adam over batches of
# PROBE_BATCH rows (more on fewer than PROBE_MIN_ROWS train rows: as many as see that many
# rows in all), learning rate PROBE_LR decayed to 0 on a cosine, weights from zero.
PROBE_BATCH = 1024
PROBE_LR = 1e-3


def kmeans_baseline(
    features: np.ndarray,
    labels: np.ndarray,
    split: np.ndarray,
    setting: str,
    k: int,
    seed: int = 0,
    method: str = "full",
    threads: int | None = None,
) -> dict[str, float]:
    """ACC/ARI/NMI of k-means with ``k`` clusters, fitted and evaluated as HUME is in ``setting``.

    Args:
        features: (N, d); labels: (N,) ground truth; split: (N,) 0 = train, 1 = test.
        method: "full" (scikit-learn's KMeans, n_init=10) or "lloyd" (:func:`torch_kmeans`;
            ``threads`` is its).

    Raises:
        InputError: fewer samples to fit on than ``k`` (config ``dataset.num_classes``).
    """
    fit_idx, eval_idx = setting_indices(split, setting)
    if len(fit_idx) < k:
        raise InputError(
            f"config dataset.num_classes={k}: expected at most the {len(fit_idx)} samples "
            f"k-means fits on ({setting} setting); lower dataset.num_classes or add images"
        )
    if method == "full":
        model = KMeans(n_clusters=k, n_init=10, random_state=seed).fit(rows(features, fit_idx))
        predicted = model.predict(rows(features, eval_idx))
    else:
        predicted = torch_kmeans(features, fit_idx, k, eval_idx, seed, threads)
    return compute_metrics(predicted, labels[eval_idx])  # None: no labels


def torch_kmeans(
    features: np.ndarray,
    fit_idx: np.ndarray,
    k: int,
    predict_idx: np.ndarray,
    seed: int = 0,
    threads: int | None = None,
) -> np.ndarray:
    """Clusters (len(predict_idx),) of the rows ``predict_idx`` of ``features`` (N, d) by
    k-means with ``k`` clusters fitted on the rows ``fit_idx`` (increasing).

    One initialisation, k-means++ (scikit-learn's) on a random subset of the fit rows
    (:func:`seeding_rows` of them, drawn by a ``numpy.random.Generator`` seeded with
    ``seed``), then Lloyd's passes: each assigns every fit row to its nearest centre and moves
    each centre to the mean of its rows, until at most a LLOYD_TOL fraction of the rows
    changes cluster, or LLOYD_PASSES passes; an emptied cluster restarts at the row farthest
    from its centre (as scikit-learn's). ``features`` is read a chunk of rows at a time, never
    copied whole; on the GPU when one is present, else on ``threads`` CPU threads.
    """
    import torch  # here: the scikit-learn path (every small space) runs without it

    with torch_threads(threads):
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        rng = np.random.default_rng(seed)
        subset = rng.choice(fit_idx, seeding_rows(len(fit_idx), k), replace=False)
        subset.sort()
        start, _ = kmeans_plusplus(features[subset], k, random_state=seed)
        centres = torch.from_numpy(start).to(device, torch.float32)
        previous, passes = None, 0
        while passes < LLOYD_PASSES:
            passes += 1
            sums = torch.zeros_like(centres)
            counts = torch.zeros(k, dtype=torch.int64, device=device)
            assigned, distances = [], []
            for x in _chunks(features, fit_idx, device):
                near, distance = _nearest(x, centres)
                sums.index_add_(0, near, x)
                counts += torch.bincount(near, minlength=k)
                assigned.append(near)
                distances.append(distance)
            clusters = torch.cat(assigned)
            if previous is not None and (clusters != previous).sum() <= LLOYD_TOL * len(clusters):
                break
            previous = clusters
            empty = torch.nonzero(counts == 0).flatten()
            centres = sums / counts.clamp(min=1)[:, None].to(sums.dtype)
            if len(empty):  # an emptied cluster restarts at the farthest rows
                far = torch.topk(torch.cat(distances), len(empty)).indices.cpu().numpy()
                refill = torch.from_numpy(features[fit_idx[np.sort(far)]])
                centres[empty] = refill.to(device, torch.float32)
        log.info("torch k-means: %d Lloyd passes on %s", passes, device)
        return (
            torch.cat([_nearest(x, centres)[0] for x in _chunks(features, predict_idx, device)])
            .cpu()
            .numpy()
        )


def _chunks(features: np.ndarray, idx: np.ndarray, device):
    """The rows ``idx`` of ``features`` as float32 (m, d) tensors on ``device``, a chunk at a
    time."""
    import torch

    for start in range(0, len(idx), BASELINE_CHUNK_ROWS):
        chunk = rows(features, idx[start : start + BASELINE_CHUNK_ROWS])
        yield torch.from_numpy(chunk).to(device, torch.float32)


def _nearest(x, centres):
    """(nearest centre (m,), squared distance to it (m,)) of the rows of ``x`` (m, d)."""
    distance = (x * x).sum(1, keepdim=True) - 2 * x @ centres.T + (centres * centres).sum(1)
    smallest, near = distance.min(1)
    return near, smallest


@contextlib.contextmanager
def torch_threads(threads: int | None):
    """torch's CPU threads set to ``threads`` (None: left as they are) inside the block."""
    import torch

    previous = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def rows(features: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """``features[idx]`` for increasing row indices ``idx``: a view when they are one
    contiguous run (all rows, or a split stored in one block), else a copy."""
    if len(idx) and idx[-1] - idx[0] + 1 == len(idx) and np.all(np.diff(idx) == 1):
        return features[idx[0] : idx[-1] + 1]
    return features[idx]


def linear_probe_accuracy(
    features: np.ndarray,
    labels: np.ndarray,
    split: np.ndarray,
    max_iter: int = 1000,
    method: str = "sklearn",
    seed: int = 0,
    threads: int | None = None,
) -> float | None:
    """Test accuracy of a supervised logistic regression trained on the train split.

    The supervised ceiling of a space: what a linear model reaches with the true labels.
    Only samples with a known label (>= 0) count; None when either split has none.

    Args:
        method: "sklearn" (StandardScaler and LogisticRegression, L-BFGS up to ``max_iter``
            iterations) or "torch" (:func:`torch_probe_predict`; ``seed`` and ``threads``
            are its).
    """
    train, test = (split == TRAIN) & (labels >= 0), (split == TEST) & (labels >= 0)
    if not train.any() or not test.any():
        return None
    if method == "torch":
        train_idx, test_idx = np.flatnonzero(train), np.flatnonzero(test)
        predicted = torch_probe_predict(
            features, train_idx, labels[train_idx], test_idx, seed, threads
        )
        return float((predicted == labels[test_idx]).mean())
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=max_iter))
    model.fit(features[train], labels[train])
    return float((model.predict(features[test]) == labels[test]).mean())


def torch_probe_predict(
    features: np.ndarray,
    train_idx: np.ndarray,
    train_labels: np.ndarray,
    predict_idx: np.ndarray,
    seed: int = 0,
    threads: int | None = None,
) -> np.ndarray:
    """Labels of the rows ``predict_idx`` by a multinomial logistic regression fitted on the
    rows ``train_idx`` of ``features`` (N, d) with ``train_labels``.

    The features are standardised with the train rows' mean and standard deviation (as
    StandardScaler: a constant column is centred only), a batch at a time; the (d, C) weights
    and (C,) bias start from zero and take PROBE_EPOCHS passes of Adam (more, to see
    PROBE_MIN_ROWS rows in all) over batches of PROBE_BATCH rows in the order of a
    ``torch.Generator`` seeded with ``seed``, the learning rate decayed from PROBE_LR to 0 on
    a cosine. On the GPU when one is present, else on ``threads`` CPU threads (None: torch's
    default). ``features`` is never copied whole.
    """
    import torch  # here: the scikit-learn path (every small space) runs without it

    with torch_threads(threads):
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        classes, targets = np.unique(train_labels, return_inverse=True)
        mean, scale = (torch.from_numpy(v).to(device) for v in _moments(features, train_idx))
        weight = torch.zeros(features.shape[1], len(classes), device=device, requires_grad=True)
        bias = torch.zeros(len(classes), device=device, requires_grad=True)
        optimiser = torch.optim.Adam([weight, bias], lr=PROBE_LR)
        epochs = max(PROBE_EPOCHS, math.ceil(PROBE_MIN_ROWS / len(train_idx)))
        total = epochs * math.ceil(len(train_idx) / PROBE_BATCH)
        generator = torch.Generator().manual_seed(seed)
        step = 0
        for _ in range(epochs):
            order = torch.randperm(len(train_idx), generator=generator).numpy()
            for start in range(0, len(order), PROBE_BATCH):
                picked = np.sort(order[start : start + PROBE_BATCH])  # rows read in order
                x = torch.from_numpy(features[train_idx[picked]]).to(device, torch.float32)
                y = torch.from_numpy(targets[picked]).to(device)
                for group in optimiser.param_groups:
                    group["lr"] = PROBE_LR * 0.5 * (1 + math.cos(math.pi * step / total))
                logits = (x - mean) / scale @ weight + bias
                loss = torch.nn.functional.cross_entropy(logits, y)
                optimiser.zero_grad(set_to_none=True)
                loss.backward()
                optimiser.step()
                step += 1
        log.info("torch probe: %d Adam steps of %d rows on %s", step, PROBE_BATCH, device)
        with torch.no_grad():
            predicted = torch.cat(
                [
                    ((x - mean) / scale @ weight + bias).argmax(1)
                    for x in _chunks(features, predict_idx, device)
                ]
            )
        return classes[predicted.cpu().numpy()]


def _moments(features: np.ndarray, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(d,) float32 mean and scale of the rows ``idx`` of ``features``, summed in float64 a
    chunk at a time; the scale of a constant column is 1 (as StandardScaler's)."""
    total = np.zeros(features.shape[1])
    squares = np.zeros(features.shape[1])
    for start in range(0, len(idx), BASELINE_CHUNK_ROWS):
        chunk = rows(features, idx[start : start + BASELINE_CHUNK_ROWS]).astype(np.float64)
        total += chunk.sum(0)
        squares += np.square(chunk).sum(0)
    mean = total / len(idx)
    std = np.sqrt(np.maximum(squares / len(idx) - mean**2, 0))
    return mean.astype(np.float32), np.where(std > 0, std, 1).astype(np.float32)


def space_baselines(
    data_path: str | os.PathLike,
    features_path: str | os.PathLike,
    setting: str,
    threads: int | None = None,
) -> dict:
    """Both baselines of one embedding file against data.h5: the baselines file's content
    (``dim``, ``kmeans`` metrics, ``linear_probe_acc``, and the algorithms that gave them:
    ``kmeans_method``, ``probe_method``, from :func:`baseline_methods`).

    k-means runs with the dataset's number of known classes, whatever K the runs sweep (the
    plan refuses a single K unlike a labelled dataset's classes), so adding a K reruns no
    baseline; without a known label it is not fitted at all (every metric None).
    ``threads``: torch's CPU threads, where it runs (the caller limits BLAS and OpenMP).
    """
    features = read_spaces(data_path, [features_path])[0]  # float32 (N, d)
    data = read_h5(data_path, ["labels", "split"])[0]
    labels, split = data["labels"], data["split"]
    k = known_classes(labels)
    kmeans_method, probe_method = baseline_methods(len(features), k)
    log.info(
        "%s: %d x %d, K = %d: k-means %s, linear probe %s",
        features_path,
        *features.shape,
        k,
        kmeans_method,
        probe_method,
    )
    return {
        "dim": int(features.shape[1]),
        "kmeans": (
            kmeans_baseline(
                features, labels, split, setting, k, method=kmeans_method, threads=threads
            )
            if k
            else compute_metrics(labels, labels)  # no known label: every metric None
        ),
        "linear_probe_acc": linear_probe_accuracy(
            features, labels, split, method=probe_method, threads=threads
        ),
        "kmeans_method": kmeans_method,
        "probe_method": probe_method,
    }
