"""Bad config: one clear line naming the key, file or value, and nothing computed is lost.

The plan-time checks that workflow/rules/common.smk runs before any job (check_schema, the
schema's defaults, check_values, check_sources), called directly: each case runs them in a
working directory holding results/tiny/data.h5 as the tiny config's prepare_dataset job
writes it (and an embedding file, as a finished run leaves one), and checks the one-line
message and that every file there is unchanged. tests/workflow/test_bad_inputs.py runs a few
of these cases through Snakemake, for the wiring.
"""

from __future__ import annotations

import numpy as np
import pytest
from tiny_workflow import (
    TINY,
    changed,
    fingerprint,
    preflight,
    prepare_like_the_job,
    refused_by_plan,
    with_backbone,
)

from hume_workflow.formats.io import write_h5


@pytest.fixture(scope="module")
def planned(tmp_path_factory):
    """A working directory where the tiny config's dataset is prepared (results/tiny/data.h5
    of 300 digits) and one space embedded, as an earlier run of the workflow leaves them."""
    workdir = tmp_path_factory.mktemp("bad-config")
    prepare_like_the_job(TINY, workdir / "results/tiny/data.h5")
    features = np.zeros((300, 1280), np.float16)  # the width of efficientnet_lite0's features
    (workdir / "results/tiny/embeddings").mkdir()
    write_h5(workdir / "results/tiny/embeddings/efficientnet_lite0.h5", {"features": features}, {})
    return workdir


@pytest.fixture
def workdir(planned, monkeypatch):
    """``planned`` as the working directory (the checks read results/ relative to it)."""
    monkeypatch.chdir(planned)
    return planned


def test_the_tiny_config_passes(workdir):
    """The cases below change one thing of a config that passes (with one warning)."""
    assert preflight(TINY) == [
        "config hume.subset_size=10000 is more than the 240 samples HUME fits on: "
        "each subset holds all 240"
    ]


