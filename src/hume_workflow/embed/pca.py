"""The PCA of a space's features: fitted on the train split, and applied as stored in its
embedding file (formats/embeddings.py ``write_pca``, ``read_pca``) to new samples (torch-free)."""

from __future__ import annotations

import logging

import numpy as np
from sklearn.decomposition import PCA

from hume_workflow.errors import InputError
from hume_workflow.formats.embeddings import Projection

log = logging.getLogger(__name__)


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
