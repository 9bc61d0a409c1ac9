"""One home per fact: the JSON schema and the code agree on every default and allowed value.

The config dataclasses (``HumeConfig``, ``TurtleConfig``, ``ScoreConfig``, ``EmbedSettings``)
hold the defaults and, as ``Literal`` types, the allowed values in code; the schema
(workflow/schemas/config.schema.yaml) holds them for Snakemake, which fills a config from it.
These tests compare the two field by field, so that neither can drift, and check that the
modules the Snakemake main process imports stay torch-free.
"""

from __future__ import annotations

import dataclasses
import inspect
import subprocess
import sys
import typing
from pathlib import Path

import pytest
import yaml

import hume_workflow
from hume_workflow.aggregate.weights import VOTE_WEIGHTS
from hume_workflow.choices import (
    ENCODER_INITS,
    HYPERGRADIENTS,
    INNER_LR_MODES,
    K_CRITERIA,
    SCORE_BACKENDS,
)
from hume_workflow.data.setting import SETTINGS
from hume_workflow.data.sources import SOURCES
from hume_workflow.embed.settings import PRECISIONS, EmbedSettings
from hume_workflow.hume.config import HumeConfig, ScoreConfig, field_defaults
from hume_workflow.hume.inner_forms import INNER_FORMS
from hume_workflow.plan.backbone_kinds import KINDS, MODEL_ZOOS
from hume_workflow.predict.assign import PREDICT_METHODS
from hume_workflow.report.uncertainty import Bootstrap
from hume_workflow.turtle.config import TurtleConfig, hyperparameters

PACKAGE = Path(hume_workflow.__file__).parent
SCHEMA_PATH = PACKAGE.parents[1] / "workflow" / "schemas" / "config.schema.yaml"


@pytest.fixture(scope="module")
def schema() -> dict:
    return yaml.safe_load(SCHEMA_PATH.read_text())


def _properties(schema: dict, section: str) -> dict:
    """The ``properties`` of a config section: 'hume', 'turtle', 'score' or 'backbones' (one
    spec)."""
    node = schema["properties"][section]
    if section == "backbones":
        node = node["additionalProperties"]
    return node["properties"]


def _plain(value: object) -> object:
    """Tuples as the lists YAML writes them."""
    return list(value) if isinstance(value, tuple) else value


def _drift(cls: type, properties: dict) -> list[str]:
    """'<field>: ...' for each field of ``cls`` whose default or allowed values differ from
    its schema property's (a field without a property, such as num_classes, is skipped)."""
    hints = typing.get_type_hints(cls)
    drifted = []
    for field in dataclasses.fields(cls):
        prop = properties.get(field.name)
        if prop is None:
            continue
        if field.default is not dataclasses.MISSING:
            # a property without a default leaves the key out: the dataclass's None
            expected = prop.get("default")
            if _plain(field.default) != expected:
                drifted.append(f"{field.name}: default {field.default!r}, schema {expected!r}")
        hint = hints[field.name]
        allowed = list(typing.get_args(hint)) if typing.get_origin(hint) is typing.Literal else None
        if allowed != prop.get("enum"):
            drifted.append(f"{field.name}: Literal {allowed}, schema enum {prop.get('enum')}")
    return drifted


@pytest.mark.parametrize(
    ("cls", "section"),
    [
        (HumeConfig, "hume"),
        (TurtleConfig, "turtle"),
        (ScoreConfig, "score"),
        (EmbedSettings, "backbones"),
        (Bootstrap, "uncertainty"),
    ],
)
def test_schema_defaults_and_enums_are_the_dataclass_ones(schema, cls, section):
    drifted = _drift(cls, _properties(schema, section))
    assert not drifted, f"schema {section} and {cls.__name__} differ: " + "; ".join(drifted)


@pytest.mark.parametrize(
    ("cls", "section", "not_fields"),
    [
        (HumeConfig, "hume", set()),
        (TurtleConfig, "turtle", {"tasks"}),  # the tasks decide which runs, not how
        (ScoreConfig, "score", set()),
        (Bootstrap, "uncertainty", set()),
    ],
)
def test_every_schema_key_of_a_section_is_a_field(schema, cls, section, not_fields):
    """run_hume.py and run_turtle.py pass the filled section (TURTLE's without its tasks) to
    the dataclass as keyword arguments."""
    fields = {field.name for field in dataclasses.fields(cls)}
    properties = set(_properties(schema, section))
    assert not_fields <= properties and not not_fields & fields
    assert sorted(properties - fields) == sorted(not_fields)


def test_the_turtle_section_filled_by_the_schema_is_the_default_config(schema):
    """The schema's defaults of the ``turtle`` section, tasks left out, make TurtleConfig's
    defaults; a task list changes nothing of a run's hyperparameters."""
    section = {key: prop["default"] for key, prop in _properties(schema, "turtle").items()}
    assert section.pop("tasks") == []
    assert TurtleConfig.from_config(10, section) == TurtleConfig(num_classes=10)
    with_tasks = {**section, "tasks": [["a", "b"], ["a"]]}
    assert hyperparameters(with_tasks) == section
    assert TurtleConfig.from_config(10, with_tasks) == TurtleConfig(num_classes=10)


