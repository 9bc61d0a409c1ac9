"""Which label-free criterion picks the true number of classes K (aggregate/k_choice.py).

The fixed cases below are those the default criterion was chosen on; the held-out measure,
on random class subsets, is benchmarks/k_heldout.py.

    python benchmarks/k_selection.py --quick                  # smoke run: syn3, K 2..4
    python benchmarks/k_selection.py --fashion /tmp/kfm/results/fashion_mnist   # every case
    python benchmarks/k_selection.py --cases syn3 digits10    # a subset of the cases
    python benchmarks/k_selection.py --cases digits10 --grid 2,4,8,16,32   # another grid
    python benchmarks/k_selection.py --method turtle --cases syn3 syn6 digits3 digits5 \
        digits7 digits10 --fashion /tmp/kfm/results/fashion_mnist      # TURTLE instead of HUME
    python benchmarks/k_selection.py --quick --method turtle   # TURTLE's smoke run (20 iters)

For each case (two spaces and a known true K) HUME runs ``--runs`` seeds (0, 1, ...) for every
K of the case's grid, transductively, at the demo's budget (config/config.yaml ``hume:``).
With ``--method turtle``, TURTLE runs instead, as a task over the case's two spaces (phi1,
phi2), all the seeds of a K in one stacked batch, for ``--turtle-iters`` outer iterations
(default TurtleConfig's, 6000; ``--quick``: 20) and TurtleConfig's other defaults; its
generalisation score is the mean over both spaces, the silhouette is the vote's in phi2 as
for HUME.
Per K: every criterion of :func:`hume_workflow.aggregate.k_choice.k_evidence` over those runs
and their vote (all runs, best score first), the number of clusters the vote uses, its ACC
and ARI against the truth, and the wall time of the K. Per case: the K each criterion picks
(:func:`~hume_workflow.aggregate.k_choice.choose_k`) and the K of the best vote ACC.

Cases: ``syn<K>`` (``gaussian_two_spaces``, K in 3, 6, 12, 20); ``digits<C>`` (results/digits,
phi1 = efficientnet_lite0, phi2 = pixels, the samples of classes 0..C-1, C in 3, 5, 7, 10);
``fmnist<C>`` (the same spaces of a Fashion-MNIST subset, C in 4, 6, 10). The Fashion-MNIST
features come from the workflow's preset, in a directory of its own (``--fashion`` names its
results/fashion_mnist), with an override config holding ``dataset: {name: fashion_mnist,
source: fashion_mnist, num_classes: 10, local_root: /usr/share/datasets/fashion-mnist,
max_samples: 3000}`` and ``setting: transductive``::

    snakemake -s Snakefile --cores 2 --configfile config/fashion_mnist.yaml override.yaml \\
        --until extract_embeddings

As each case finishes, its rows are appended to benchmarks/out/k_selection.csv (case, true_k,
k, the criteria, vote_clusters, vote_acc, vote_ari, wall_s) and k_selection_choice.csv (case,
true_k, the K each criterion picks, best_acc_k); earlier rows of the cases being run are
dropped first. Both files are printed as markdown tables at the end. With ``--method turtle``
the files are k_selection_turtle.csv and k_selection_turtle_choice.csv (``--out`` +
``_turtle``; ``--quick`` adds ``_quick``), each with a first column ``method``.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import yaml
from sklearn.metrics import adjusted_rand_score
from threadpoolctl import threadpool_limits

from hume_workflow.aggregate.alignment import majority_vote
from hume_workflow.aggregate.k_choice import k_evidence, silhouette_rows
from hume_workflow.aggregate.k_pick import choose_k
from hume_workflow.aggregate.metrics import cluster_accuracy
from hume_workflow.aggregate.ranking import select_top
from hume_workflow.choices import K_CRITERIA
from hume_workflow.data.synthetic import gaussian_two_spaces
from hume_workflow.formats.embeddings import read_spaces
from hume_workflow.formats.io import read_h5
from hume_workflow.formats.run import RunRecord
from hume_workflow.hume.config import HumeConfig, ScoreConfig
from hume_workflow.hume.runs import execute_runs
from hume_workflow.turtle import runs as turtle_runs
from hume_workflow.turtle.config import TurtleConfig

#: The demo's budget (config/config.yaml ``hume:``); inner_form and the rest at their defaults.
DEMO_BUDGET = {  # the demo's budget: config/config.yaml's hume: section
    key: tuple(value) if isinstance(value, list) else value
    for key, value in yaml.safe_load(
        (Path(__file__).parents[1] / "config" / "config.yaml").read_text()
    )["hume"].items()
}
QUICK_BUDGET = {**DEMO_BUDGET, "num_iters": 20, "anneal_milestones": (10, 15), "num_subsets": 2}
QUICK_TURTLE_ITERS = 20  # --quick --method turtle without --turtle-iters
PHI1, PHI2 = "efficientnet_lite0", "pixels"  # the direction of the real cases
# THREADS: one by default. On a 2-core machine shared with other jobs, scikit-learn's 2-thread
# OpenMP made one generalisation score of digits (1,797 x 64, K = 10) take 103 s against
# 0.7 s with one thread (threadpool_limits(1)).

Data = tuple[np.ndarray, np.ndarray, np.ndarray]  # phi1 (N, d1), phi2 (N, d2), truth (N,)


@dataclass(frozen=True)
class Case:
    """A dataset with a known K and the grid of K that HUME is run with."""

    name: str
    true_k: int
    grid: tuple[int, ...]
    load: Callable[[argparse.Namespace], Data]


def synthetic(k: int) -> Callable[[argparse.Namespace], Data]:
    """``gaussian_two_spaces`` with its defaults and max(60, 1200 // K) samples per class."""
    return lambda args: gaussian_two_spaces(k, max(60, 1200 // k))


def workflow_spaces(results_arg: str, classes: int) -> Callable[[argparse.Namespace], Data]:
    """A workflow's results/<dataset>/ (``--<results_arg>``): phi1, phi2 and the labels of the
    samples whose class is below ``classes``."""

    def load(args: argparse.Namespace) -> Data:
        root = Path(getattr(args, results_arg))
        data = root / "data.h5"
        phi1, phi2 = read_spaces(data, [root / "embeddings" / f"{n}.h5" for n in (PHI1, PHI2)])
        truth = read_h5(data, ["labels"])[0]["labels"].astype(np.int64)
        keep = truth < classes
        return phi1[keep], phi2[keep], truth[keep]

    return load


CASES = {
    case.name: case
    for case in [
        Case("syn3", 3, (2, 3, 4, 6), synthetic(3)),
        Case("syn6", 6, (3, 5, 6, 7, 10), synthetic(6)),
        Case("syn12", 12, (6, 11, 12, 13, 18), synthetic(12)),
        Case("syn20", 20, (10, 19, 20, 21, 30), synthetic(20)),
        Case("digits10", 10, (5, 9, 10, 11, 15), workflow_spaces("digits", 10)),
        Case("digits3", 3, (2, 3, 4, 6), workflow_spaces("digits", 3)),
        Case("digits5", 5, (3, 4, 5, 6, 8), workflow_spaces("digits", 5)),
        Case("digits7", 7, (4, 6, 7, 8, 11), workflow_spaces("digits", 7)),
        Case("fmnist10", 10, (5, 9, 10, 11, 15), workflow_spaces("fashion", 10)),
        Case("fmnist4", 4, (2, 3, 4, 5, 8), workflow_spaces("fashion", 4)),
        Case("fmnist6", 6, (3, 5, 6, 7, 10), workflow_spaces("fashion", 6)),
    ]
}


def method_runs(method: str, data: Data, k: int, runs: int, budget: dict) -> list[RunRecord]:
    """The runs of ``method`` at K with seeds 0..runs-1, transductively, in one call (one
    stacked batch): HUME at ``budget`` (HumeConfig's fields), TURTLE on the task (phi1, phi2)
    at ``budget`` (TurtleConfig's fields: num_iters)."""
    phi1, phi2, truth = data
    split = np.zeros(len(truth), dtype=np.int64)  # transductive: every sample is fitted on
    seeds = list(range(runs))
    if method == "turtle":
        config = TurtleConfig(num_classes=k, **budget)
        return turtle_runs.execute_runs(
            [phi1, phi2], split, "transductive", config, seeds, ("phi1", "phi2"), progress=False
        )
    config = HumeConfig(num_classes=k, **budget)
    return execute_runs(
        phi1, phi2, split, "transductive", config, seeds, ScoreConfig(), progress=False
    )


def evaluate_k(
    data: Data, k: int, runs: int, budget: dict, method: str = "hume"
) -> dict[str, float]:
    """``method`` (HUME or TURTLE) at K with seeds 0..runs-1: the criteria, the vote's clusters,
    ACC and ARI, the wall time, and the runs' labels ("labels", (runs, n)) and the vote's
    ("vote", (n,)) of the samples in order."""
    _, phi2, truth = data
    start = time.perf_counter()
    records = method_runs(method, data, k, runs, budget)
    infos = {r.seed: r for r in records}
    order = select_top({seed: info.score for seed, info in infos.items()}, None)
    vote, _ = majority_vote(np.stack([infos[seed].labels for seed in order]), k)
    evaluated = records[0].eval_indices  # every sample, the same for every run
    evidence = k_evidence(infos, vote, phi2[evaluated][silhouette_rows(len(vote))], k)
    return {
        **{c: evidence[c] for c in K_CRITERIA},
        "vote_clusters": len(np.unique(vote)),
        "vote_acc": cluster_accuracy(vote, truth[evaluated]),
        "vote_ari": float(adjusted_rand_score(truth[evaluated], vote)),
        "wall_s": time.perf_counter() - start,
        "labels": np.stack([record.labels for record in records]),
        "vote": vote,
    }


def replace_rows(path: Path, cases: list[str]) -> None:
    """Drop the rows of ``cases`` from the CSV at ``path`` (if any), so that they are rerun."""
    if path.exists():
        table = pd.read_csv(path)
        table = table[~table["case"].isin(cases)]
        if table.empty:
            path.unlink()
        else:
            table.to_csv(path, index=False)


def append_rows(path: Path, rows: list[dict]) -> None:
    """Add ``rows`` to the CSV at ``path`` (created when missing; columns matched by name)."""
    table = pd.DataFrame(rows)
    if path.exists():
        table = pd.concat([pd.read_csv(path), table], ignore_index=True)
    table.to_csv(path, index=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="+", choices=list(CASES), default=None)
    parser.add_argument("--runs", type=int, default=8, help="seeds per K (0, 1, ...)")
    parser.add_argument("--quick", action="store_true", help="syn3, K 2..4, 3 short runs")
    parser.add_argument("--digits", default="results/digits", help="the demo's results")
    parser.add_argument(
        "--fashion", default="results/fashion_mnist", help="the Fashion-MNIST subset's results"
    )
    parser.add_argument("--out", default="benchmarks/out/k_selection", help="CSV path prefix")
    parser.add_argument("--grid", help="comma-separated K for every case (default: each case's)")
    parser.add_argument("--threads", type=int, default=1, help="torch, BLAS and OpenMP threads")
    parser.add_argument("--method", choices=("hume", "turtle"), default="hume")
    parser.add_argument(
        "--turtle-iters",
        type=int,
        default=None,
        help=f"TURTLE's outer iterations (default {TurtleConfig.num_iters}; --quick: "
        f"{QUICK_TURTLE_ITERS})",
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    threadpool_limits(args.threads)  # scikit-learn's too; see THREADS
    budget, cases = DEMO_BUDGET, [CASES[name] for name in args.cases or CASES]
    if args.grid:
        grid = tuple(int(k) for k in args.grid.split(","))
        cases = [replace(case, grid=grid) for case in cases]
    if args.quick:
        budget, args.runs = QUICK_BUDGET, 3
        cases = [Case("syn3", 3, (2, 3, 4), synthetic(3))]
    tag = {}  # the method column: TURTLE's files alone, so that HUME's stay as they were
    if args.method == "turtle":
        default_iters = QUICK_TURTLE_ITERS if args.quick else TurtleConfig.num_iters
        iters = default_iters if args.turtle_iters is None else args.turtle_iters
        budget = {"num_iters": iters}
        tag = {"method": "turtle"}
        args.out += "_turtle"
    if args.quick:
        args.out += "_quick"
    per_k, choice = Path(f"{args.out}.csv"), Path(f"{args.out}_choice.csv")
    per_k.parent.mkdir(parents=True, exist_ok=True)
    for path in (per_k, choice):
        replace_rows(path, [case.name for case in cases])

    total = time.perf_counter()
    for case in cases:
        data = case.load(args)
        print(f"{case.name}: {len(data[2])} samples, true K {case.true_k}", flush=True)
        rows = []
        for k in case.grid:
            row = evaluate_k(data, k, args.runs, budget, args.method)
            scalars = {c: v for c, v in row.items() if c not in ("labels", "vote")}
            rows.append({**tag, "case": case.name, "true_k": case.true_k, "k": k, **scalars})
            values = " ".join(f"{c} {row[c]:.3f}" for c in K_CRITERIA)
            print(
                f"  K {k:3d}: {values} | ACC {row['vote_acc']:.3f} ARI {row['vote_ari']:.3f}"
                f" | {row['wall_s']:.0f} s",
                flush=True,
            )
        append_rows(per_k, rows)
        table = {row["k"]: row for row in rows}
        picked = {c: choose_k(table, c) for c in K_CRITERIA}
        best_acc = max(sorted(table), key=lambda k: table[k]["vote_acc"])
        append_rows(
            choice,
            [{**tag, "case": case.name, "true_k": case.true_k, **picked, "best_acc_k": best_acc}],
        )
        print(f"{case.name}: picked {picked}, best vote ACC at K {best_acc}", flush=True)
    print(f"total {time.perf_counter() - total:.0f} s\n")
    print(pd.read_csv(per_k).round(3).to_markdown(index=False), "\n")
    print(pd.read_csv(choice).to_markdown(index=False))


if __name__ == "__main__":
    main()
