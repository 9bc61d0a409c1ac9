"""Two ways to give new samples the labels a task's vote found (docs/algorithm.md, "Labelling
new images"), for the runs of any method.

- ``probe``: a multinomial logistic regression on the task's last space (HUME: phi2),
  trained on the voted samples with the vote's labels (optionally weighted by their
  agreement), predicts the new samples; the confidence is its largest class probability.
- ``encoders``: every voting run's encoders label the new samples as the run labels its own
  (argmax over K of the mean over its encoders' spaces of softmax(x_space W_space^T + b_space);
  HUME: the argmax of phi1 theta^T; TURTLE: its heads on every space); each run's cluster
  ids are mapped onto the vote's by the Hungarian alignment of its labels to the vote on the
  samples both labelled; the new label is the majority of the
  mapped labels and the confidence the fraction of runs that give it.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Literal, get_args

import numpy as np
from scipy.special import softmax
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from hume_workflow.aggregate.alignment import alignment
from hume_workflow.errors import InputError

PredictMethod = Literal["encoders", "probe"]
PREDICT_METHODS: tuple[PredictMethod, ...] = get_args(PredictMethod)


def probe_labels(
    probe: np.ndarray,
    votes: np.ndarray,
    new_probe: np.ndarray,
    weights: np.ndarray | None = None,
    max_iter: int = 1000,
) -> tuple[np.ndarray, np.ndarray]:
    """Labels and confidences of ``new_probe`` (m, d) from a linear probe on one space.

    Args:
        probe: (n, d) features of the voted samples in that space; votes: (n,) their
            voted labels.
        weights: (n,) sample weights (e.g. the vote's agreement); None weighs all alike.

    Returns:
        labels (m,) int64 in the vote's ids, confidence (m,) float: the largest probability.
    """
    if probe.shape[1] != new_probe.shape[1]:
        raise InputError(
            f"new samples have {new_probe.shape[1]} dimensions in the probe's space; the "
            f"task's samples have {probe.shape[1]}"
        )
    classes = np.unique(votes)
    if len(classes) == 1:
        return np.full(len(new_probe), classes[0], np.int64), np.ones(len(new_probe))
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=max_iter))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(probe, votes, logisticregression__sample_weight=weights)
    probabilities = model.predict_proba(new_probe)
    best = probabilities.argmax(axis=1)
    return model.classes_[best].astype(np.int64), probabilities.max(axis=1)


def encoded_labels(
    encoders: Mapping[str, np.ndarray],
    new: Mapping[str, np.ndarray],
    biases: Mapping[str, np.ndarray] | None = None,
) -> np.ndarray:
    """A run's own labels (m,) of new samples: argmax over K of the mean over its encoders'
    spaces of ``softmax(new[space] @ encoders[space].T + biases[space])`` (encoders
    (K, d_space), biases (K,) where the run has them, new (m, d_space)); with one encoder and
    no bias, the argmax of its logits.

    Raises:
        InputError: a space without new features, or of another width than its encoder.
    """
    mean = 0
    for space, encoder in encoders.items():
        if space not in new:
            raise InputError(f"no new features of {space!r}; expected the task's spaces")
        if encoder.shape[1] != new[space].shape[1]:
            raise InputError(
                f"new samples have {new[space].shape[1]} {space} dimensions; the run's "
                f"encoder has {encoder.shape[1]}"
            )
        logits = new[space] @ encoder.T + (biases or {}).get(space, 0)
        mean = mean + softmax(logits, axis=1) / len(encoders)
    return np.asarray(mean).argmax(axis=1)


def encoder_labels(
    encoders: Sequence[Mapping[str, np.ndarray]],
    run_labels: Sequence[np.ndarray],
    votes: np.ndarray,
    new: Mapping[str, np.ndarray],
    num_classes: int,
    biases: Sequence[Mapping[str, np.ndarray] | None] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Labels and confidences of new samples from the voting runs' encoders.

    Args:
        encoders: per voting run, its encoders {space: (K, d_space)}.
        run_labels: per voting run, its labels (n,) of the voted samples, in the vote's order.
        votes: (n,) the vote's labels of those samples.
        new: {space: (m, d_space)} the new samples in the task's spaces.
        biases: per voting run, its encoders' biases {space: (K,)} or None; None: no run has.

    Returns:
        labels (m,) int64 in the vote's ids (ties: the smallest id), confidence (m,): the
        fraction of runs that give the label.
    """
    if not encoders:
        raise InputError("no voting run: expected the encoders of at least one run")
    m = len(next(iter(new.values())))
    counts = np.zeros((m, num_classes))
    biases = biases or [None] * len(encoders)
    for run_encoders, run_biases, labels in zip(encoders, biases, run_labels, strict=True):
        lookup = alignment(labels, votes, num_classes)
        own = encoded_labels(run_encoders, new, run_biases)
        counts[np.arange(m), lookup[own]] += 1
    labels = counts.argmax(axis=1)
    return labels.astype(np.int64), counts.max(axis=1) / len(encoders)