FOLDER = {"name": "mine", "source": "image_folder", "num_classes": 2}
CONFIG_CASES = {
    "unknown key": (
        changed(TINY, "hume.num_iter", 3),
        "config hume.num_iter: unknown key; did you mean 'num_iters'? (expected one of: ",
    ),
    "unknown top-level key": (
        changed(TINY, "num_run", 3),
        "config num_run: unknown key; did you mean 'num_runs'?",
    ),
    "unknown backbone key": (
        changed(TINY, "backbones.pixels.imagesize", 4),
        "config backbones.pixels.imagesize: unknown key; did you mean 'image_size'?",
    ),
    "wrong type": (
        changed(TINY, "num_runs", "eight"),
        "config num_runs='eight': expected an integer",
    ),
    "misspelt choice": (
        changed(TINY, "setting", "transductiv"),
        "config setting='transductiv': expected one of inductive, transductive; "
        "did you mean 'transductive'",
    ),
    "K < 2": (
        changed(TINY, "dataset.num_classes", 1),
        "config dataset.num_classes=1: expected a value >= 2",
    ),
    "K > N": (
        changed(TINY, "dataset.num_classes", 241),
        "config dataset.num_classes=241: expected at most the 240 samples the runs fit on "
        "(inductive setting)",
    ),
    "train_fraction 1": (
        changed(TINY, "hume.train_fraction", 1.0),
        "config hume.train_fraction=1.0: expected a value < 1",
    ),
    "train_fraction 0": (
        changed(TINY, "hume.train_fraction", 0),
        "config hume.train_fraction=0: expected a value > 0",
    ),
    "negative steps": (
        changed(TINY, "hume.adaptation_steps", -3),
        "config hume.adaptation_steps=-3: expected a value >= 1",
    ),
    "negative lr": (
        changed(TINY, "hume.inner_lr", -0.1),
        "config hume.inner_lr=-0.1: expected a value > 0",
    ),
    "gram form with autograd": (
        changed(changed(TINY, "hume.inner_form", "gram"), "hume.hypergradient", "autograd"),
        "config hume.inner_form='gram': needs hume.hypergradient closed_form or first_order "
        "(autograd unrolls the weights)",
    ),
    "top_n > runs": (
        changed(TINY, "aggregation.top_n", 5),
        "config aggregation.top_n=5: expected at most num_runs=2 (or null to vote over all runs)",
    ),
    "runs_per_job not dividing num_runs": (
        changed(changed(TINY, "num_runs", 3), "compute.runs_per_job", 2),
        "config compute.runs_per_job=2: expected a divisor of num_runs=3",
    ),
    "pair names an undeclared backbone": (
        changed(TINY, "pairs", [{"phi1": "pixels", "phi2": "efficientnet"}]),
        "config pairs[0].phi2='efficientnet': not declared under 'backbones'; did you mean "
        "'efficientnet_lite0'? (declared: efficientnet_lite0, pixels)",
    ),
    "K not a number": (
        changed(TINY, "dataset.num_classes", "ten"),
        "config dataset.num_classes='ten': expected an integer, a list or a mapping",
    ),
    "K range upside down": (
        changed(TINY, "dataset.num_classes", {"min": 8, "max": 4}),
        "config dataset.num_classes: min=8 is above max=4; expected min <= max",
    ),
    "K range with a typo": (
        changed(TINY, "dataset.num_classes", {"min": 2, "max": 6, "stp": 2}),
        "config dataset.num_classes.stp: unknown key; did you mean 'step'?",
    ),
    "a K of a sweep > N": (
        changed(TINY, "dataset.num_classes", [5, 241]),
        "config dataset.num_classes=[5, 241] (K=241): expected at most the 240 samples the "
        "runs fit on (inductive setting)",
    ),
    "phi1 narrower than a pair's K": (
        with_backbone("pca5", {"kind": "pixels", "pca_dim": 5})
        | {"pairs": [{"phi1": "pca5", "phi2": "pixels", "num_classes": {"min": 3, "max": 6}}]},
        "config pairs[0].phi1='pca5': its features have 5 dimensions, fewer than "
        "pairs[0].num_classes={'max': 6, 'min': 3, 'step': 1} (K=6); the task encoder needs "
        "at least K",
    ),
    "phi1 narrower than K": (
        with_backbone("pca5", {"kind": "pixels", "pca_dim": 5})
        | {"pairs": [{"phi1": "pca5", "phi2": "pixels"}]},
        "config pairs[0].phi1='pca5': its features have 5 dimensions, fewer than "
        "dataset.num_classes=10; the task encoder needs at least K",
    ),
    "dataset name escaping results/": (
        changed(TINY, "dataset.name", "../escape"),
        "config dataset.name='../escape': expected letters, digits and underscores",
    ),
    "backbone name escaping results/": (
        with_backbone("../x", {"kind": "pixels"}),
        "config backbones: the name '../x': expected letters, digits and underscores",
    ),
    "unknown timm model": (
        with_backbone("net", {"kind": "timm", "model": "resnet5O"}),
        "config backbones.net: unknown timm model 'resnet5O'; did you mean 'resnet50'",
    ),
    "unknown torchvision model": (
        with_backbone("net", {"kind": "torchvision", "model": "resnet_18"}),
        "config backbones.net: unknown torchvision model 'resnet_18'; did you mean 'resnet18'",
    ),
    "checkpoint missing": (
        with_backbone("moco", {"kind": "checkpoint", "path": "nowhere.pth", "arch": "resnet50"}),
        "config backbones.moco.path='nowhere.pth': file not found",
    ),
    "backbone kind without its model": (
        with_backbone("net", {"kind": "timm"}),
        "config backbones.net: kind 'timm' needs the key 'model'",
    ),
    "missing image folder": (
        changed(TINY, "dataset", {**FOLDER, "root": "no/such/folder"}),
        "config dataset.root='no/such/folder': no such folder; expected a folder of images",
    ),
    "NaN temperature": (
        changed(TINY, "hume.tau", float("nan")),
        "config hume.tau=nan: expected a finite number",
    ),
    "infinite temperature": (
        changed(TINY, "hume.tau", float("inf")),
        "config hume.tau=inf: expected a finite number",
    ),
    "NaN test fraction": (
        changed(TINY, "dataset.test_fraction", float("nan")),
        "config dataset.test_fraction=nan: expected a finite number",
    ),
    "NaN train fraction": (
        changed(TINY, "hume.train_fraction", float("nan")),
        "config hume.train_fraction=nan: expected a finite number",
    ),
    "an integer written as a float": (
        changed(TINY, "num_runs", 2.0),
        "config num_runs=2.0: expected an integer",
    ),
    "a name with a trailing newline": (
        changed(TINY, "pairs", [{"phi1": "pixels\n", "phi2": "efficientnet_lite0"}]),
        "config pairs[0].phi1='pixels\\n': expected letters, digits and underscores",
    ),
    "a new sample selection under a used name": (
        changed(TINY, "dataset.max_samples", 200),
        "config dataset.max_samples=200: results/tiny/data.h5 was made with max_samples=300, "
        "and one dataset.name holds one dataset; pick a new dataset.name, or delete "
        "results/tiny/ to start that dataset over",
    ),
    "a typo in the weights of a finished embedding": (
        changed(TINY, "backbones.efficientnet_lite0.weights", "lite0.pht"),
        "config backbones.efficientnet_lite0.weights='lite0.pht': file not found",
    ),
    "K other than the classes of the source": (
        changed(TINY, "dataset.num_classes", 9),
        "config dataset.num_classes=9 but results/tiny/data.h5 has 10 classes; "
        "set dataset.num_classes: 10",
    ),
    "missing ImageNet root": (
        changed(TINY, "dataset", {**FOLDER, "source": "imagenet", "root": "nope"}),
        "config dataset.root='nope': no such folder; expected a folder of train/<wnid>/*.JPEG "
        "and val/<wnid>/*.JPEG",
    ),
}


@pytest.mark.parametrize("case", CONFIG_CASES)
def test_bad_config_is_refused_in_one_line(workdir, case):
    config, message = CONFIG_CASES[case]
    line = refused_by_plan(workdir, config)
    assert line.startswith(message), line


def test_empty_dataset_root_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "empty").mkdir()
    config = changed(TINY, "dataset", {**FOLDER, "root": "empty"})
    assert refused_by_plan(tmp_path, config) == "config dataset.root='empty': the folder is empty"


def test_subset_size_above_n_is_capped_with_a_warning(workdir):
    """Not an error: the plan goes on, with one warning (logged as 'Warning: <it>')."""
    before = fingerprint(workdir)
    assert preflight(changed(TINY, "hume.subset_size", 500)) == [
        "config hume.subset_size=500 is more than the 240 samples HUME fits on: "
        "each subset holds all 240"
    ]
    assert fingerprint(workdir) == before
