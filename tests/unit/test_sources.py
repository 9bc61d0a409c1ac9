"""One record per dataset source (data/sources.py) and per backbone kind
(plan/backbone_kinds.py): the loaders, the builders, the schema and the Literals name the
same sources and kinds, and each record agrees with the code it stands for."""

from __future__ import annotations

import inspect
import typing
from pathlib import Path

import numpy as np
import pytest
import yaml

import hume_workflow
from hume_workflow.data.sources import FEATURES_ONLY, SOURCES, DatasetSource
from hume_workflow.plan.backbone_kinds import (
    IMAGE_KINDS,
    KINDS,
    MODEL_ZOOS,
    PRECOMPUTED,
    BackboneKind,
)

SCHEMA_PATH = Path(hume_workflow.__file__).parents[2] / "workflow/schemas/config.schema.yaml"


@pytest.fixture(scope="module")
def schema() -> dict:
    return yaml.safe_load(SCHEMA_PATH.read_text())


def test_sources_literal_and_schema_name_the_same_sources(schema):
    enum = schema["properties"]["dataset"]["properties"]["source"]["enum"]
    assert list(typing.get_args(DatasetSource)) == list(SOURCES) == enum
    assert all(name == source.name for name, source in SOURCES.items())


def test_every_source_has_a_loader_and_every_loader_a_source():
    from hume_workflow.data.prepare import LOADERS

    assert list(LOADERS) == list(SOURCES)


def test_prepare_dataset_dispatches_each_source_to_its_loader(monkeypatch):
    from hume_workflow.data import prepare
    from hume_workflow.formats.dataset import ImageDataset

    called = []

    def stub(name):
        def load(*args, **kwargs):
            called.append(name)
            one = np.zeros(1, np.int64)
            return ImageDataset(name, np.zeros((1, 1, 1, 1), np.uint8), one, one, ["a"])

        return load

    for name, value in vars(prepare).copy().items():
        if name.startswith("load_") and callable(value):
            monkeypatch.setattr(prepare, name, stub(name))
    for source in SOURCES:
        prepare.prepare_dataset(source)
    assert len(called) == len(set(called)) == len(SOURCES)


def test_source_records_are_complete():
    """The plan counts each source one way: published sizes and classes, a folder's scan,
    or file headers; an image source stores gray or RGB images of a known side."""
    for source in SOURCES.values():
        published = source.reads in ("bundled", "download")
        assert (source.sizes is not None and source.classes is not None) or not published
        assert source.side is not None or not published, source.name
        assert (source.layout is not None) == (source.reads == "folder"), source.name
        assert source.channels in (1, 3)
        if source.random_split and source.sizes is not None:
            assert source.sizes[1] == 0, f"{source.name}: a drawn split holds all as train"
    assert SOURCES[FEATURES_ONLY].reads == "files"


def test_kinds_literal_and_schema_name_the_same_kinds(schema):
    spec = schema["properties"]["backbones"]["additionalProperties"]["properties"]
    assert list(typing.get_args(BackboneKind)) == list(KINDS) == spec["kind"]["enum"]
    assert all(name == kind.name for name, kind in KINDS.items())
    assert [name for name, kind in KINDS.items() if not kind.embeds_images] == [PRECOMPUTED]


def test_every_image_kind_has_a_class_and_every_class_a_kind():
    from hume_workflow.models.registry import BACKBONE_CLASSES

    assert list(BACKBONE_CLASSES) == list(IMAGE_KINDS)


@pytest.mark.parametrize("name", IMAGE_KINDS)
def test_kind_record_matches_its_class(name):
    """The record's required options are the class's keyword arguments without a default;
    the options it names are ones the class takes."""
    from hume_workflow.models.registry import BACKBONE_CLASSES

    kind = KINDS[name]
    parameters = inspect.signature(BACKBONE_CLASSES[name]).parameters
    required = tuple(n for n, p in parameters.items() if p.default is p.empty)
    assert kind.required == required
    named = [kind.model_option] if kind.model_option else []
    named += ["weights"] if kind.local_weights else []
    assert set(named) <= set(parameters)
    if kind.library is None and kind.model_option is not None:
        assert "source" in parameters  # the zoo comes from the spec
    assert kind.library is None or kind.library in MODEL_ZOOS


def test_model_name_reads_the_kinds_option_and_library():
    assert KINDS["timm"].model_name({"model": "resnet18"}) == ("resnet18", "timm")
    assert KINDS["checkpoint"].model_name({"arch": "resnet50"}) == ("resnet50", "torchvision")
    checkpoint = {"arch": "resnet50", "source": "timm"}
    assert KINDS["checkpoint"].model_name(checkpoint) == ("resnet50", "timm")
    assert KINDS["pixels"].model_name({}) is None
    assert KINDS["torchvision"].model_name({}) is None  # missing: the required check names it
