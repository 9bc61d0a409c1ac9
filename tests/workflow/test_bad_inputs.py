"""Bad input: one clear line naming the key, file or value, and nothing computed is lost.

Each case runs Snakemake (``--cores 2``, not a dry run) in a copy of a finished tiny
workflow with one thing wrong, and checks the one-line message in Snakemake's output and that
every file under results/ is byte-for-byte and mtime-for-mtime what it was.
"""

from __future__ import annotations

import copy
import shutil

import pytest
import torch
from tiny_workflow import TINY, fingerprint, run_snakemake


@pytest.fixture(scope="module")
def workdir(finished, tmp_path_factory):
    """A copy of the finished tiny workflow (mtimes kept) that the cases run in."""
    target = tmp_path_factory.mktemp("bad-inputs") / "tiny"
    shutil.copytree(finished, target)
    return target


def changed(config: dict, path: str, value: object) -> dict:
    """A deep copy of ``config`` with the dotted key ``path`` set to ``value``."""
    out = copy.deepcopy(config)
    *parents, last = path.split(".")
    node = out
    for key in parents:
        node = node.setdefault(key, {})
    node[last] = value
    return out


def with_backbone(name: str, spec: dict) -> dict:
    """TINY plus a backbone ``name`` paired as phi2 with pixels."""
    out = copy.deepcopy(TINY)
    out["backbones"][name] = spec
    out["pairs"].append({"phi1": "pixels", "phi2": name})
    return out


def refused(workdir, config: dict) -> str:
    """Run Snakemake on ``config``; assert it fails without touching results/; its output."""
    before = fingerprint(workdir / "results")
    proc = run_snakemake(workdir, config, "--cores", "2")
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0, output[-3000:]
    assert fingerprint(workdir / "results") == before
    return output


def error_line(output: str, start: str) -> str:
    """The one line of ``output`` that starts with ``start`` (exactly one such line)."""
    lines = [line for line in output.splitlines() if line.startswith(start)]
    assert len(lines) == 1, output[-3000:]
    return lines[0]


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
        "config dataset.num_classes=241: expected at most the 240 samples HUME fits on "
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
    line = error_line(refused(workdir, config), "config ")
    assert line.startswith(message), line


def test_empty_dataset_root_is_refused(workdir):
    (workdir / "empty").mkdir()
    config = changed(TINY, "dataset", {**FOLDER, "root": "empty"})
    line = error_line(refused(workdir, config), "config ")
    assert line == "config dataset.root='empty': the folder is empty"


def test_subset_size_above_n_is_capped_with_a_warning(workdir):
    proc = run_snakemake(workdir, changed(TINY, "hume.subset_size", 500), "--dry-run")
    assert proc.returncode == 0, proc.stderr[-3000:]
    warning = error_line(proc.stdout + proc.stderr, "Warning: config hume.subset_size")
    assert warning == (
        "Warning: config hume.subset_size=500 is more than the 240 samples HUME fits on: "
        "each subset holds all 240"
    )


def test_truncated_checkpoint_fails_its_job_in_one_line(workdir, tmp_path):
    """A job-time error: the job's log (shown by Snakemake) ends in the one-line message."""
    from torchvision.models import mobilenet_v3_small

    path = tmp_path / "cut.pth"
    torch.save(mobilenet_v3_small().state_dict(), path)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    config = with_backbone("cut", {"kind": "checkpoint", "path": str(path), "arch": "resnet18"})
    output = refused_but_for(workdir, config, "cut")
    line = error_line(output, "InputError: ")
    assert str(path) in line and "truncated" in line


def refused_but_for(workdir, config: dict, backbone: str) -> str:
    """Like :func:`refused`, for a config whose failing job is ``backbone``'s embedding:
    only its log and benchmark folders may appear under results/."""
    before = fingerprint(workdir / "results")
    proc = run_snakemake(workdir, config, "--cores", "2")
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0, output[-3000:]
    after = fingerprint(workdir / "results")
    assert {k: v for k, v in after.items() if k in before} == before
    assert all(f"/{backbone}." in k for k in set(after) - set(before)), set(after) - set(before)
    assert not (workdir / f"results/tiny/embeddings/{backbone}.h5").exists()
    return output


def test_nan_in_an_embedding_file_fails_the_jobs_that_read_it(finished, tmp_path):
    """Features changed by hand (a NaN): the jobs that read them stop with one line naming
    the file, the count and the first index; the dataset and the other space are untouched."""
    import h5py
    import numpy as np

    workdir = tmp_path / "tiny"
    shutil.copytree(finished, workdir)
    with h5py.File(workdir / "results/tiny/embeddings/pixels.h5", "r+") as f:
        f["features"][17, 2] = np.nan
    kept = ["data.h5", "embeddings/efficientnet_lite0.h5"]
    before = {k: v for k, v in fingerprint(workdir / "results").items() if k.endswith(tuple(kept))}
    proc = run_snakemake(workdir, TINY, "--cores", "2")
    assert proc.returncode != 0
    lines = [ln for ln in (proc.stdout + proc.stderr).splitlines() if ln.startswith("InputError")]
    assert lines, proc.stderr[-3000:]  # one per failed job (two may run at once)
    for line in lines:
        assert line.endswith(
            "results/tiny/embeddings/pixels.h5: features hold 1 non-finite values (NaN/Inf), "
            "first at row 17, column 2; delete the file and re-run extract_embeddings; if it "
            "recurs, check the backbone's weights or set its precision: fp32"
        ), line
    after = fingerprint(workdir / "results")
    assert {k: after[k] for k in before} == before
