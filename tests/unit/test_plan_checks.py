"""Plan-time checks use what the config will produce, whether or not outputs exist.

Each case builds a config (its defaults filled as the workflow fills them) in an empty
working directory, sometimes next to a results/ folder an earlier config left, and asserts
the one-line refusal of :func:`check_values`/:func:`check_schema` before any job would run.
"""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import yaml
from snakemake.utils import validate
from tiny_workflow import REPO, TINY, plan_files

from hume_workflow.data.digits import load_sklearn_digits
from hume_workflow.data.prepare import prepare_dataset
from hume_workflow.data.sources import SOURCES
from hume_workflow.errors import InputError
from hume_workflow.formats.dataset import ImageDataset, write_dataset
from hume_workflow.hume.checks import check_hume
from hume_workflow.plan.dataset import dataset_identity, planned_data
from hume_workflow.plan.preflight import check_schema, check_sources, check_values

SCHEMA_PATH = REPO / "workflow/schemas/config.schema.yaml"
SCHEMA = yaml.safe_load(SCHEMA_PATH.read_text())


def filled(config: dict) -> dict:
    """``config`` checked against the schema and with its defaults, as common.smk does."""
    config = copy.deepcopy(config)
    check_schema(config, SCHEMA)
    validate(config, schema=str(SCHEMA_PATH))
    return config


def with_dataset(**keys) -> dict:
    out = copy.deepcopy(TINY)
    out["dataset"] = keys
    return out


@pytest.fixture(autouse=True)
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def refusal(config: dict) -> str:
    with pytest.raises(InputError) as caught:
        check_values(filled(config), plan_files(config), [check_hume])
    message = str(caught.value)
    assert "\n" not in message
    return message


