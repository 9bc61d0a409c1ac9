"""The numbers of classes K each pair of spaces runs with: one K, or a sweep over several.

``num_classes`` (of the dataset, or of one pair instead) is an integer, a list of integers or
``{min, max, step}`` (both ends included). Every K of a pair is an ordinary set of runs with
its own selection and vote; the pair's result is the K that ``k_choice.criterion`` picks
(docs/choosing_k.md).
"""

from __future__ import annotations

from hume_workflow.errors import InputError

Pair = tuple[str, str]


def class_counts(value: int | list[int] | dict, key: str = "dataset.num_classes") -> list[int]:
    """The K values of one ``num_classes`` entry, increasing, each once.

    Raises:
        InputError: a range whose ``min`` is above its ``max`` (naming ``key``).
    """
    if isinstance(value, int):
        return [value]
    if isinstance(value, dict):
        low, high, step = value["min"], value["max"], value.get("step", 1)
        if low > high:
            raise InputError(f"config {key}: min={low} is above max={high}; expected min <= max")
        return list(range(low, high + 1, step))
    return sorted(set(value))


def pair_class_counts(config: dict) -> dict[Pair, list[int]]:
    """{(phi1, phi2): its K values}: the pair's own ``num_classes``, else the dataset's."""
    counts = {}
    for i, pair in enumerate(config["pairs"]):
        if "num_classes" in pair:
            ks = class_counts(pair["num_classes"], f"pairs[{i}].num_classes")
        else:
            ks = class_counts(config["dataset"]["num_classes"])
        counts[pair["phi1"], pair["phi2"]] = ks
    return counts


def single_k(config: dict) -> int | None:
    """The one K of a config whose pairs all run the same single K; None for a sweep."""
    values = {tuple(ks) for ks in pair_class_counts(config).values()}
    if len(values) == 1 and len(ks := next(iter(values))) == 1:
        return ks[0]
    return None
