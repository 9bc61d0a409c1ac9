"""The tiny end-to-end config through ``--profile profiles/slurm`` on a real SLURM.

Skipped unless a cluster answers (``tests/cluster/slurm_up.sh`` brings a one-node one up; CI
does). Checks that the jobs went through SLURM and that the labels equal a local run's.
"""

import sys
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "cluster"))
from slurm_run import cluster_problem, run_through_slurm
from tiny_workflow import TINY, snakemake

PROBLEM = cluster_problem()  # asked once: without a controller, sinfo waits ~9 s to fail
pytestmark = [pytest.mark.slurm, pytest.mark.skipif(PROBLEM is not None, reason=str(PROBLEM))]
PAIRS = ["pixels--efficientnet_lite0", "efficientnet_lite0--pixels"]
# The tiny config with a sweep over K = 5 and 10 on the second pair.
SWEEP = {**TINY, "pairs": [TINY["pairs"][0], {**TINY["pairs"][1], "num_classes": [5, 10]}]}
RUNS = {PAIRS[0]: [10], PAIRS[1]: [5, 10]}  # pair -> its K values
# Jobs that run on the cluster: prepare_dataset, 2 embeddings, 2 baselines, 6 HUME runs
# (2 seeds at 3 (pair, K)), 3 votes, 3 evaluations, 2 choices of K and the report
# (select_runs, export_labels and recommend are local rules, `all` too).
HUME_RUNS = 2 * 3
CLUSTER_JOBS = 1 + 2 + 2 + HUME_RUNS + 3 + 3 + 2 + 1


def test_tiny_config_through_slurm_equals_a_local_run(tmp_path, capsys):
    (tmp_path / "slurm").mkdir()
    (tmp_path / "local").mkdir()
    run = run_through_slurm(tmp_path / "slurm", SWEEP)
    assert run.returncode == 0, run.log[-4000:]
    with capsys.disabled():  # the line CI's log shows
        print(
            f"\nSLURM: the tiny config ran as {len(run.slurm_jobs)} SLURM jobs from "
            f"{run.sbatch_calls} sbatch calls in {run.wall_s:.0f} s (run {run.run_id})"
        )
    # every cluster job is known to SLURM under the run's name; the HUME runs of every K as
    # one array
    assert len(run.slurm_jobs) == CLUSTER_JOBS, run.slurm_jobs
    assert sum("_" in job for job in run.slurm_jobs) == HUME_RUNS
    assert run.sbatch_calls == CLUSTER_JOBS - (HUME_RUNS - 1)

    snakemake(tmp_path / "local", SWEEP, "--cores", "2")
    for pair, ks in RUNS.items():
        votes = [
            pd.read_csv(tmp_path / where / "results/tiny/hume" / pair / "vote.csv")
            for where in ("slurm", "local")
        ]
        pd.testing.assert_frame_equal(*votes)
        for k, seed in ((k, seed) for k in ks for seed in range(TINY["num_runs"])):
            labels = []
            for where in ("slurm", "local"):
                path = tmp_path / where / f"results/tiny/hume/{pair}/k{k}/runs/seed{seed}.h5"
                with h5py.File(path) as f:
                    labels.append(f["labels"][()])
            np.testing.assert_array_equal(*labels)
    assert (tmp_path / "slurm/results/tiny/report/index.html").exists()
