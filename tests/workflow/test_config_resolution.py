"""The config that runs is the given file(s) plus the schema's defaults, from the checkout.

The presets are planned as a user plans them: the checkout as the working directory, the
README's command (``snakemake --configfile config/<preset>.yaml``), a dry run (the dry runs
are independent: made side by side, in the background, once per session). The plan's
``Config:`` line states the resolved dataset, backbones, each method's tasks and runs and
every HUME or TURTLE value that differs from the schema's defaults; the schema's defaults are
compared with the paper's values (HUME_SPEC.md) written out here, independently of the schema.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from tiny_workflow import REPO, TINY, side_by_side, stand_in_overrides

from hume_workflow.formats.io import read_h5

SCHEMA = yaml.safe_load((REPO / "workflow/schemas/config.schema.yaml").read_text())
# HUME_SPEC.md, "Default hyperparameters (STL-10, CIFAR-10, CIFAR-100-20)".
PAPER = {
    "inner_lr": 0.001,
    "outer_lr": 0.001,
    "tau": 0.1,
    "h_reg": 10.0,
    "num_iters": 1000,
    "adaptation_steps": 300,
    "num_subsets": 20,
    "subset_size": 10000,
    "train_fraction": 0.9,
    "anneal": True,
    "rand_init": True,
}
# HUME_SPEC.md, "ImageNet-1000 (K=1000) settings".
PAPER_IMAGENET = PAPER | {
    "outer_lr": 0.1,
    "inner_lr": 0.1,
    "adaptation_steps": 100,
    "subset_size": 20000,
    "train_fraction": 0.7,
    "anneal": False,
    "rand_init": False,
}
# HUME_SPEC.md, "Successor: TURTLE": the reference implementation's values.
TURTLE_REFERENCE = {"gamma": 10.0, "num_iters": 6000, "batch_size": 10000, "inner_steps": 10}
PRESETS = sorted(p.name for p in (REPO / "config").glob("*.yaml") if p.name != "config.yaml")


def schema_hume_defaults() -> dict:
    return {k: v["default"] for k, v in SCHEMA["properties"]["hume"]["properties"].items()}


def schema_turtle_defaults() -> dict:
    """The schema's TURTLE hyperparameters (its ``tasks`` left out)."""
    properties = SCHEMA["properties"]["turtle"]["properties"]
    return {k: v["default"] for k, v in properties.items() if k != "tasks"}


def test_schema_defaults_are_the_papers():
    defaults = schema_hume_defaults()
    assert {k: defaults[k] for k in PAPER} == PAPER
    turtle = schema_turtle_defaults()
    assert {k: turtle[k] for k in TURTLE_REFERENCE} == TURTLE_REFERENCE


def plan_command(*args: str) -> list[str]:
    """A dry run from the checkout, as the README runs it."""
    return [sys.executable, "-m", "snakemake", "--dry-run", *args]


def planned(output: subprocess.CompletedProcess | str) -> str:
    """The output of a successful dry run (a skip where the plan could not be made)."""
    if isinstance(output, str):
        pytest.skip(output)
    text = output.stdout + output.stderr
    assert output.returncode == 0, text[-3000:]
    return text


HEAD = re.compile(
    r"Config: (?P<files>.+) \+ the schema's defaults; dataset '(?P<name>\w+)' "
    r"\((?P<source>\w+), K(?:=(?P<k>\d+)| in \{(?P<ks>[\d, ]+)\}), (?P<setting>\w+)\); "
    r"backbones (?P<backbones>.+)"
)
# One method's part of the line: its tasks and runs, then its hyperparameters.
METHOD_PART = re.compile(
    r"(?P<tasks>\d+) (?P<noun>pairs|TURTLE tasks) x (?P<runs>\d+) runs"
    r"(?: per K \((?P<total>\d+) runs; K picked by (?P<criterion>\w+)\))?; "
    r"(?P<title>HUME|TURTLE): the paper's hyperparameters"
    r"(?: except (?P<changed>.+))?"
)


def config_line(output: str) -> dict:
    """The fields of the plan's one ``Config:`` line; ``methods`` holds each method's part
    by its title ("HUME", "TURTLE"), with its ``changed`` hyperparameters parsed."""
    lines = [line for line in output.splitlines() if line.startswith("Config: ")]
    assert len(lines) == 1, output[-3000:]
    head, *parts = re.split(r"; (?=\d+ (?:pairs|TURTLE tasks) x \d+ runs)", lines[0])
    found = HEAD.fullmatch(head)
    assert found and parts, lines[0]
    fields = found.groupdict()
    fields["backbones"] = fields["backbones"].split(", ")
    fields["methods"] = {}
    for part in parts:
        method = METHOD_PART.fullmatch(part)
        assert method, (part, lines[0])
        values = method.groupdict()
        changed = re.findall(r"(\w+)=(.+?) \(paper: [^)]*\)(?:, |$)", values["changed"] or "")
        values["changed"] = {key: yaml.safe_load(value) for key, value in changed}
        fields["methods"][values.pop("title")] = values
    return fields


