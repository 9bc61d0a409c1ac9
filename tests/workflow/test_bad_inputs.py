"""Bad input: one clear line naming the key, file or value, and nothing computed is lost.

Each case runs Snakemake (``--cores 2``, not a dry run) in a copy of a finished tiny
workflow with one thing wrong, and checks the one-line message in Snakemake's output and that
every file under results/ is byte-for-byte and mtime-for-mtime what it was. The plan-time
checks themselves are tested case by case in tests/unit/test_bad_config.py; here a few of
them go through Snakemake. Errors that stop a job: tests/workflow/test_job_errors.py.
"""

from __future__ import annotations

import shutil

import pytest
from tiny_workflow import TINY, changed, error_line, fingerprint, run_snakemake, with_backbone


@pytest.fixture(scope="module")
def workdir(finished, tmp_path_factory):
    """A copy of the finished tiny workflow (mtimes kept) that the cases run in."""
    target = tmp_path_factory.mktemp("bad-inputs") / "tiny"
    shutil.copytree(finished, target)
    return target


def refused(workdir, config: dict) -> str:
    """Run Snakemake on ``config``; assert it fails without touching results/; its output."""
    before = fingerprint(workdir / "results")
    proc = run_snakemake(workdir, config, "--cores", "2")
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0, output[-3000:]
    assert fingerprint(workdir / "results") == before
    return output


# A few of the cases of tests/unit/test_bad_config.py (which calls the checks directly), one
# per pass of the checks, through Snakemake: the wiring of common.smk.
CONFIG_CASES = {
    "unknown key (check_schema)": (
        changed(TINY, "hume.num_iter", 3),
        "config hume.num_iter: unknown key; did you mean 'num_iters'? (expected one of: ",
    ),
    "a new sample selection under a used name (check_values, on the job's data.h5)": (
        changed(TINY, "dataset.max_samples", 200),
        "config dataset.max_samples=200: results/tiny/data.h5 was made with max_samples=300, "
        "and one dataset.name holds one dataset; pick a new dataset.name, or delete "
        "results/tiny/ to start that dataset over",
    ),
    "checkpoint missing (check_sources)": (
        with_backbone("moco", {"kind": "checkpoint", "path": "nowhere.pth", "arch": "resnet50"}),
        "config backbones.moco.path='nowhere.pth': file not found",
    ),
}


@pytest.mark.parametrize("case", CONFIG_CASES)
def test_bad_config_is_refused_in_one_line(workdir, case):
    config, message = CONFIG_CASES[case]
    output = refused(workdir, config)
    line = error_line(output, "config ")
    assert line.startswith(message), line
    # the line alone: no Snakemake frame (File "...common.smk", line ...) follows it
    assert 'File "' not in output and "Traceback" not in output, output


def test_subset_size_above_n_is_capped_with_a_warning(workdir):
    proc = run_snakemake(workdir, changed(TINY, "hume.subset_size", 500), "--dry-run")
    assert proc.returncode == 0, proc.stderr[-3000:]
    warning = error_line(proc.stdout + proc.stderr, "Warning: config hume.subset_size")
    assert warning == (
        "Warning: config hume.subset_size=500 is more than the 240 samples HUME fits on: "
        "each subset holds all 240"
    )
