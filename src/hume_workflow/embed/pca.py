"""The PCA of a space's features: fitted on the train split, stored in its embedding file, and
applied as stored to new samples (torch-free)."""

from __future__ import annotations

import logging
import os

import h5py
import numpy as np
from sklearn.decomposition import PCA

from hume_workflow.errors import InputError
from hume_workflow.formats.io import open_h5

log = logging.getLogger(__name__)

#: Datasets of an embedding file that hold its PCA, so that new samples get the same projection.
PCA_MEAN, PCA_COMPONENTS = "pca_mean", "pca_components"
Projection = tuple[np.ndarray, np.ndarray]  # mean (d,), components (dim, d)


def reduce_dimension(
    features: np.ndarray, fit_mask: np.ndarray, dim: int
) -> tuple[np.ndarray, dict, Projection]:
    """PCA of (N, d) features to (N, dim), fitted on the rows where ``fit_mask`` is True.

    Returns:
        The float32 (N, dim) projection, a provenance dict (dim, explained variance) and the
        fitted (mean (d,), components (dim, d)): the projection is (x - mean) @ components.T.
    """
    if not 0 < dim <= min(features.shape[1], int(fit_mask.sum())):
        raise InputError(
            f"pca_dim={dim}: expected at most min(feature dim {features.shape[1]}, "
            f"train samples {int(fit_mask.sum())}); lower pca_dim"
        )
    pca = PCA(n_components=dim, random_state=0).fit(features[fit_mask])
    explained = float(pca.explained_variance_ratio_.sum())
    log.info("PCA to %d dims keeps %.1f%% of the variance", dim, 100 * explained)
    info = {"pca_dim": dim, "pca_fitted_on": "train split", "pca_explained_variance": explained}
    return pca.transform(features).astype(np.float32), info, (pca.mean_, pca.components_)


def project(features: np.ndarray, pca: Projection, what: str) -> np.ndarray:
    """float32 (N, dim) ``features`` (N, d) projected with a stored PCA.

    Raises:
        InputError: ``features`` of another width than the PCA's (naming ``what``).
    """
    mean, components = pca
    if features.shape[1] != components.shape[1]:
        raise InputError(
            f"{what}: {features.shape[1]} features per row; expected {components.shape[1]}, "
            "the width the dataset's PCA was fitted on"
        )
    return ((features - mean) @ components.T).astype(np.float32)


def write_pca(f: h5py.File, pca: Projection) -> None:
    """Store ``pca`` in an embedding file being written (:func:`read_pca` reads it)."""
    f.create_dataset(PCA_MEAN, data=pca[0])
    f.create_dataset(PCA_COMPONENTS, data=pca[1])


def read_pca(embedding_path: str | os.PathLike) -> Projection:
    """The (mean (d,), components (dim, d)) an embedding file was projected with.

    Raises:
        InputError: the file holds no PCA (written before it was stored, or without pca_dim).
    """
    with open_h5(embedding_path) as f:
        if PCA_MEAN not in f or PCA_COMPONENTS not in f:
            raise InputError(
                f"{embedding_path}: no {PCA_MEAN}/{PCA_COMPONENTS}; expected the PCA of a "
                "backbone with pca_dim (an embedding file made before it was stored: delete "
                "it and extract again)"
            )
        return f[PCA_MEAN][()], f[PCA_COMPONENTS][()]
