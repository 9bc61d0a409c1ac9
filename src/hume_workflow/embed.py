"""Batched feature extraction with a frozen backbone: uint8 images (N, H, W, C) -> (N, d)."""

from __future__ import annotations

import contextlib
import logging
import os

import numpy as np
import torch
from sklearn.decomposition import PCA
from tqdm import tqdm

from hume_workflow.backbones import Backbone, build_backbone
from hume_workflow.datasets import TRAIN, read_dataset
from hume_workflow.io import package_versions, write_h5

log = logging.getLogger(__name__)


def extract_features(
    images: np.ndarray,
    backbone: Backbone,
    batch_size: int = 64,
    device: str = "cpu",
    progress: bool = True,
    autocast_dtype: torch.dtype | None = None,
) -> np.ndarray:
    """Features of every image, in order.

    Args:
        images: uint8 (N, H, W, C) with C in {1, 3}, or (N, H, W) for grayscale.
        backbone: the feature extractor; it is moved to ``device`` and put in eval mode.
        batch_size: images per forward pass.
        device: torch device string, e.g. "cpu" or "cuda".
        progress: show a tqdm progress bar.
        autocast_dtype: e.g. torch.bfloat16 to run under autocast on ``device`` (meant for
            CUDA); None runs in float32.

    Returns:
        float32 (N, d) features.
    """
    if images.ndim == 3:
        images = images[..., None]
    if images.dtype != np.uint8 or images.ndim != 4:
        raise ValueError(f"expected uint8 (N, H, W, C) images, got {images.dtype} {images.shape}")
    n = len(images)
    dev = torch.device(device)
    backbone = backbone.to(dev).eval()
    out = np.empty((n, backbone.output_dim(images.shape[1:])), dtype=np.float32)
    amp = (
        torch.autocast(dev.type, dtype=autocast_dtype)
        if autocast_dtype is not None
        else contextlib.nullcontext()
    )
    with (
        torch.inference_mode(),
        amp,
        tqdm(total=n, desc=f"features [{backbone.name}]", unit="img", disable=not progress) as bar,
    ):
        for start in range(0, n, batch_size):
            batch = torch.from_numpy(np.ascontiguousarray(images[start : start + batch_size]))
            feats = backbone(batch.to(dev, non_blocking=True))
            out[start : start + len(batch)] = feats.float().cpu().numpy()
            bar.update(len(batch))
    return out


def reduce_dimension(
    features: np.ndarray, fit_mask: np.ndarray, dim: int
) -> tuple[np.ndarray, dict]:
    """PCA of (N, d) features to (N, dim), fitted on the rows where ``fit_mask`` is True.

    Returns:
        The float32 (N, dim) projection and a provenance dict (dim, explained variance).
    """
    if not 0 < dim <= min(features.shape[1], int(fit_mask.sum())):
        raise ValueError(
            f"pca_dim={dim}: expected at most min(feature dim {features.shape[1]}, "
            f"train samples {int(fit_mask.sum())})"
        )
    pca = PCA(n_components=dim, random_state=0).fit(features[fit_mask])
    explained = float(pca.explained_variance_ratio_.sum())
    log.info("PCA to %d dims keeps %.1f%% of the variance", dim, 100 * explained)
    info = {"pca_dim": dim, "pca_fitted_on": "train split", "pca_explained_variance": explained}
    return pca.transform(features).astype(np.float32), info


def embed_dataset(
    dataset_path: str | os.PathLike,
    output_path: str | os.PathLike,
    backbone_name: str,
    spec: dict,
    device: str = "cpu",
) -> None:
    """Embed every image of a prepared dataset and write the features to HDF5 (atomically).

    The file holds ``features`` (N, d) float32, ``labels`` (N,) (-1 where unknown), ``split``
    (N,), and attributes recording the backbone, its preprocessing, the dataset, the split
    and the package versions.

    Args:
        spec: the backbone's config entry: ``kind``, ``batch_size`` and the backbone's options.
    """
    dataset = read_dataset(dataset_path)
    options = {k: v for k, v in spec.items() if k not in ("kind", "batch_size", "pca_dim")}
    backbone = build_backbone(spec["kind"], **options)
    log.info(
        "embedding %d images of %s with %s on %s",
        len(dataset.images),
        dataset.name,
        backbone_name,
        device,
    )
    features = extract_features(dataset.images, backbone, spec.get("batch_size", 64), device)
    if not np.isfinite(features).all():
        raise ValueError(
            f"{backbone_name}: {int((~np.isfinite(features)).sum())} non-finite features"
        )
    postprocessing = {}
    if spec.get("pca_dim") is not None:
        features, postprocessing = reduce_dimension(
            features, dataset.split == TRAIN, spec["pca_dim"]
        )
    attrs = {
        "backbone": backbone_name,
        "postprocessing": postprocessing,
        "backbone_spec": spec,
        "preprocessing": backbone.describe(),
        "dataset": dataset.name,
        "split_encoding": "0 = train, 1 = test",
        "device": device,
        "versions": package_versions(),
    }
    arrays = {"features": features, "labels": dataset.labels, "split": dataset.split}
    write_h5(output_path, arrays, attrs)
    log.info("wrote %s: features %s", output_path, features.shape)
