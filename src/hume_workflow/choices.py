"""The allowed values of HUME's enum-valued settings, and the one check of a config choice.

Torch-free and below every sub-package: the planner, the aggregation, the report and the
prediction check their config choices here without importing HUME's training code. Each
``Literal`` is the one home of its values; ``HumeConfig`` and ``ScoreConfig``
(hume/config.py) type their fields with them, and tests/unit/test_config_defaults.py holds
the JSON schema to them.
"""

from __future__ import annotations

from typing import Literal, get_args

from hume_workflow.errors import InputError, did_you_mean

# How the outer gradient goes back through the inner optimisation. closed_form and autograd
# are the same exact second-order hypergradient (closed_form is faster and lighter);
# first_order detaches the labels inside the inner loop (as TURTLE does): cheaper, not HUME's.
Hypergradient = Literal["closed_form", "autograd", "first_order"]
HYPERGRADIENTS: tuple[Hypergradient, ...] = get_args(Hypergradient)

# How the generalisation score fits its folds (hume/score.py): scikit-learn one by one, or a
# batched L-BFGS in torch.
ScoreBackend = Literal["sklearn", "torch"]
SCORE_BACKENDS: tuple[ScoreBackend, ...] = get_args(ScoreBackend)

# How the task encoder's K x d1 weight starts (hume/objective.py): "uniform" draws nn.Linear's
# default U(-1/sqrt(d1), 1/sqrt(d1)) entries and orthonormalises them (QR), as the reference
# implementation's orthogonal parametrisation does; "haar" draws a Haar-uniform orthonormal
# frame (nn.init.orthogonal_).
EncoderInit = Literal["uniform", "haar"]
ENCODER_INITS: tuple[EncoderInit, ...] = get_args(EncoderInit)

# How hume.inner_lr is read (hume/descent.py largest_curvature): "absolute" is the step itself,
# the paper's; "relative" is a multiple of 1 / lambda_max, lambda_max the largest eigenvalue of
# [phi2, 1]^T [phi2, 1] / n, twice the largest curvature of the inner loss, so the same value
# means the same step relative to stability (below 4) whatever the feature scale.
InnerLrMode = Literal["absolute", "relative"]
INNER_LR_MODES: tuple[InnerLrMode, ...] = get_args(InnerLrMode)


# The label-free criteria whose highest value picks K in a sweep (aggregate/k_choice.py,
# docs/choosing_k.md).
KCriterion = Literal["stability", "kappa_stability", "kappa", "outer_fit", "silhouette", "score"]
K_CRITERIA: tuple[KCriterion, ...] = get_args(KCriterion)
# Those that compare the runs of a K with each other: with fewer than two runs per K they have
# no value, so a sweep choosing by them needs num_runs >= 2 (refused at plan time,
# plan/sweep.py); the others are means over the runs or read the vote, and one run will do.
PAIRWISE_K_CRITERIA: tuple[KCriterion, ...] = ("stability", "kappa_stability")


def check_choice(key: str, value: object, choices: tuple[str, ...]) -> None:
    """Raise a one-line :class:`InputError` naming ``config <key>`` unless ``value`` is one of
    ``choices`` (worded as the schema check words a misspelt choice, with the close ones).
    """
    if value not in choices:
        raise InputError(
            f"config {key}={value!r}: expected one of {', '.join(choices)}"
            f"{did_you_mean(str(value), list(choices))}"
        )