def preset_overrides(name: str, folder: Path) -> list[str] | str:
    """Placeholders for a preset's local inputs; the reason to skip it where its data folder
    is missing."""
    preset = yaml.safe_load((REPO / "config" / name).read_text())
    local_root = preset["dataset"].get("local_root")
    if local_root and not Path(local_root).is_dir():
        return f"{local_root} is missing (Debian's package)"
    return stand_in_overrides(preset, folder)


def plan_presets(workdir: Path) -> dict:
    """The dry runs of every preset and of the demo (key None), made side by side (stand-ins
    for the presets' local inputs under ``workdir``): {preset: its CompletedProcess, or the
    reason to skip it}."""
    commands, skips = {None: (plan_command(), REPO)}, {}
    for name in PRESETS:
        stand_ins = workdir / name.removesuffix(".yaml")
        stand_ins.mkdir()
        overrides = preset_overrides(name, stand_ins)
        if isinstance(overrides, str):
            skips[name] = overrides
        else:
            commands[name] = (plan_command("--configfile", f"config/{name}", *overrides), REPO)
    return side_by_side(commands) | skips


@pytest.fixture(scope="module")
def plans(background) -> dict:
    return background.result(plan_presets)


@pytest.mark.background.with_args(plan_presets)
@pytest.mark.parametrize("name", PRESETS)
def test_a_preset_runs_as_written_with_the_schemas_defaults(name, plans):
    preset = yaml.safe_load((REPO / "config" / name).read_text())
    line = config_line(planned(plans[name]))
    # stand-ins for local inputs are --config arguments, which the line names after the file
    stand_ins = " + --config" if "--config" in plans[name].args else ""
    assert line["files"] == f"config/{name}{stand_ins}"
    assert line["name"] == preset["dataset"]["name"]
    assert line["backbones"] == list(preset["backbones"])  # none of the demo's
    assert line["setting"] == preset.get("setting", "inductive")
    counts = {
        "HUME": len(preset.get("pairs", [])),
        "TURTLE": len(preset.get("turtle", {}).get("tasks", [])),
    }
    methods = line["methods"]
    assert {title: int(part["tasks"]) for title, part in methods.items()} == {
        title: n for title, n in counts.items() if n
    }
    num_runs = preset.get("num_runs", SCHEMA["properties"]["num_runs"]["default"])
    assert all(int(part["runs"]) == num_runs for part in methods.values())
    if "HUME" in methods:
        defaults = schema_hume_defaults()
        written = {k: v for k, v in preset.get("hume", {}).items() if v != defaults[k]}
        assert methods["HUME"]["changed"] == written
        resolved = defaults | methods["HUME"]["changed"]
        paper = PAPER_IMAGENET if preset["dataset"]["source"] == "imagenet" else PAPER
        if name not in ("fashion_mnist.yaml", "image_folder_k_sweep.yaml"):  # a CPU budget
            assert {k: resolved[k] for k in paper} == paper
    if "TURTLE" in methods:  # its tasks are no hyperparameter: never listed as changed
        defaults = schema_turtle_defaults()
        written = {k: v for k, v in preset["turtle"].items() if k != "tasks" and v != defaults[k]}
        assert methods["TURTLE"]["changed"] == written
        resolved = defaults | methods["TURTLE"]["changed"]
        assert {k: resolved[k] for k in TURTLE_REFERENCE} == TURTLE_REFERENCE


@pytest.mark.background.with_args(plan_presets)
def test_the_demo_runs_without_a_configfile(plans):
    demo = yaml.safe_load((REPO / "config/config.yaml").read_text())
    line = config_line(planned(plans[None]))
    assert line["files"] == "config/config.yaml"
    assert line["backbones"] == list(demo["backbones"])
    assert line["methods"]["HUME"]["changed"] == demo["hume"]


def test_a_run_file_records_the_resolved_hyperparameters(finished):
    """TINY sets four HUME keys; the run file holds those and the schema's defaults."""
    attrs = read_h5(
        finished / "results/tiny/hume/pixels--efficientnet_lite0/k10/runs/seed0.h5", []
    )[1]
    recorded = attrs["hyperparameters"]
    expected = schema_hume_defaults() | TINY["hume"]
    for key, value in expected.items():
        got = recorded[key]
        assert (list(got) if isinstance(value, list) else got) == value, key
