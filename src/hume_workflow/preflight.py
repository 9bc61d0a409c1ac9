"""Checks of a config before any job runs: one-line errors that name the key and the value.

Imported by the Snakemake main process when it parses the workflow: stdlib, jsonschema and
this package's torch-free modules only. Model names are checked with timm/torchvision, imported
only while a backbone's embeddings are still to be computed.

Three passes, each stopping at the first problem:

1. :func:`check_schema` (before Snakemake fills the defaults): unknown keys, with the close
   key suggested; wrong types; values out of range; misspelt choices.
2. :func:`check_values` (on the filled config): what one key alone cannot say: pairs naming
   undeclared backbones, runs_per_job against num_runs, top_n against num_runs, K against the
   number of samples and phi1's width. It returns warnings (subset_size capped at N).
3. :func:`check_sources`: files the jobs will need and names they will look up (dataset root,
   checkpoint files, timm/torchvision model names), skipped for outputs that already exist.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import jsonschema
from jsonschema.exceptions import ValidationError, best_match

from hume_workflow.errors import InputError, did_you_mean
from hume_workflow.resources import dataset_samples, feature_dim, fit_samples

FOLDER_SOURCES = ("imagenet", "image_folder")  # read from dataset.root, never downloaded


def check_schema(config: dict, schema: dict) -> None:
    """Raise :class:`InputError` for the most relevant way ``config`` breaks ``schema``.

    Messages read ``config <key path>: <what is wrong>; <what was expected>``.
    """
    validator = jsonschema.Draft202012Validator(schema)
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
    return f"config {key}: {' '.join(error.message.split())}"


def _article(kind: str) -> str:
    return {"integer": "an integer", "object": "a mapping", "array": "a list"}.get(
        kind, "null" if kind == "null" else f"a {kind}"
    )


def check_values(config: dict) -> list[str]:
    """Cross-key checks of a config whose defaults are filled; returns warnings.

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
    num_runs = config["num_runs"]
    runs_per_job = config["compute"]["runs_per_job"]
    if num_runs % runs_per_job:
        raise InputError(
            f"config compute.runs_per_job={runs_per_job}: expected a divisor of num_runs={num_runs}"
        )
    hume = config["hume"]
    if hume["inner_form"] == "gram" and hume["hypergradient"] == "autograd":
        raise InputError(
            "config hume.inner_form='gram': needs hume.hypergradient closed_form or first_order "
            "(autograd unrolls the weights)"
        )
    top_n = config["aggregation"]["top_n"]
    if top_n is not None and top_n > num_runs:
        raise InputError(
            f"config aggregation.top_n={top_n}: expected at most num_runs={num_runs} "
            "(or null to vote over all runs)"
        )
    return _check_sizes(config)


def _check_sizes(config: dict) -> list[str]:
    """K against the samples HUME fits on and phi1's width; subset_size against N."""
    dataset, hume = config["dataset"], config["hume"]
    k = dataset["num_classes"]
    results = Path("results") / dataset["name"]
    data_path = results / "data.h5"
    if dataset["source"] in FOLDER_SOURCES and not data_path.exists():
        return []  # the number of images is known once the folder is scanned
    n_fit = fit_samples(*dataset_samples(dataset, str(data_path)), config["setting"])
    if k > n_fit:
        raise InputError(
            f"config dataset.num_classes={k}: expected at most the {n_fit} samples HUME fits on "
            f"({config['setting']} setting)"
        )
    for i, pair in enumerate(config["pairs"]):
        name = pair["phi1"]
        width = feature_dim(str(results / "embeddings" / f"{name}.h5"))
        width = width or config["backbones"][name].get("pca_dim")
        if width is not None and width < k:
            raise InputError(
                f"config pairs[{i}].phi1={name!r}: its features have {width} dimensions, fewer "
                f"than dataset.num_classes={k}; the task encoder needs at least K"
            )
    if hume["subset_size"] > n_fit:
        return [
            f"config hume.subset_size={hume['subset_size']} is more than the {n_fit} samples "
            f"HUME fits on: each subset holds all {n_fit}"
        ]
    return []


# Options a backbone kind cannot do without.
REQUIRED_OPTIONS = {"timm": ("model",), "torchvision": ("model",), "checkpoint": ("path", "arch")}


def check_sources(config: dict) -> None:
    """Check the files and names that jobs still to run will read, in seconds, up front.

    The dataset root (imagenet, image_folder, local idx folders) is checked while data.h5 is
    missing; a backbone's required options, files and model name while its embeddings are.

    Raises:
        InputError: the first problem found.
    """
    dataset = config["dataset"]
    results = Path("results") / dataset["name"]
    if not (results / "data.h5").exists():
        _check_dataset_root(dataset)
    for name, spec in config["backbones"].items():
        if (results / "embeddings" / f"{name}.h5").exists():
            continue
        key = f"config backbones.{name}"
        for option in REQUIRED_OPTIONS.get(spec["kind"], ()):
            if option not in spec:
                raise InputError(f"{key}: kind {spec['kind']!r} needs the key {option!r}")
        for option in ("path", "weights"):
            value = spec.get(option)
            local = option == "path" or spec["kind"] in ("timm", "efficientnet_lite0")
            if local and value is not None and not os.path.isfile(value):
                raise InputError(f"{key}.{option}={value!r}: file not found")
        model, library = _model_name(spec)
        if model is not None:
            known, names = MODEL_LIBRARIES[library]()
            if not known(model):
                raise InputError(
                    f"{key}: unknown {library} model {model!r}{did_you_mean(model, names())}"
                )


def _check_dataset_root(dataset: dict) -> None:
    source = dataset["source"]
    if source in FOLDER_SOURCES:
        root = Path(dataset["root"])
        if not root.is_dir():
            layout = (
                "train/<wnid>/*.JPEG and val/<wnid>/*.JPEG"
                if source == "imagenet"
                else ("images, in one sub-folder per class or flat")
            )
            raise InputError(
                f"config dataset.root={str(root)!r}: no such folder; expected a folder of {layout}"
            )
        if not any(root.iterdir()):
            raise InputError(f"config dataset.root={str(root)!r}: the folder is empty")
    local_root = dataset.get("local_root")
    if local_root is not None and not Path(local_root).is_dir():
        raise InputError(
            f"config dataset.local_root={local_root!r}: no such folder; expected a folder of "
            "idx files (train-images-idx3-ubyte[.gz], ...)"
        )


def _model_name(spec: dict) -> tuple[str | None, str]:
    """(model name to look up, 'timm' or 'torchvision'), or (None, '') for other kinds."""
    if spec["kind"] in ("timm", "torchvision"):
        return spec["model"], spec["kind"]
    if spec["kind"] == "checkpoint":
        return spec["arch"], spec.get("source", "torchvision")
    return None, ""


def _timm_names() -> tuple[Callable[[str], bool], Callable[[], list[str]]]:
    import timm

    return timm.is_model, timm.list_models


def _torchvision_names() -> tuple[Callable[[str], bool], Callable[[], list[str]]]:
    from torchvision import models

    names = models.list_models(module=models)
    return names.__contains__, lambda: names


MODEL_LIBRARIES = {"timm": _timm_names, "torchvision": _torchvision_names}
