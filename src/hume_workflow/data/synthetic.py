"""Two representation spaces of data with a known number of classes, for tests and benchmarks.

phi1 holds K Gaussian clusters; phi2 is a noisy random linear image of phi1, so the classes
are linearly separable in both spaces, as HUME assumes of strong representations.
"""

from __future__ import annotations

import numpy as np


def gaussian_two_spaces(
    num_classes: int,
    per_class: int,
    d1: int = 32,
    d2: int = 32,
    spread: float = 0.35,
    noise: float = 0.1,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """K equal clusters in two spaces.

    Class centres are drawn uniformly on the unit sphere of R^d1; each sample is its centre
    plus isotropic Gaussian noise of standard deviation ``spread / sqrt(d1)`` per coordinate
    (so ``spread`` is the noise's typical norm against centres of norm 1). phi2 is ``phi1 @ A``
    with A (d1, d2) Gaussian of variance 1/d1, plus noise of norm about ``noise``.

    Returns:
        phi1 (N, d1) float32, phi2 (N, d2) float32, labels (N,) int64, N = K * per_class,
        samples in random order.
    """
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((num_classes, d1))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    labels = rng.permutation(np.repeat(np.arange(num_classes), per_class))
    phi1 = centres[labels] + rng.standard_normal((len(labels), d1)) * spread / np.sqrt(d1)
    mixing = rng.standard_normal((d1, d2)) / np.sqrt(d1)
    phi2 = phi1 @ mixing + rng.standard_normal((len(labels), d2)) * noise / np.sqrt(d2)
    return phi1.astype(np.float32), phi2.astype(np.float32), labels.astype(np.int64)
