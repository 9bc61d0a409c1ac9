"""The numbers of classes K each task (a HUME pair, a TURTLE task) runs with: one K, or a sweep.

``num_classes`` (of the dataset, or of one task instead) is an integer, a list of integers or
``{min, max, step}`` (min, min + step, ..., max: both ends included, so max - min must be a
multiple of step). Every K of a pair is an ordinary set of runs with its own selection and
vote; the task's result is the K that ``k_choice.criterion`` picks (docs/choosing_k.md); with
one K, that K.
"""

from __future__ import annotations

from hume_workflow.choices import K_CRITERIA, PAIRWISE_K_CRITERIA
from hume_workflow.errors import InputError

Pair = tuple[str, str]


def class_counts(value: int | list[int] | dict, key: str = "dataset.num_classes") -> list[int]:
    """The K values of one ``num_classes`` entry, increasing, each once.

    Raises:
        InputError: a range whose ``min`` is above its ``max``, or whose ``max`` is not
            ``min`` plus a multiple of ``step`` (it would be left out; naming ``key`` and the
            nearest ``max`` values on the step).
    """
    if isinstance(value, int):
        return [value]
    if isinstance(value, dict):
        low, high, step = value["min"], value["max"], value.get("step", 1)
        if low > high:
            raise InputError(f"config {key}: min={low} is above max={high}; expected min <= max")
        if (high - low) % step:
            below = high - (high - low) % step
            raise InputError(
                f"config {key}={value}: max - min = {high - low} is not a multiple of step "
                f"{step}, so max would be left out; use max: {below} or max: {below + step}"
            )
        return list(range(low, high + 1, step))
    return sorted(set(value))


def pair_class_counts(config: dict) -> dict[Pair, list[int]]:
    """{(phi1, phi2): its K values}: the pair's own ``num_classes``, else the dataset's."""
    counts = {}
    for i, pair in enumerate(config["pairs"]):
        key, value = num_classes_entry(config, i)
        counts[pair["phi1"], pair["phi2"]] = class_counts(value, key)
    return counts


def num_classes_entry(config: dict, i: int) -> tuple[str, int | list[int] | dict]:
    """(key, value) of the ``num_classes`` pair ``i`` runs with: its own, else the dataset's."""
    pair = config["pairs"][i]
    if "num_classes" in pair:
        return f"pairs[{i}].num_classes", pair["num_classes"]
    return "dataset.num_classes", config["dataset"]["num_classes"]


def turtle_task_entries(config: dict) -> list[tuple[tuple[str, ...], str, int | list[int] | dict]]:
    """(spaces, key, value) of each TURTLE task (``turtle.tasks[i]``: a list of spaces, or
    ``{spaces, num_classes}``), in order: its spaces and the ``num_classes`` it runs with (its
    own, else the dataset's); none for a config without a ``turtle`` section."""
    tasks = []
    for i, entry in enumerate(config.get("turtle", {}).get("tasks", [])):
        if isinstance(entry, dict) and "num_classes" in entry:
            key, value = f"turtle.tasks[{i}].num_classes", entry["num_classes"]
        else:
            key, value = "dataset.num_classes", config["dataset"]["num_classes"]
        spaces = entry["spaces"] if isinstance(entry, dict) else entry
        tasks.append((tuple(spaces), key, value))
    return tasks


def task_entries(config: dict) -> list[tuple[str, int | list[int] | dict]]:
    """(key, value) of the ``num_classes`` of every task of every method: HUME's pairs, then
    TURTLE's tasks, in the config's order."""
    pairs = [num_classes_entry(config, i) for i in range(len(config["pairs"]))]
    return pairs + [(key, value) for _, key, value in turtle_task_entries(config)]


def check_runs_per_k(config: dict) -> None:
    """Refuse a sweep with one run per K whose ``k_choice.criterion`` compares runs
    (``choices.PAIRWISE_K_CRITERIA``): no K would have a value, so none could be picked. With
    one K per pair nothing is chosen, and any criterion and num_runs will do.

    Raises:
        InputError: naming num_runs, the criterion, the first sweep and the ways out.
    """
    num_runs, criterion = config["num_runs"], config["k_choice"]["criterion"]
    if num_runs >= 2 or criterion not in PAIRWISE_K_CRITERIA:
        return
    for key, value in task_entries(config):
        if len(class_counts(value, key)) > 1:
            one_run = [c for c in K_CRITERIA if c not in PAIRWISE_K_CRITERIA]
            raise InputError(
                f"config num_runs={num_runs} with k_choice.criterion={criterion!r}: {criterion} "
                f"compares the runs of each K, and the sweep {key}={value} would have one run "
                "per K; set num_runs >= 2, or k_choice.criterion to one that works with one "
                f"run: {', '.join(one_run[:-1])} or {one_run[-1]}"
            )
