"""Helpers shared by the tests (plain functions; the fixtures are in conftest.py).

- the tiny end-to-end config and how to run Snakemake on it (tests/workflow/, benchmarks/);
- the plan-time checks of a config as workflow/rules/common.smk runs them, without Snakemake;
- small FAKE files in the sources' real on-disk formats (CIFAR pickles, idx files, folders).

Importable as ``tiny_workflow`` from every test (pyproject.toml puts tests/ on sys.path) and
from benchmarks/ (which insert tests/ into sys.path).
"""

from __future__ import annotations

import atexit
import copy
import functools
import gzip
import hashlib
import os
import pickle
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import yaml
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
SCHEMA_PATH = REPO / "workflow" / "schemas" / "config.schema.yaml"

TINY = {
    "dataset": {"name": "tiny", "source": "sklearn_digits", "num_classes": 10, "max_samples": 300},
    "backbones": {
        "pixels": {"kind": "pixels"},
        "efficientnet_lite0": {"kind": "efficientnet_lite0", "image_size": 32},
    },
    "pairs": [
        {"phi1": "pixels", "phi2": "efficientnet_lite0"},
        {"phi1": "efficientnet_lite0", "phi2": "pixels"},
    ],
    "setting": "inductive",
    "num_runs": 2,
    "hume": {"num_iters": 4, "num_subsets": 2, "adaptation_steps": 3, "inner_lr": 0.01},
    "score": {"n_folds": 3, "max_iter": 50},
}
PAIRS = ["pixels--efficientnet_lite0", "efficientnet_lite0--pixels"]


def snakemake_command(configfiles: list[str], *args: str) -> list[str]:
    """The command line of Snakemake on this repository's Snakefile."""
    snakefile = str(REPO / "Snakefile")
    return [sys.executable, "-m", "snakemake", "-s", snakefile, "--configfile", *configfiles, *args]


