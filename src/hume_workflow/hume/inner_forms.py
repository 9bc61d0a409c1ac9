"""Where HUME's inner gradient descent runs, and which form is cheaper for given shapes.

- ``weights``: the classifiers' weights on each subset's (n, d2) block of phi2; per inner
  step and classifier, products of cost ~ n_train d2 (2 forward, 2 backward).
- ``gram``: their logits on all N fit samples, moved by the (N, N) Gram matrix of phi2, the
  samples outside a subset's training part weighted zero; per step, 2 products of cost ~ N^2.
- ``auto``: the cheaper of the two for the shapes.

The weights form advances its subsets in cache-sized groups (:func:`subset_groups`).

Both are exact (the same values and gradients up to float rounding). Torch-free, so that the
scheduler's resource model (plan/resources.py) can ask it too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal, get_args

from hume_workflow.errors import InputError

if TYPE_CHECKING:
    from hume_workflow.choices import Hypergradient

# The weights form takes its subsets through the inner steps in groups. On a CPU, subsets
# whose phi2 blocks together hold at most GROUP_BYTES advance together, so that a group's
# blocks stay in the caches for all its steps, forward and back, instead of all S blocks
# streaming from memory at every step; a group also keeps at most SOFTMAX_BYTES of per-step
# softmaxes for its reverse pass; at least one subset per group whatever the sizes. Measured
# on a 2-core Xeon (2 MiB of L2 per core) by ``python benchmarks/bench_hume.py``:
# docs/performance.md. On a GPU all subsets advance together (few, large kernels) within
# GPU_SOFTMAX_BYTES of softmaxes (not yet measured on a GPU).
# A phi2 block (n_train, d2) above LARGE_BLOCK_BYTES is large: its products are computed
# sample-major (X W^T, then transposed), the faster order for thin W, and its reverse pass
# keeps each step's softmax instead of recomputing it (:func:`keeps_softmax`).
GROUP_BYTES = 16 * 2**20
SOFTMAX_BYTES = 64 * 2**20
GPU_SOFTMAX_BYTES = 4 * 2**30
LARGE_BLOCK_BYTES = 2 * 2**20

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


def subset_groups(
    num_subsets: int, block_bytes: int, kept_bytes: int = 0, gpu: bool = False
) -> list[slice]:
    """The groups of consecutive subsets that advance through the inner steps together in the
    weights form: as many as fit in :data:`GROUP_BYTES` by their input blocks
    (``block_bytes`` each; no limit on a GPU) and in :data:`SOFTMAX_BYTES` (on a GPU
    :data:`GPU_SOFTMAX_BYTES`) by what they keep for the reverse pass (``kept_bytes``
    each), and at least one."""
    kept_budget = GPU_SOFTMAX_BYTES if gpu else SOFTMAX_BYTES
    size = kept_budget // max(kept_bytes, 1)
    if not gpu:
        size = min(size, GROUP_BYTES // max(block_bytes, 1))
    size = max(1, min(size, num_subsets))
    return [slice(lo, min(lo + size, num_subsets)) for lo in range(0, num_subsets, size)]


def keeps_softmax(n_train: int, d2: int, itemsize: int = 4) -> bool:
    """Whether the weights form's reverse pass keeps each inner step's softmax (K x n_train
    per classifier) rather than the step's weights (K x d2), from which one product with the
    adjoints recomputes it: the softmax where it is the smaller, or where the block is large
    and a second read of it per step costs more than the memory."""
    return n_train <= d2 or n_train * d2 * itemsize > LARGE_BLOCK_BYTES


def reverse_pass_bytes(
    steps: int, classifiers: int, n_train: int, d2: int, itemsize: int = 4
) -> int:
    """Bytes the weights form's reverse pass keeps for one subset of ``classifiers`` rows
    (runs x K): each inner step's softmax (n_train per row) or its weights and bias (d2 + 1
    per row), as :func:`keeps_softmax` decides."""
    per_row = n_train if keeps_softmax(n_train, d2, itemsize) else d2 + 1
    return steps * classifiers * per_row * itemsize