def write_digits(path, max_samples: int | None, identity: dict | None) -> None:
    """A data.h5 of the first ``max_samples`` digits (all 1,797 when None)."""
    digits = load_sklearn_digits()
    keep = slice(None, max_samples)
    dataset = ImageDataset(
        "tiny",
        digits.images[keep],
        digits.labels[keep],
        digits.split[keep],
        digits.class_names,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    write_dataset(path, dataset, identity)


def test_published_sizes_and_classes_cover_the_same_sources():
    published = {name for name, source in SOURCES.items() if source.sizes is not None}
    assert published == {name for name, source in SOURCES.items() if source.classes is not None}
    # the user's own data is counted from its files: a folder's scan, feature files' headers
    assert published == set(SOURCES) - {"image_folder", "features_only"}


def test_a_dataset_name_holds_one_dataset(in_tmp):
    """An earlier config's data.h5 (300 digits) and a config asking for 200 under one name."""
    data = in_tmp / "results/tiny/data.h5"
    write_digits(data, 300, dataset_identity(filled(TINY)["dataset"]))
    check_values(filled(TINY), plan_files(TINY), [check_hume])  # the same config: accepted
    message = refusal(with_dataset(**TINY["dataset"] | {"max_samples": 200}))
    assert message == (
        "config dataset.max_samples=200: results/tiny/data.h5 was made with max_samples=300, "
        "and one dataset.name holds one dataset; pick a new dataset.name, or delete "
        "results/tiny/ to start that dataset over"
    )
    other_source = with_dataset(name="tiny", source="mnist", num_classes=10)
    assert refusal(other_source).startswith("config dataset.max_samples=None: ")
    # K is not part of the data: a new K is checked against the data, not refused as new data
    assert refusal(with_dataset(**TINY["dataset"] | {"num_classes": 7})).startswith(
        "config dataset.num_classes=7 but results/tiny/data.h5 has 10 classes"
    )


def test_checks_read_what_the_config_will_produce_not_a_stale_file(in_tmp):
    """data.h5 of all 1,797 digits from an earlier config without a record of it; the
    config now keeps 20 samples: K=25 is refused against the 20, not accepted against 1,797."""
    write_digits(in_tmp / "results/tiny/data.h5", None, None)
    config = with_dataset(name="tiny2", source="sklearn_digits", num_classes=25, max_samples=20)
    config["setting"] = "transductive"
    assert refusal(config).startswith(
        "config dataset.num_classes=25: expected at most the 20 samples the runs fit on"
    )
    data = planned_data(filled(config)["dataset"], in_tmp / "results/tiny2/data.h5")
    assert (data.n_train + data.n_test, data.num_classes) == (20, 10)


@pytest.mark.parametrize(
    ("source", "k", "classes"), [("cifar10", 12, 10), ("cifar100_20", 100, 20), ("stl10", 9, 10)]
)
def test_k_against_the_classes_of_a_source(source, k, classes):
    message = refusal(with_dataset(name="d", source=source, num_classes=k, download=True))
    assert message == (
        f"config dataset.num_classes={k} but dataset source {source!r} has {classes} classes; "
        f"set dataset.num_classes: {classes}"
    )


def image_folder(root, classes: int, per_class: int) -> None:
    from PIL import Image

    for c in range(classes):
        (root / f"class{c}").mkdir(parents=True)
        for i in range(per_class):
            Image.new("L", (4, 4), 40 * c + i).save(root / f"class{c}" / f"{i}.png")


def test_k_against_the_class_folders_before_any_image_is_read(in_tmp):
    image_folder(in_tmp / "photos", classes=3, per_class=4)
    config = with_dataset(name="photos", source="image_folder", num_classes=2, root="photos")
    assert refusal(config) == (
        "config dataset.num_classes=2 but the images under dataset.root='photos' has 3 "
        "classes; set dataset.num_classes: 3"
    )
    config["dataset"]["num_classes"] = 3
    config["setting"] = "transductive"
    config["hume"] |= {"subset_size": 12}
    check_values(filled(config), plan_files(config), [check_hume])


def test_a_pair_s_own_k_against_the_classes_is_refused_naming_the_pair(in_tmp):
    """A single K of one pair is checked against the dataset's classes and named by its own
    key, whether the other pairs run the same K or another; a pair's sweep is not checked."""
    image_folder(in_tmp / "photos", classes=5, per_class=4)
    config = with_dataset(name="photos", source="image_folder", num_classes=5, root="photos")
    config["setting"] = "transductive"
    config["hume"] |= {"subset_size": 20}
    config["pairs"][0]["num_classes"] = 3
    assert refusal(config) == (
        "config pairs[0].num_classes=3 but the images under dataset.root='photos' has 5 "
        "classes; set pairs[0].num_classes: 5"
    )
    config["pairs"][1]["num_classes"] = 3  # every pair at K=3
    assert refusal(config).startswith("config pairs[0].num_classes=3 but ")
    config["pairs"][0]["num_classes"] = 5
    assert refusal(config).startswith("config pairs[1].num_classes=3 but ")
    config["pairs"][1]["num_classes"] = [3, 5]
    check_values(filled(config), plan_files(config), [check_hume])
    digits = copy.deepcopy(TINY)  # the 10 classes of digits
    digits["pairs"][1]["num_classes"] = 3
    assert refusal(digits) == (
        "config pairs[1].num_classes=3 but dataset source 'sklearn_digits' has 10 classes; "
        "set pairs[1].num_classes: 10"
    )


def test_k_against_the_images_of_a_folder_after_max_samples(in_tmp):
    image_folder(in_tmp / "photos", classes=3, per_class=5)
    config = with_dataset(
        name="photos", source="image_folder", num_classes=3, root="photos", max_samples=10
    )
    config["setting"] = "inductive"
    # the train samples of the data stage's own dataset: 10 of the 15 images, minus the test
    prepared = prepare_dataset("image_folder", max_samples=10, root="photos", image_size=4)
    n_train = int((prepared.split == 0).sum())
    assert 0 < n_train < 10
    config["backbones"]["pixels"] |= {"pca_dim": n_train + 1}
    assert refusal(config) == (
        f"config backbones.pixels.pca_dim={n_train + 1}: expected at most the {n_train} train "
        "samples PCA is fitted on; lower pca_dim"
    )
    config["backbones"]["pixels"] |= {"pca_dim": n_train}
    check_values(filled(config), plan_files(config), [check_hume])


def test_pca_dim_against_the_pixels_width():
    config = copy.deepcopy(TINY)
    config["setting"] = "transductive"
    config["backbones"]["pixels"] |= {"pca_dim": 65}  # 8x8x1 digits
    assert refusal(config).startswith(
        "config backbones.pixels.pca_dim=65: expected at most the 64 pixel values"
    )


def test_a_test_split_that_rounds_to_nothing():
    config = with_dataset(
        name="d", source="sklearn_digits", num_classes=10, max_samples=10, test_fraction=0.01
    )
    assert refusal(config).startswith(
        "config dataset.test_fraction=0.01: leaves the test split of dataset source "
        "'sklearn_digits' empty (10 train, 0 test samples)"
    )


def test_a_subset_too_small_to_split():
    config = copy.deepcopy(TINY)
    config["hume"] |= {"subset_size": 3, "train_fraction": 0.9}
    assert refusal(config).startswith(
        "config hume.subset_size/hume.train_fraction=0.9: a subset of 3 samples leaves no "
        "train or no held-out part (3 train, 0 held out)"
    )


def test_a_typo_in_the_root_is_named_although_data_h5_exists(in_tmp):
    (in_tmp / "results/photos").mkdir(parents=True)
    (in_tmp / "results/photos/data.h5").touch()  # would have been deleted by the rerun
    config = with_dataset(name="photos", source="image_folder", num_classes=3, root="phtos")
    assert refusal(config).startswith("config dataset.root='phtos': no such folder")


def test_a_typo_in_the_weights_is_named_although_the_embedding_exists(in_tmp):
    (in_tmp / "results/tiny/embeddings").mkdir(parents=True)
    (in_tmp / "results/tiny/embeddings/efficientnet_lite0.h5").touch()
    config = copy.deepcopy(TINY)
    config["backbones"]["efficientnet_lite0"]["weights"] = "lite0.pht"
    with pytest.raises(InputError, match=r"efficientnet_lite0.weights='lite0.pht': file not"):
        check_sources(filled(config))


ARTICLES = {"integer": "an integer", "number": "a finite number", "null": "null"}


def numeric_keys(schema: dict, path: tuple = ()) -> list[tuple[tuple, str]]:
    """(path, what the message expects, e.g. 'an integer or null') of every numeric key of
    the schema, with '*' for the backbones' names and 0 for list items."""
    found = []
    kinds = schema.get("type", [])
    kinds = [kinds] if isinstance(kinds, str) else kinds
    if {"integer", "number"} & set(kinds):
        found.append((path, " or ".join(ARTICLES[kind] for kind in kinds)))
    for key, sub in schema.get("properties", {}).items():
        found += numeric_keys(sub, (*path, key))
    if isinstance(schema.get("additionalProperties"), dict):
        found += numeric_keys(schema["additionalProperties"], (*path, "*"))
    if isinstance(schema.get("items"), dict):
        found += numeric_keys(schema["items"], (*path, 0))
    return found


NUMERIC = numeric_keys(SCHEMA)


def set_key(config: dict, path: tuple, value: object) -> str:
    """Set ``path`` ('*' = the pixels backbone) in ``config``; the dotted key it names."""
    path = tuple("pixels" if part == "*" else part for part in path)
    node = config
    for part in path[:-1]:
        if isinstance(part, int):
            node = node[part]
        else:
            node = node.setdefault(part, [1] if part == "anneal_milestones" else {})
    if isinstance(path[-1], int):
        node[path[-1]] = value
        return ".".join(map(str, path[:-1])) + f"[{path[-1]}]"
    node[path[-1]] = value
    return ".".join(path)


def test_every_numeric_key_is_found():
    assert len(NUMERIC) > 20
    assert (("hume", "tau"), "a finite number") in NUMERIC
    assert (("num_runs",), "an integer") in NUMERIC
    assert (("aggregation", "top_n"), "an integer or null") in NUMERIC


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
@pytest.mark.parametrize(
    ("path", "expected"), NUMERIC, ids=[".".join(map(str, p)) for p, _ in NUMERIC]
)
def test_non_finite_numbers_are_refused(path, expected, value):
    config = copy.deepcopy(TINY)
    key = set_key(config, path, value)
    with pytest.raises(InputError) as caught:
        check_schema(config, SCHEMA)
    assert str(caught.value) == f"config {key}={value!r}: expected {expected}"


INTEGERS = [(p, e) for p, e in NUMERIC if e.startswith("an integer")]


@pytest.mark.parametrize(
    ("path", "expected"), INTEGERS, ids=[".".join(map(str, p)) for p, _ in INTEGERS]
)
def test_integers_written_as_floats_are_refused(path, expected):
    config = copy.deepcopy(TINY)
    key = set_key(config, path, 2.0)
    with pytest.raises(InputError) as caught:
        check_schema(config, SCHEMA)
    assert str(caught.value) == f"config {key}=2.0: expected {expected}"


NAMES = "expected letters, digits and underscores (used in file paths)"


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda c: c["dataset"].update(name="tiny\n"),
            "config dataset.name='tiny\\n': " + NAMES,
        ),
        (
            lambda c: c["backbones"].update({"pix\n": {"kind": "pixels"}}),
            "config backbones: the name 'pix\\n': " + NAMES,
        ),
        (
            lambda c: c["pairs"][0].update(phi1="pixels\n"),
            "config pairs[0].phi1='pixels\\n': " + NAMES,
        ),
    ],
)
def test_names_are_matched_in_full(edit, message):
    config = copy.deepcopy(TINY)
    edit(config)
    with pytest.raises(InputError) as caught:
        check_schema(config, SCHEMA)
    assert str(caught.value) == message


def test_finite_values_and_true_integers_pass():
    config = copy.deepcopy(TINY)
    config["hume"] |= {"tau": 0.5, "num_iters": 3}
    config["dataset"]["test_fraction"] = 0.25
    check_schema(config, SCHEMA)
    assert np.isfinite(filled(config)["hume"]["tau"])