@functools.cache
def _stand_ins() -> str:
    """A folder holding a stand-in ``scontrol`` that fails at once (removed at exit)."""
    folder = Path(tempfile.mkdtemp(prefix="hume-tests-bin-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    scontrol = folder / "scontrol"
    scontrol.write_text("#!/bin/sh\n# tests/tiny_workflow.py: no SLURM controller to ask\nexit 1\n")
    scontrol.chmod(0o755)
    return str(folder)


# The environment the tests started with, before any test changed os.environ (monkeypatch):
# the default of the Snakemake processes, which may start while another test runs.
START_ENV = dict(os.environ)


def snakemake_env(env: dict | None = None) -> dict:
    """The environment of a Snakemake process the tests start (``env``, by default
    :data:`START_ENV`), with a stand-in ``scontrol`` first on PATH that fails at once.

    Snakemake loads every installed executor plugin when it starts, whatever the executor;
    the SLURM one (the ``slurm`` extra) then runs ``scontrol show config``, which, where
    SLURM's client is installed but no controller answers (tests/cluster/slurm_up.sh's
    cluster stopped), waits about 9 s before it fails, in every Snakemake process. The
    plugin takes a failure as "no SLURM". None of these runs uses SLURM (tests/workflow/
    test_slurm.py submits through tests/cluster/slurm_run.py, with the real PATH).
    """
    env = dict(START_ENV if env is None else env)
    env["PATH"] = os.pathsep.join(filter(None, [_stand_ins(), env.get("PATH")]))
    return env


def run_snakemake(
    workdir: Path, config: dict, *args: str, base: Path | None = None, env: dict | None = None
) -> subprocess.CompletedProcess:
    """Run Snakemake in ``workdir`` on ``config`` (merged over the config file ``base``), in
    :func:`snakemake_env` of ``env``."""
    (workdir / "config.yaml").write_text(yaml.safe_dump(config))
    configfiles = [str(base), "config.yaml"] if base else ["config.yaml"]
    cmd = snakemake_command(configfiles, *args)
    return subprocess.run(cmd, cwd=workdir, capture_output=True, text=True, env=snakemake_env(env))


# Python that gives SIGINT its default action, then runs its arguments: a terminal's
# foreground job has it, but a session started in the background by a shell (`pytest &`)
# passes SIGINT on ignored, and the ignored disposition would pass on to Snakemake
DEFAULT_SIGINT = (
    "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
    "os.execv(sys.executable, [sys.executable, *sys.argv[1:]])"
)


def start_snakemake(
    workdir: Path, config: dict, *args: str, output: Path | None = None
) -> subprocess.Popen:
    """Snakemake on ``config`` in the background, in its own process group (as a terminal's
    foreground job: a signal to the group reaches Snakemake and its jobs); its output
    (stdout and stderr, as a terminal shows them) in ``output``, or dropped."""
    (workdir / "config.yaml").write_text(yaml.safe_dump(config))
    python, *command = snakemake_command(["config.yaml"], *args)
    out = open(output, "w") if output else subprocess.DEVNULL
    try:
        return subprocess.Popen(
            [python, "-c", DEFAULT_SIGINT, *command],
            cwd=workdir,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=snakemake_env(),
        )
    finally:
        if output:
            out.close()


def wait_for(condition, timeout: float = 300) -> None:
    """Wait until ``condition()`` is true (polled every 50 ms), at most ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


#: Samples of the tiny dataset that :func:`with_new_images` saves as a batch of new images.
PICKED = [0, 5, 11, 42, 99, 250]


def with_new_images(workdir: Path, finished: Path) -> Path:
    """The finished tiny run copied to ``workdir``, with the PICKED digits of its data.h5
    saved as PNGs in ``workdir/new`` (a prediction batch); returns that folder."""
    from hume_workflow.formats.io import read_h5  # the package: not every user of this needs it

    shutil.copytree(finished, workdir, dirs_exist_ok=True)
    images = read_h5(workdir / "results/tiny/data.h5", ["images"])[0]["images"]
    folder = workdir / "new"
    folder.mkdir()
    for i in PICKED:
        Image.fromarray(images[i, ..., 0]).save(folder / f"sample{i:03d}.png")
    return folder


def snakemake(workdir: Path, config: dict, *args: str, base: Path | None = None) -> str:
    """As :func:`run_snakemake`, asserting success; returns the output."""
    proc = run_snakemake(workdir, config, *args, base=base)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout + proc.stderr


def side_by_side(commands: dict, workers: int | None = None) -> dict:
    """Run independent Snakemake commands ``{key: (command, working directory)}`` in
    :func:`snakemake_env`, a few at a time (a dry run keeps one CPU busy: one per CPU, at
    most 4); {key: CompletedProcess}."""
    workers = workers or max(1, min(4, len(os.sched_getaffinity(0))))
    env = snakemake_env()
    with ThreadPoolExecutor(workers) as pool:
        futures = {
            key: pool.submit(subprocess.run, cmd, cwd=cwd, capture_output=True, text=True, env=env)
            for key, (cmd, cwd) in commands.items()
        }
        return {key: future.result() for key, future in futures.items()}


def error_line(output: str, start: str) -> str:
    """The one line of ``output`` that starts with ``start`` (exactly one such line)."""
    lines = [line for line in output.splitlines() if line.startswith(start)]
    assert len(lines) == 1, output[-3000:]
    return lines[0]


def fingerprint(results: Path) -> dict[str, tuple[str, int]]:
    """{path under ``results``: (sha256, mtime_ns)} of every file, to prove none changed."""
    return {
        str(p.relative_to(results)): (
            hashlib.sha256(p.read_bytes()).hexdigest(),
            p.stat().st_mtime_ns,
        )
        for p in sorted(results.rglob("*"))
        if p.is_file()
    }


def stand_in_overrides(preset: dict, folder: Path) -> list[str]:
    """``--config`` arguments that point a preset's local inputs (checkpoints; the ImageNet
    folder: one empty image per class; an image folder: 100 empty images, flat; scanned by a
    plan, never decoded; the feature files of a features_only dataset and its precomputed
    spaces, :func:`stand_in_features`) at placeholders made under ``folder``; nothing else is
    touched."""
    overrides: dict = stand_in_features(preset, folder)
    for backbone, spec in preset["backbones"].items():
        if spec["kind"] == "precomputed":
            continue
        if "path" in spec:
            stand_in = folder / Path(spec["path"]).name
            stand_in.touch()
            overrides.setdefault("backbones", {})[backbone] = {"path": str(stand_in)}
    if preset["dataset"]["source"] == "imagenet":
        root = folder / "imagenet"
        for part in ("train", "val"):
            for c in range(preset["dataset"]["num_classes"]):
                (root / part / f"n{c:08d}").mkdir(parents=True)
                (root / part / f"n{c:08d}" / "placeholder.JPEG").touch()
        overrides["dataset"] = {"root": str(root)}
    if preset["dataset"]["source"] == "image_folder":  # a flat folder: unlabelled images
        root = folder / "images"
        root.mkdir()
        for i in range(100):
            (root / f"placeholder{i:03d}.png").touch()
        overrides["dataset"] = {"root": str(root)}
    values = [
        f"{k}={yaml.safe_dump(v, default_flow_style=True).strip()}" for k, v in overrides.items()
    ]
    return ["--config", *values] if values else []


STAND_IN_ROWS = {"train": 80, "test": 20, "all": 100}  # rows of a stand-in features file


def stand_in_features(preset: dict, folder: Path) -> dict:
    """Stand-ins for a features_only preset's files, under ``folder``: its dataset's features
    and labels (every class of ``dataset.num_classes``, or of the largest K of a sweep) and
    each precomputed space's files, small random .npy arrays of STAND_IN_ROWS rows in the
    preset's layout, wide enough for any pca_dim; {} for other presets (the overrides)."""
    dataset = preset["dataset"]
    if dataset["source"] != "features_only":
        return {}
    rng = np.random.default_rng(0)
    k = dataset["num_classes"]
    k = k if isinstance(k, int) else max(k) if isinstance(k, list) else k["max"]

    def stand_in(name: str, part: str, width: int | None) -> str:
        """A stand-in for the file ``name`` of ``part`` ("train", "test" or "all")."""
        path = folder / part / Path(name).name
        path.parent.mkdir(exist_ok=True)
        rows = STAND_IN_ROWS[part]
        if width is None:  # labels: every class
            np.save(path, np.arange(rows) % k)
        else:
            np.save(path, rng.normal(size=(rows, width)).astype(np.float32))
        return str(path)

    def per_split(files: str | dict, width: int | None) -> str | dict:
        if isinstance(files, dict):
            return {part: stand_in(name, part, width) for part, name in files.items()}
        return stand_in(files, "all", width)

    overrides: dict = {"dataset": {"features": per_split(dataset["features"], 16)}}
    if "labels" in dataset:
        overrides["dataset"]["labels"] = per_split(dataset["labels"], None)
    for name, spec in preset["backbones"].items():
        if spec["kind"] == "precomputed":
            key = "paths" if "paths" in spec else "path"
            width = max(16, spec.get("pca_dim", 0))
            files = per_split(spec[key], width)
            overrides.setdefault("backbones", {})[name] = {key: files}
    return overrides


def two_file_spaces(name: str, num_classes: int, phi1: str, phi2: str) -> dict:
    """A features_only config: dataset ``name`` whose rows are those of ``<phi1>.npy``,
    labelled by ``labels.npy``, and one pair of precomputed spaces read from ``<phi1>.npy``
    and ``<phi2>.npy`` (paths relative to the working directory), 2 runs."""
    return {
        "dataset": {
            "name": name,
            "source": "features_only",
            "num_classes": num_classes,
            "features": f"{phi1}.npy",
            "labels": "labels.npy",
        },
        "backbones": {
            space: {"kind": "precomputed", "path": f"{space}.npy"} for space in (phi1, phi2)
        },
        "pairs": [{"phi1": phi1, "phi2": phi2}],
        "num_runs": 2,
    }


def planned_requests(log: str, rule: str) -> list[dict[str, int]]:
    """The integer resources of each planned job of ``rule`` in a dry run's log."""
    found = []
    for block in re.split(r"\n(?=(?:local)?rule )", log):
        if block.startswith((f"rule {rule}:", f"localrule {rule}:")):
            line = re.search(r"resources: (.+)", block).group(1)
            found.append({k: int(v) for k, v in re.findall(r"(\w+)=(\d+)(?:,|$)", line)})
    return found


def planned_jobs(log: str) -> list[dict[str, str]]:
    """The jobs a dry run's log plans (``rule all`` left out), each {"rule", "reason"} and its
    wildcards; [] when the log says there is nothing to be done."""
    found = []
    for block in re.split(r"\n(?=(?:local)?rule )", log):
        head = re.match(r"(?:local)?rule (\w+):", block)
        if head is None or head.group(1) == "all":
            continue
        job = {"rule": head.group(1), "reason": re.search(r"reason: (.+)", block).group(1)}
        wildcards = re.search(r"wildcards: (.+)", block)
        if wildcards:
            job |= dict(pair.split("=", 1) for pair in wildcards.group(1).split(", "))
        found.append(job)
    return found


# ---- the plan-time checks, as workflow/rules/common.smk runs them ---------------------------


def schema() -> dict:
    """The config schema, as common.smk reads it."""
    return yaml.safe_load(SCHEMA_PATH.read_text())


def filled(config: dict) -> dict:
    """``config`` as Snakemake reads it from the file :func:`run_snakemake` writes (YAML,
    keys sorted), checked against the schema and with its defaults filled, as common.smk
    does (:func:`check_schema`, then ``snakemake.utils.validate``); a new dict."""
    from snakemake.utils import validate

    from hume_workflow.plan.preflight import check_schema

    config = yaml.safe_load(yaml.safe_dump(config))
    check_schema(config, schema())
    validate(config, schema=str(SCHEMA_PATH), set_default=True)
    return config


def preflight(config: dict) -> list[str]:
    """Every check common.smk runs before any job (schema, cross-key values, sources), in the
    working directory (results/ is read relative to it); the warnings it would log.

    Raises:
        InputError: the first problem, the line Snakemake would print.
    """
    from hume_workflow.hume.checks import check_hume
    from hume_workflow.plan.preflight import check_sources, check_values

    config = filled(config)
    warnings = check_values(config, plan_files(config), [check_hume])
    check_sources(config)
    return warnings


def one_line(error, *parts: str) -> str:
    """The message of a raised error (a ``pytest.ExceptionInfo``), asserted one line holding
    every one of ``parts``."""
    message = str(error.value)
    assert "\n" not in message, message
    for part in parts:
        assert part in message, message
    return message


def refused_by_plan(workdir: Path, config: dict) -> str:
    """Run the plan-time checks (:func:`preflight`) on ``config``; assert they refuse it in
    one line without touching anything in ``workdir``; the line."""
    import pytest

    from hume_workflow.errors import InputError

    before = fingerprint(workdir)
    with pytest.raises(InputError) as caught:
        preflight(config)
    assert fingerprint(workdir) == before
    return one_line(caught)


def plan_files(config: dict):
    """The files the plan reads, named as workflow/rules/common.smk names them."""
    from hume_workflow.plan import layout
    from hume_workflow.plan.preflight import PlanFiles

    dataset = config["dataset"]["name"]
    return PlanFiles(
        Path(layout.fill(layout.DATA, dataset=dataset)),
        lambda name: Path(layout.fill(layout.EMBEDDING, dataset=dataset, backbone=name)),
    )


def prepare_like_the_job(config: dict, path: Path) -> Path:
    """``path`` written as the prepare_dataset job (workflow/scripts/prepare_dataset.py)
    writes data.h5 for ``config`` (its defaults filled)."""
    from hume_workflow.data.prepare import prepare_configured
    from hume_workflow.formats.dataset import write_dataset
    from hume_workflow.plan.dataset import dataset_identity

    spec = filled(config)["dataset"]
    dataset = prepare_configured(spec)
    dataset.name = spec["name"]
    path.parent.mkdir(parents=True, exist_ok=True)
    write_dataset(path, dataset, dataset_identity(spec))
    return path


def changed(config: dict, path: str, value: object) -> dict:
    """A deep copy of ``config`` with the dotted key ``path`` set to ``value``."""
    out = copy.deepcopy(config)
    *parents, last = path.split(".")
    node = out
    for key in parents:
        node = node.setdefault(key, {})
    node[last] = value
    return out


def with_backbone(name: str, spec: dict, config: dict = TINY) -> dict:
    """``config`` (TINY) plus a backbone ``name`` paired as phi2 with pixels."""
    out = copy.deepcopy(config)
    out["backbones"][name] = spec
    out["pairs"].append({"phi1": "pixels", "phi2": name})
    return out


# ---- fake files in the sources' on-disk formats ----------------------------------------------


def write_pickle(path: Path, obj: dict) -> None:
    """CIFAR's official format: a (Python 2) pickle with bytes keys (test fixture only)."""
    path.write_bytes(pickle.dumps(obj, protocol=2))


def cifar_batch(rng: np.random.Generator, n: int, key: bytes, k: int) -> dict:
    """One CIFAR batch of ``n`` random images with labels under ``key`` (in [0, k))."""
    data = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
    return {b"data": data, key: [int(v) for v in rng.integers(0, k, n)]}


def fake_cifar10(root: Path, rng: np.random.Generator) -> Path:
    """root/cifar-10-batches-py: 5 train batches of 4 images, a test batch of 3, the meta."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    for i in range(1, 6):
        write_pickle(folder / f"data_batch_{i}", cifar_batch(rng, 4, b"labels", 10))
    write_pickle(folder / "test_batch", cifar_batch(rng, 3, b"labels", 10))
    write_pickle(folder / "batches.meta", {b"label_names": [f"c{i}".encode() for i in range(10)]})
    return folder


def idx_bytes(array: np.ndarray) -> bytes:
    """``array`` (uint8 or big-endian int32) in the idx format of MNIST."""
    code = {np.dtype(np.uint8): 0x08, np.dtype(">i4"): 0x0C}[array.dtype]
    header = struct.pack(">BBBB", 0, 0, code, array.ndim) + struct.pack(
        f">{array.ndim}I", *array.shape
    )
    return header + array.tobytes()


def fake_idx_set(folder: Path, gz: bool, rng: np.random.Generator) -> dict:
    """The four MNIST idx files (5 train, 3 test images), gzipped or not; their arrays."""
    folder.mkdir(parents=True)
    arrays = {}
    for prefix, n in (("train", 5), ("t10k", 3)):
        arrays[f"{prefix}-images-idx3-ubyte"] = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        arrays[f"{prefix}-labels-idx1-ubyte"] = rng.integers(0, 10, n).astype(np.uint8)
    for name, array in arrays.items():
        data = idx_bytes(array)
        if gz:
            (folder / f"{name}.gz").write_bytes(gzip.compress(data))
        else:
            (folder / name).write_bytes(data)
    return arrays


def class_folders(root: Path, classes: list[str], per_class: int = 2) -> None:
    """An image folder: one sub-folder of ``per_class`` small RGB PNGs per class name."""
    from PIL import Image

    for name in classes:
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            Image.new("RGB", (6, 6), (40 * i, 0, 0)).save(root / name / f"{i}.png")
