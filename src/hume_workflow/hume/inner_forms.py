"""Where HUME's inner gradient descent runs, and which form is cheaper for given shapes.

- ``weights``: the classifiers' weights on each subset's (n, d2) block of phi2; per inner
  step and classifier, products of cost ~ n_train d2 (2 forward, 3 backward).
- ``gram``: their logits on all N fit samples, moved by the (N, N) Gram matrix of phi2, the
  samples outside a subset's training part weighted zero; per step, 2 products of cost ~ N^2.
- ``auto``: the cheaper of the two for the shapes.

Both are exact (the same values and gradients up to float rounding). Torch-free, so that the
scheduler's resource model (plan/resources.py) can ask it too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal, get_args

from hume_workflow.errors import InputError

if TYPE_CHECKING:
    from hume_workflow.choices import Hypergradient

InnerForm = Literal["auto", "weights", "gram"]
INNER_FORMS: tuple[InnerForm, ...] = get_args(InnerForm)


def check_inner_form(inner_form: InnerForm, hypergradient: Hypergradient) -> None:
    """The one statement of which forms a hypergradient can run in: the ``autograd``
    hypergradient unrolls the classifiers' weights, so it has no gram form.

    Raises:
        InputError: ``hume.inner_form: gram`` with ``hume.hypergradient: autograd``.
    """
    if inner_form == "gram" and hypergradient == "autograd":
        raise InputError(
            "config hume.inner_form='gram': needs hume.hypergradient closed_form or first_order "
            "(autograd unrolls the weights); set hume.hypergradient: closed_form"
        )


def pick_inner_form(
    inner_form: InnerForm,
    hypergradient: Hypergradient,
    n_fit: int,
    subset_size: int,
    train_fraction: float,
    d2: int,
) -> Literal["weights", "gram"]:
    """``weights`` or ``gram``: ``inner_form`` unless it is ``auto``, and always ``weights``
    for the ``autograd`` hypergradient (which unrolls the weights: :func:`check_inner_form`).
    ``auto`` picks gram when its two (N, N) products per step cost no more than four
    (n_train, d2) products.

    Raises:
        InputError: a pair that :func:`check_inner_form` refuses.
    """
    check_inner_form(inner_form, hypergradient)
    if hypergradient == "autograd":
        return "weights"
    if inner_form != "auto":
        return inner_form
    n_train = train_size(min(subset_size, n_fit), train_fraction)
    return "gram" if n_fit * n_fit <= 2 * n_train * d2 else "weights"


def train_size(n: int, train_fraction: float) -> int:
    """Samples of a subset of ``n`` the inner classifiers train on; the rest are held out.

    Raises:
        InputError: ``train_fraction`` of ``n`` rounds to 0 or ``n`` (config
            ``hume.subset_size``, capped at the samples HUME fits on, and
            ``hume.train_fraction``).
    """
    n_train = round(train_fraction * n)
    if not 0 < n_train < n:
        raise InputError(
            f"config hume.subset_size/hume.train_fraction={train_fraction}: a subset of {n} "
            f"samples leaves no train or no held-out part ({n_train} train, {n - n_train} "
            "held out); expected both non-empty: raise hume.subset_size (and give HUME at "
            "least 2 samples to fit on) or set hume.train_fraction nearer 0.5"
        )
    return n_train
