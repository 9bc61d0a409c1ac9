"""A results tree after the runs at any scale, written by the project's own writers, and the
stages after the runs run on it in fresh processes as their rules' scripts call the library:
for benchmarks/scale_downstream.py and the tests of the requests of those stages."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
import psutil

from hume_workflow.formats.io import write_h5, write_json
from hume_workflow.formats.run import RunRecord, write_run


@dataclass(frozen=True)
class Shape:
    """The sizes of a downstream: K, labelled samples, runs, fit rows, phi2's width."""

    num_classes: int
    n_eval: int
    runs: int
    n_fit: int
    dim: int
    iters: int = 1000  # length of each run's trace


def build_tree(root: Path, shape: Shape, seed: int = 0) -> dict[str, Path]:
    """The input files of the downstream stages at ``shape`` under ``root``; their paths."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    n = shape.n_fit + shape.n_eval
    truth = rng.integers(shape.num_classes, size=n)
    split = np.r_[np.zeros(shape.n_fit, np.int64), np.ones(shape.n_eval, np.int64)]
    eval_indices = np.arange(n) if shape.n_fit == 0 else np.flatnonzero(split == 1)
    if shape.n_fit == 0:
        split[:] = 0  # transductive: every sample fitted and labelled
    paths = {"data": root / "data.h5", "phi2": root / "phi2.h5", "runs": root / "runs"}
    names = {"class_names": [f"class {c}" for c in range(shape.num_classes)]}
    write_clustered(
        paths["data"], paths["phi2"], truth, split, shape.dim, shape.num_classes, rng, names
    )
    for space in ("phi1", "phi2"):  # the report's baseline columns (not timed here)
        nothing = {"acc": None, "ari": None, "nmi": None}
        baseline = {"backbone": space, "dim": shape.dim, "kmeans": nothing}
        write_json(root / f"{space}.json", baseline | {"linear_probe_acc": None})
    paths["runs"].mkdir(exist_ok=True)
    (root / "report").mkdir(exist_ok=True)
    true = truth[eval_indices]
    for seed_ in range(shape.runs):
        noise = rng.uniform(0.2, 0.4)
        labels = rng.permutation(shape.num_classes)[true]
        replaced = rng.random(len(labels)) < noise
        labels[replaced] = rng.integers(shape.num_classes, size=int(replaced.sum()))
        sizes = np.bincount(labels, minlength=shape.num_classes)
        score = float(np.clip(1 - noise + rng.normal(0, 0.03), 0, 1))
        fit = np.log(shape.num_classes) * (
            0.3 + noise + 0.2 * np.exp(-np.arange(shape.iters) / 200)
        )
        record = RunRecord(
            method="hume",
            spaces=("phi1", "phi2"),
            seed=seed_,
            setting="transductive" if shape.n_fit == 0 else "inductive",
            score=score,
            kappa=score - 1 / shape.num_classes,
            n_clusters=int((sizes > 0).sum()),
            min_cluster_size=int(sizes[sizes > 0].min()),
            degenerate=False,
            wall_time_s=1.0,
            hyperparameters={"num_classes": shape.num_classes},
            labels=labels.astype(np.int64),
            eval_indices=eval_indices,
            confidence=np.ones(len(labels), np.float32),
            trace={"cross_entropy": fit.astype(np.float32)},
        )
        write_run(paths["runs"] / f"run{seed_}.h5", record, {"dataset": "scale"})
    return paths


def build_baseline_tree(root: Path, rows: int, dim: int, num_classes: int, seed: int = 0) -> None:
    """A dataset of ``rows`` samples (a fifth of them the test split) and one space of
    ``dim`` float32 features around ``num_classes`` centres, for the baselines' stage."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(num_classes, size=rows)
    split = (rng.random(rows) < 0.2).astype(np.int64)
    write_clustered(
        root / "baseline_data.h5", root / "baseline_phi.h5", truth, split, dim, num_classes, rng
    )


def write_clustered(
    data_path: Path,
    space_path: Path,
    truth: np.ndarray,
    split: np.ndarray,
    dim: int,
    num_classes: int,
    rng: np.random.Generator,
    attrs: dict | None = None,
) -> None:
    """data.h5 of ``truth`` and ``split`` (N,) (with ``attrs``) and an embedding file of
    ``dim`` float32 features: a random centre for each of ``num_classes`` classes plus
    Gaussian noise (sd 2), drawn from ``rng`` and written 20,000 rows at a time."""
    write_h5(data_path, {"labels": truth, "split": split}, {"name": "scale", **(attrs or {})})
    centres = rng.normal(size=(num_classes, dim)).astype(np.float32)
    with h5py.File(space_path, "w") as f:
        features = f.create_dataset("features", (len(truth), dim), np.float32)
        for start in range(0, len(truth), 20000):
            block = truth[start : start + 20000]
            noise = rng.normal(size=(len(block), dim)).astype(np.float32)
            features[start : start + len(block)] = centres[block] + 2 * noise
        f.create_dataset("labels", data=truth)
        f.create_dataset("split", data=split)


