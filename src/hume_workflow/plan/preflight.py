"""Checks of a config before any job runs: one-line errors that name the key and the value.

Imported by the Snakemake main process when it parses the workflow: stdlib, jsonschema and
this package's torch-free modules only. Model names are checked with timm/torchvision, imported
only when a backbone of that library is configured.

Every check runs whether or not outputs exist: Snakemake deletes a job's old outputs before it
reruns the job, so a value the job would fail on must be refused here, before anything is lost.

Three passes, each stopping at the first problem:

1. :func:`check_schema` (before Snakemake fills the defaults): unknown keys, with the close
   key suggested; wrong types (an integer written 2.0 is not an integer; NaN and infinities
   are not numbers); values out of range; misspelt choices; names matched in full.
2. :func:`check_values` (on the filled config): what one key alone cannot say: pairs naming
   undeclared backbones, runs_per_job against num_runs, top_n against num_runs, the dataset
   name against the dataset its results hold, each backbone's keys against its kind, and the
   sizes of what the config will produce (plan/dataset.py): K against the samples and the
   classes, the test split, pca_dim, phi1's width, the split of a subset; the files of a
   features_only dataset and of precomputed spaces (plan/features.py: headers, labels, ids);
   the K values (plan/sweep.py: a range's step, one run per K for a criterion that compares
   runs, each pair's own K against the classes); the prediction batches (plan/batches.py).
   It returns warnings (subset_size capped at N).
3. :func:`check_sources`: files the jobs will need and names they will look up (dataset root,
   weights and checkpoint files, timm/torchvision model names).
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
from jsonschema.exceptions import ValidationError, best_match

from hume_workflow.data.sources import SOURCES
from hume_workflow.errors import InputError, did_you_mean
from hume_workflow.plan.backbone_kinds import kind_of
from hume_workflow.plan.batches import check_batches
from hume_workflow.plan.dataset import check_identity, planned_data
from hume_workflow.plan.features import check_backbone_options, check_precomputed
from hume_workflow.plan.methods import METHODS, config_tasks
from hume_workflow.plan.resources import feature_dim, fit_samples, image_side
from hume_workflow.plan.sweep import (
    check_runs_per_k,
    class_counts,
    pair_class_counts,
    task_entries,
    turtle_task_entries,
)


def _is_integer(checker: object, instance: object) -> bool:
    """An int, not a bool and not a float such as 2.0 (which JSON Schema would accept)."""
    return isinstance(instance, int) and not isinstance(instance, bool)


def _is_number(checker: object, instance: object) -> bool:
    """A finite int or float: NaN and the infinities compare false with every bound."""
    if isinstance(instance, float):
        return math.isfinite(instance)
    return _is_integer(checker, instance)


def _pattern(validator, pattern: str, instance: object, schema: dict):
    """``pattern`` with ECMA-262's ``$`` (the end of the string), which JSON Schema means:
    Python's ``$`` also matches before a final newline, so 'pixels\\n' would pass."""
    if not isinstance(instance, str):
        return
    ecma = (
        pattern[:-1] + r"\Z" if pattern.endswith("$") and not pattern.endswith(r"\$") else pattern
    )
    if not re.search(ecma, instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


STRICT_VALIDATOR = jsonschema.validators.extend(
    jsonschema.Draft202012Validator,
    validators={"pattern": _pattern},
    type_checker=jsonschema.Draft202012Validator.TYPE_CHECKER.redefine_many(
        {"integer": _is_integer, "number": _is_number}
    ),
)


def check_schema(config: dict, schema: dict) -> None:
    """Raise :class:`InputError` for the most relevant way ``config`` breaks ``schema``.

    Messages read ``config <key path>: <what is wrong>; <what was expected>``.
    """
    validator = STRICT_VALIDATOR(schema)
    error = best_match(validator.iter_errors(config))
    if error is not None:
        raise InputError(_describe(error))


def _key(path: Iterable[Any]) -> str:
    """'hume.num_iters', 'pairs[0].phi1' or '(top level)' for a path into the config."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else f".{part}" if out else str(part)
    return out or "(top level)"


def _describe(error: ValidationError) -> str:
    """One line for one schema violation."""
    key, value, rule = _key(error.absolute_path), error.instance, error.validator
    expected = error.validator_value
    if rule == "additionalProperties" and isinstance(value, dict):
        allowed = sorted(error.schema.get("properties", {}))
        unknown = sorted(set(value) - set(allowed))
        if allowed and unknown:
            where = f"{key}." if error.absolute_path else ""
            return (
                f"config {where}{unknown[0]}: unknown key{did_you_mean(unknown[0], allowed)} "
                f"(expected one of: {', '.join(allowed)})"
            )
    if rule == "required":
        missing = [k for k in expected if k not in value]
        return f"config {key}: missing the required key {missing[0]!r}"
    if rule == "enum":
        suggestion = did_you_mean(str(value), [str(v) for v in expected])
        return (
            f"config {key}={value!r}: expected one of {', '.join(map(str, expected))}{suggestion}"
        )
    if rule == "type":
        kinds = expected if isinstance(expected, list) else [expected]
        return f"config {key}={value!r}: expected {' or '.join(map(_article, kinds))}"
    bounds = {
        "minimum": ">=",
        "maximum": "<=",
        "exclusiveMinimum": ">",
        "exclusiveMaximum": "<",
    }
    if rule in bounds:
        return f"config {key}={value!r}: expected a value {bounds[rule]} {expected}"
    if rule == "pattern":
        what = error.schema.get("description", f"a match of {expected}")
        if "propertyNames" in error.absolute_schema_path:  # a name, not a value
            return f"config {key}: the name {value!r}: expected {what}"
        return f"config {key}={value!r}: expected {what}"
    if rule in ("minItems", "minProperties"):
        return f"config {key}: expected at least {expected} entries, got {len(value)}"
    if rule == "oneOf":
        kinds = [_article(branch.get("type", "value")) for branch in expected]
        return f"config {key}={value!r}: expected {', '.join(kinds[:-1])} or {kinds[-1]}"
    return f"config {key}: {' '.join(error.message.split())}"


def _article(kind: str) -> str:
    return {
        "integer": "an integer",
        "number": "a finite number",
        "object": "a mapping",
        "array": "a list",
    }.get(kind, "null" if kind == "null" else f"a {kind}")


@dataclass(frozen=True)
class PlanFiles:
    """Where the rules put the files the plan looks at (each may not exist yet)."""

    data: Path  # the dataset's data.h5
    embedding: Callable[[str], Path]  # backbone name -> its embedding file


#: A method's plan-time checks of its config: (config, samples it fits on) -> warnings.
MethodCheck = Callable[[dict, int], list[str]]


def check_values(
    config: dict, files: PlanFiles, method_checks: Sequence[MethodCheck] = ()
) -> list[str]:
    """Cross-key checks of a config whose defaults are filled; returns warnings.

    ``files``: where the existing outputs are, read for what they already hold.
    ``method_checks``: the methods' checks of their config sections (e.g.
    :func:`hume_workflow.hume.checks.check_hume`), given the samples the runs fit on.

    Raises:
        InputError: the first problem found.
    """
    backbones, pairs = config["backbones"], config["pairs"]
    for i, pair in enumerate(pairs):
        for role in ("phi1", "phi2"):
            name = pair[role]
            if name not in backbones:
                raise InputError(
                    f"config pairs[{i}].{role}={name!r}: not declared under 'backbones'"
                    f"{did_you_mean(name, list(backbones))} (declared: {', '.join(backbones)})"
                )
        if pair["phi1"] == pair["phi2"]:
            raise InputError(
                f"config pairs[{i}]: phi1 and phi2 are both {pair['phi1']!r}; expected two spaces"
            )
    _check_turtle_tasks(config)
    num_runs = config["num_runs"]
    runs_per_job = config["compute"]["runs_per_job"]
    if num_runs % runs_per_job:
        raise InputError(
            f"config compute.runs_per_job={runs_per_job}: expected a divisor of num_runs={num_runs}"
        )
    check_backbone_options(config)
    top_n = config["aggregation"]["top_n"]
    if top_n is not None and top_n > num_runs:
        raise InputError(
            f"config aggregation.top_n={top_n}: expected at most num_runs={num_runs} "
            "(or null to vote over all runs)"
        )
    warnings = _check_sizes(config, files, method_checks)
    check_batches(config, files.embedding)  # predict.batches, once the dataset is known
    return warnings


def _check_turtle_tasks(config: dict) -> None:
    """Each TURTLE task's spaces are declared backbones, each once; no task twice; and the
    config runs at least one task (a HUME pair or a TURTLE task).

    Raises:
        InputError: naming ``turtle.tasks[i]`` and the space.
    """
    backbones, seen = config["backbones"], {}
    for i, (spaces, _, _) in enumerate(turtle_task_entries(config)):
        for name in spaces:
            if name not in backbones:
                raise InputError(
                    f"config turtle.tasks[{i}]: {name!r} is not declared under 'backbones'"
                    f"{did_you_mean(name, list(backbones))} (declared: {', '.join(backbones)})"
                )
        repeated = sorted({name for name in spaces if spaces.count(name) > 1})
        if repeated:
            raise InputError(
                f"config turtle.tasks[{i}]={list(spaces)}: {repeated[0]!r} is listed twice; "
                "expected each space once"
            )
        if spaces in seen:
            raise InputError(
                f"config turtle.tasks[{i}]={list(spaces)}: the same task as "
                f"turtle.tasks[{seen[spaces]}]; expected each task once"
            )
        seen[spaces] = i
    if not config["pairs"] and not seen:
        raise InputError(
            "config pairs and turtle.tasks are both empty: expected at least one HUME pair "
            "({phi1, phi2}) or one TURTLE task (a list of backbones)"
        )


def _check_sizes(config: dict, files: PlanFiles, method_checks: Sequence[MethodCheck]) -> list[str]:
    """The K values (a range's step, one run per K for a criterion that compares runs), then
    the sizes of what the config will produce (plan/dataset.py), never a stale file's:
    K against the samples HUME fits on and the dataset's classes, the test split, pca_dim
    against the samples and the width, phi1's width against K; then ``method_checks`` with
    the number of samples the runs fit on."""
    dataset, setting = config["dataset"], config["setting"]
    counts = pair_class_counts(config)
    check_runs_per_k(config)
    k = max(max(class_counts(value, key)) for key, value in task_entries(config))
    data_path = files.data
    _check_dataset_root(dataset)  # a typo in dataset.root is named as such, first
    check_identity(dataset, data_path)
    data = planned_data(dataset, data_path)
    n_fit = fit_samples(data.n_train, data.n_test, setting)
    if k > n_fit:
        raise InputError(
            f"config {_k_key(config, k)}: expected at most the {n_fit} samples the runs fit on "
            f"({setting} setting)"
        )
    if data.num_classes is not None:
        _check_classes(config, data.num_classes, data.where)
    if data.n_test == 0 or data.n_train == 0:
        empty = "test" if data.n_test == 0 else "train"
        raise InputError(
            f"config dataset.test_fraction={dataset['test_fraction']}: leaves the {empty} split "
            f"of {data.where} empty ({data.n_train} train, {data.n_test} test samples); "
            "expected samples in both"
        )
    widths = {
        name: _planned_width(name, spec, dataset, files.embedding(name), data.n_train)
        for name, spec in config["backbones"].items()
    }
    for i, pair in enumerate(config["pairs"]):
        name, pair_k = pair["phi1"], max(counts[pair["phi1"], pair["phi2"]])
        if widths[name] is not None and widths[name] < pair_k:
            raise InputError(
                f"config pairs[{i}].phi1={name!r}: its features have {widths[name]} dimensions, "
                f"fewer than {_k_key(config, pair_k)}; the task encoder needs at least K"
            )
    return [warning for check in method_checks for warning in check(config, n_fit)]


def _check_classes(config: dict, num_classes: int, where: str) -> None:
    """The single K of every task (HUME pair, TURTLE task) against a labelled dataset's
    ``num_classes`` classes (counted from ``where``), named by the key it comes from (the
    task's own num_classes,
    else the dataset's); a sweep is not checked.

    Raises:
        InputError: the first task whose one K is not the number of classes.
    """
    for key, value in task_entries(config):
        ks = class_counts(value, key)
        if len(ks) == 1 and ks[0] != num_classes:
            raise InputError(
                f"config {key}={ks[0]} but {where} has {num_classes} classes; "
                f"set {key}: {num_classes}"
            )


def _k_key(config: dict, k: int) -> str:
    """``<key>=<value>`` of the first num_classes entry a task runs with that asks for ``k``
    (the task's own, else the dataset's), followed by `` (K=<k>)`` when it is a sweep."""
    key, value = next((key, v) for key, v in task_entries(config) if k in class_counts(v))
    return f"{key}={value}" + ("" if value == k else f" (K={k})")


def _planned_width(
    name: str, spec: dict, dataset: dict, embedding: Path, n_train: int
) -> int | None:
    """Width of a backbone's features, where the config or its ``embedding`` file tells it
    (else None).

    Raises:
        InputError: a ``pca_dim`` above the train samples PCA is fitted on, or above the
            width of the raw pixels or of the precomputed features; a precomputed space's
            files that do not fit the dataset (:func:`check_precomputed`).
    """
    native, values = None, "pixel values"
    cost = kind_of(spec).cost
    if cost == "pixels":
        side = spec.get("image_size") or image_side(dataset)
        native = side * side * SOURCES[dataset["source"]].channels
    if cost == "files":
        native, values = check_precomputed(name, spec, dataset), "columns of its features"
    pca_dim = spec.get("pca_dim")
    if pca_dim is None:
        return native or feature_dim(str(embedding))
    for limit, what in ((n_train, "train samples PCA is fitted on"), (native, values)):
        if limit is not None and pca_dim > limit:
            raise InputError(
                f"config backbones.{name}.pca_dim={pca_dim}: expected at most the {limit} "
                f"{what}; lower pca_dim"
            )
    return pca_dim


def check_sources(config: dict) -> None:
    """Check the files and names that the jobs will read, in seconds, up front.

    Every backbone's required options, files and model name, whether or not its
    embeddings exist (the dataset root is checked with the sizes, by :func:`check_values`).

    Raises:
        InputError: the first problem found.
    """
    for name, spec in config["backbones"].items():
        key, kind = f"config backbones.{name}", kind_of(spec)
        for option in kind.required:
            if option not in spec:
                raise InputError(f"{key}: kind {kind.name!r} needs the key {option!r}")
        for option in ("path", "weights") if kind.local_weights else ("path",):
            value = spec.get(option)
            if value is not None and not os.path.isfile(value):
                raise InputError(f"{key}.{option}={value!r}: file not found")
        looked_up = kind.model_name(spec)
        if looked_up is not None:
            model, library = looked_up
            known, names = MODEL_LIBRARIES[library]()
            if not known(model):
                raise InputError(
                    f"{key}: unknown {library} model {model!r}{did_you_mean(model, names())}"
                )


def _check_dataset_root(dataset: dict) -> None:
    source = SOURCES[dataset["source"]]
    if source.reads == "folder":
        root = Path(dataset["root"])
        if not root.is_dir():
            raise InputError(
                f"config dataset.root={str(root)!r}: no such folder; expected a folder of "
                f"{source.layout}"
            )
        if not any(root.iterdir()):
            raise InputError(f"config dataset.root={str(root)!r}: the folder is empty")
    local_root = dataset.get("local_root")
    if local_root is not None and not Path(local_root).is_dir():
        raise InputError(
            f"config dataset.local_root={local_root!r}: no such folder; expected a folder of "
            "idx files (train-images-idx3-ubyte[.gz], ...)"
        )


def _timm_names() -> tuple[Callable[[str], bool], Callable[[], list[str]]]:
    import timm

    return timm.is_model, timm.list_models


def _torchvision_names() -> tuple[Callable[[str], bool], Callable[[], list[str]]]:
    from torchvision import models

    names = models.list_models(module=models)
    return names.__contains__, lambda: names


MODEL_LIBRARIES = {"timm": _timm_names, "torchvision": _torchvision_names}


def describe_config(config: dict, schema: dict, configfiles: Iterable[str]) -> str:
    """One line for the log of a plan: the config files, the dataset, the spaces, and per
    method its tasks and the hyperparameters that differ from the schema's defaults (the
    paper's), so that what will run is visible before it runs."""
    dataset, tasks = config["dataset"], config_tasks(config)
    ks = sorted({k for task in tasks for k in task.ks})
    k_text = f"K={ks[0]}" if len(ks) == 1 else f"K in {{{', '.join(map(str, ks))}}}"
    parts = [
        f"Config: {' + '.join(map(_shown, configfiles)) or 'none'} + the schema's defaults",
        f"dataset {dataset['name']!r} ({dataset['source']}, {k_text}, {config['setting']})",
        f"backbones {', '.join(config['backbones'])}",
    ]
    for method in METHODS.values():
        own = [task for task in tasks if task.method == method.name]
        if not own:
            continue
        runs = f"{len(own)} {method.task_noun} x {config['num_runs']} runs"
        if len(ks) > 1:
            n_runs = sum(len(task.ks) for task in own) * config["num_runs"]
            runs += f" per K ({n_runs} runs; K picked by {config['k_choice']['criterion']})"
        properties = schema["properties"][method.section]["properties"]
        defaults = {key: value.get("default") for key, value in properties.items()}
        changed = [
            f"{key}={value} (paper: {defaults[key]})"
            for key, value in config[method.section].items()
            if value != defaults.get(key) and key != "tasks"  # turtle.tasks: not a hyperparameter
        ]
        except_ = f" except {', '.join(changed)}" if changed else ""
        parts += [runs, f"{method.title}: the paper's hyperparameters{except_}"]
    return "; ".join(parts)


def _shown(path: str | os.PathLike) -> str:
    """``path`` relative to the working directory when it lies under it, else as given."""
    relative = os.path.relpath(path)
    return str(path) if relative.startswith("..") else relative