def test_dataclass_defaults_are_valid_and_fill_a_partial_section():
    HumeConfig(num_classes=2)
    TurtleConfig(num_classes=2)
    ScoreConfig()
    assert field_defaults(ScoreConfig) == {"n_folds": 10, "max_iter": 100, "backend": "sklearn"}
    assert "num_classes" not in field_defaults(HumeConfig)  # no default: dataset.num_classes
    assert "num_classes" not in field_defaults(TurtleConfig)


def test_enums_outside_the_dataclasses_are_the_schema_ones(schema):
    spec = _properties(schema, "backbones")
    pairs = {
        "setting": (SETTINGS, schema["properties"]["setting"]["enum"]),
        "dataset.source": (
            SOURCES,
            schema["properties"]["dataset"]["properties"]["source"]["enum"],
        ),
        "backbones.<name>.kind": (KINDS, spec["kind"]["enum"]),
        "backbones.<name>.source": (MODEL_ZOOS, spec["source"]["enum"]),
        "backbones.<name>.precision": (PRECISIONS, spec["precision"]["enum"]),
        "hume.hypergradient": (
            HYPERGRADIENTS,
            _properties(schema, "hume")["hypergradient"]["enum"],
        ),
        "hume.inner_form": (INNER_FORMS, _properties(schema, "hume")["inner_form"]["enum"]),
        "hume.inner_lr_mode": (
            INNER_LR_MODES,
            _properties(schema, "hume")["inner_lr_mode"]["enum"],
        ),
        "hume.encoder_init": (
            ENCODER_INITS,
            _properties(schema, "hume")["encoder_init"]["enum"],
        ),
        "score.backend": (SCORE_BACKENDS, _properties(schema, "score")["backend"]["enum"]),
        "aggregation.weights": (
            VOTE_WEIGHTS,
            _properties(schema, "aggregation")["weights"]["enum"],
        ),
        "k_choice.criterion": (K_CRITERIA, _properties(schema, "k_choice")["criterion"]["enum"]),
        "predict.method": (PREDICT_METHODS, _properties(schema, "predict")["method"]["enum"]),
    }
    drifted = [
        f"{key}: code {list(code)}, schema {enum}"
        for key, (code, enum) in pairs.items()
        if list(code) != enum
    ]
    assert not drifted, "; ".join(drifted)


def test_reliable_agreement_default_is_the_exports(schema):
    from hume_workflow.aggregate.export import DEFAULT_RELIABLE_AGREEMENT

    prop = _properties(schema, "export")["reliable_agreement"]
    assert prop["default"] == DEFAULT_RELIABLE_AGREEMENT


def test_extraction_keys_are_kind_and_the_embed_settings():
    """embed/pipeline.py passes a spec's other keys to the backbone's class."""
    from hume_workflow.plan.backbone_kinds import EXTRACTION_KEYS

    fields = tuple(field.name for field in dataclasses.fields(EmbedSettings))
    assert EXTRACTION_KEYS == ("kind", *fields)


def test_model_zoos_checkpoint_source_and_precisions_are_the_code_ones():
    from hume_workflow.embed.extract import AUTOCAST_DTYPES
    from hume_workflow.models.zoo import CheckpointBackbone
    from hume_workflow.plan.backbone_kinds import CHECKPOINT_SOURCE
    from hume_workflow.plan.preflight import MODEL_LIBRARIES

    assert set(MODEL_LIBRARIES) == set(MODEL_ZOOS)
    assert inspect.signature(CheckpointBackbone).parameters["source"].default == CHECKPOINT_SOURCE
    assert set(AUTOCAST_DTYPES) == set(PRECISIONS)


def test_unknown_score_backend_is_refused_in_one_line():
    import numpy as np

    from hume_workflow.errors import InputError
    from hume_workflow.hume.score import generalisation_score

    phi2, labels = np.zeros((4, 2)), np.array([0, 1, 0, 1])
    for call in (
        lambda: generalisation_score(phi2, labels, backend="troch"),
        lambda: ScoreConfig(backend="troch"),
    ):
        with pytest.raises(InputError) as error:
            call()
        assert str(error.value) == (
            "config score.backend='troch': expected one of sklearn, torch; did you mean 'torch'?"
        )


def test_gram_with_autograd_is_refused_by_the_one_check():
    from hume_workflow.errors import InputError
    from hume_workflow.hume.inner_forms import pick_inner_form

    for call in (
        lambda: HumeConfig(num_classes=2, inner_form="gram", hypergradient="autograd"),
        lambda: pick_inner_form("gram", "autograd", 100, 100, 0.9, 10),
    ):
        with pytest.raises(InputError, match=r"^config hume.inner_form='gram': needs hume\."):
            call()
    assert pick_inner_form("auto", "autograd", 100, 100, 0.9, 10) == "weights"


def _plan_modules() -> list[str]:
    """Every module of the plan sub-package, by listing its files."""
    return sorted(
        "hume_workflow.plan" + ("" if path.stem == "__init__" else f".{path.stem}")
        for path in (PACKAGE / "plan").glob("*.py")
    )


@pytest.mark.parametrize(
    "module",
    [
        *_plan_modules(),
        "hume_workflow.hume.config",
        "hume_workflow.embed.settings",
        "hume_workflow.turtle.config",
        "hume_workflow.turtle.resources",
    ],
)
def test_planner_modules_do_not_import_torch(module):
    """The Snakemake main process imports these to check configs and size jobs."""
    code = f"import sys, {module}; assert 'torch' not in sys.modules, sorted(sys.modules)"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, f"{module} imports torch: {proc.stderr[-500:]}"