# Each stage as its rule's script calls the library; {root} is the tree, {k} the K.
STAGES = {
    "select_runs": """
from hume_workflow.aggregate.selection import select_runs
from hume_workflow.formats.run import read_runs
from hume_workflow.formats.selection import write_selection
runs = read_runs(RUNS, arrays=("labels",))
write_selection(f"{root}/selection.json", select_runs(runs, None, K, "uniform"))
""",
    "majority_vote": """
from hume_workflow.aggregate.selected_vote import vote_selected
from hume_workflow.formats.selection import read_selection
from hume_workflow.formats.votes import write_vote
selection = read_selection(f"{root}/selection.json")
write_vote(f"{root}/vote.csv", vote_selected(selection, RUNS, K))
""",
    "evaluate_task": """
from hume_workflow.formats.io import read_h5, write_json
from hume_workflow.formats.selection import read_selection
from hume_workflow.formats.votes import read_vote
from hume_workflow.report.evaluate import evaluate_task
from hume_workflow.report.uncertainty import Bootstrap
truth = read_h5(f"{root}/data.h5", ["labels"])[0]["labels"]
selection = read_selection(f"{root}/selection.json")
votes = read_vote(f"{root}/vote.csv")
metrics = evaluate_task(selection, RUNS, votes, truth, K, Bootstrap(), THREADS)
facts = {"method": "hume", "spaces": ["phi1", "phi2"], "k": K, "setting": "transductive"}
write_json(f"{root}/metrics.json", metrics | facts)
""",
    "choose_k": """
from hume_workflow.aggregate.k_choice import choose_task_k
from hume_workflow.formats.k_choice import write_k_choice
choice = choose_task_k(RUNS, {K: f"{root}/vote.csv"}, f"{root}/data.h5", f"{root}/phi2.h5",
                       "stability")
write_k_choice(f"{root}/k_choice.json", choice)
""",
    "export_labels": """
from hume_workflow.aggregate.export import export_labels
from hume_workflow.formats.votes import write_labels
write_labels(f"{root}/labels.csv", export_labels(f"{root}/vote.csv", f"{root}/data.h5", 0.9,
                                                 [f"{root}/phi2.h5"]))
""",
    "recommend": """
from hume_workflow.aggregate.recommend import recommend_labels
recommend_labels([f"{root}/k_choice.json"], [f"{root}/labels.csv"],
                 f"{root}/recommendation.json", f"{root}/recommended.csv")
""",
    "write_report": """
from hume_workflow.report.assemble import ReportFacts, ReportInputs, make_report
inputs = ReportInputs(
    data=f"{root}/data.h5", metrics=[f"{root}/metrics.json"], choices=[f"{root}/k_choice.json"],
    votes=[f"{root}/vote.csv"], labels=[f"{root}/labels.csv"], runs=RUNS,
    baselines=[f"{root}/phi1.json", f"{root}/phi2.json"],
    embeddings=[f"{root}/phi2.h5", f"{root}/phi2.h5"], benchmarks={},
    recommendation=f"{root}/recommendation.json",
)
facts = ReportFacts("scale", "features_only", "transductive", len(RUNS), None, ".", 0.9)
names = {"summary_csv": "summary.csv", "runs_csv": "runs.csv", "clusters_csv": "clusters.csv",
         "markdown": "summary.md", "html": "index.html"}
make_report(inputs, facts, {key: f"{root}/report/{name}" for key, name in names.items()})
""",
    "compute_baselines": """
from hume_workflow.aggregate.baselines import space_baselines
from hume_workflow.formats.io import write_json
write_json(f"{root}/baseline.json", space_baselines(f"{root}/baseline_data.h5",
                                                    f"{root}/baseline_phi.h5", "inductive"))
""",
}

STAGE_THREADS = {"evaluate_task": 2}  # as the rules' threads

CHILD = """
import glob, json, os, sys, time
root, K, THREADS = sys.argv[1], int(sys.argv[2]), int(os.environ["THREADS"])
RUNS = sorted(glob.glob(f"{root}/runs/*.h5"))
start = time.perf_counter()
exec(sys.argv[3])
print(json.dumps({"seconds": time.perf_counter() - start}))
"""


def run_stage(stage: str, root: Path, shape: Shape) -> dict:
    """Wall seconds of one stage in a fresh process, and the peak of the resident memory
    of its process tree (sampled every 50 ms, as Snakemake's benchmark files sample it)."""
    threads = STAGE_THREADS.get(stage, 1)
    cmd = [sys.executable, "-c", CHILD, str(root), str(shape.num_classes), STAGES[stage]]
    env = os.environ | {"OMP_NUM_THREADS": str(threads), "THREADS": str(threads)}
    child = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    peak = 0
    process = psutil.Process(child.pid)
    while child.poll() is None:
        try:
            tree = [process, *process.children(recursive=True)]
            peak = max(peak, sum(p.memory_info().rss for p in tree))
        except psutil.Error:
            pass
        time.sleep(0.05)
    out, err = child.communicate()
    if child.returncode:
        raise RuntimeError(f"{stage} failed:\n{err[-3000:]}")
    return {"seconds": json.loads(out.strip().splitlines()[-1])["seconds"], "peak_mb": peak / 1e6}
