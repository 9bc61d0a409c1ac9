"""Held-out accuracy of labelling new images with a finished pair: probe on phi2 vs encoders.

    python benchmarks/predict_heldout.py                        # digits (the demo's spaces)
    python benchmarks/predict_heldout.py --case fashion_mnist=/tmp/fm/results/fashion_mnist

A case is a results folder with data.h5 and embeddings/{pixels,efficientnet_lite0}.h5 (the
demo's, or the Fashion-MNIST preset's on a subset). HUME runs on the train split only (the
"dataset": every train sample is labelled by the vote of all runs), with the demo's budget;
the test split plays the new images. Each way of labelling them (hume_workflow.predict.assign:
``probe`` unweighted and weighted by agreement, ``encoders``) is scored by Hungarian-matched
ACC against the test truth, beside the vote's own ACC on the train split. Both directions of
the two spaces. Prints a markdown table and writes benchmarks/out/predict_heldout.csv.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from threadpoolctl import threadpool_limits

from hume_workflow.aggregate.alignment import majority_vote
from hume_workflow.aggregate.metrics import cluster_accuracy
from hume_workflow.aggregate.ranking import select_top
from hume_workflow.formats.dataset import TEST, TRAIN
from hume_workflow.formats.embeddings import read_spaces
from hume_workflow.formats.io import read_h5
from hume_workflow.hume.config import HumeConfig, ScoreConfig
from hume_workflow.hume.runs import execute_runs
from hume_workflow.predict.assign import encoder_labels, probe_labels

DEMO = Path(__file__).parents[1] / "config" / "config.yaml"  # its hume: section, the budget
SPACES = ("pixels", "efficientnet_lite0")


def one_direction(case: str, results: Path, phi1_name: str, phi2_name: str, runs: int) -> dict:
    """Fit on the train split, label the test split three ways; the row of the table."""
    data = results / "data.h5"
    phi1, phi2 = read_spaces(data, [results / f"embeddings/{n}.h5" for n in (phi1_name, phi2_name)])
    arrays = read_h5(data, ["labels", "split"])[0]
    truth, split = arrays["labels"], arrays["split"]
    train, test = np.flatnonzero(split == TRAIN), np.flatnonzero(split == TEST)
    k = len(np.unique(truth))
    start = time.perf_counter()
    records = execute_runs(
        phi1[train],
        phi2[train],
        np.zeros(len(train), np.uint8),
        "transductive",
        HumeConfig.from_config(k, yaml.safe_load(DEMO.read_text())["hume"]),
        list(range(runs)),
        ScoreConfig(),
        progress=False,
    )
    order = select_top({r.seed: r.score for r in records}, None)
    by_seed = {r.seed: r for r in records}
    labelings = np.stack([by_seed[s].labels for s in order])
    votes, agreement = majority_vote(labelings, k)
    probe, _ = probe_labels(phi2[train], votes, phi2[test])
    weighted, _ = probe_labels(phi2[train], votes, phi2[test], weights=agreement)
    encoders, _ = encoder_labels(
        [by_seed[s].encoders for s in order], list(labelings), votes, {"phi1": phi1[test]}, k
    )
    return {
        "case": case,
        "phi1": phi1_name,
        "phi2": phi2_name,
        "n_train": len(train),
        "n_test": len(test),
        "runs": runs,
        "vote_acc_train": cluster_accuracy(votes, truth[train]),
        "probe_acc_test": cluster_accuracy(probe, truth[test]),
        "probe_weighted_acc_test": cluster_accuracy(weighted, truth[test]),
        "encoders_acc_test": cluster_accuracy(encoders, truth[test]),
        "wall_s": time.perf_counter() - start,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--case",
        action="append",
        default=None,
        help="name=results folder (default: digits=results/digits)",
    )
    parser.add_argument("--runs", type=int, default=8)
    args = parser.parse_args()
    cases = dict(c.split("=", 1) for c in (args.case or ["digits=results/digits"]))
    rows = []
    for case, folder in cases.items():
        for phi1_name, phi2_name in (SPACES, SPACES[::-1]):
            with threadpool_limits(1):  # BLAS/OpenMP threads fight on a busy machine
                rows.append(one_direction(case, Path(folder), phi1_name, phi2_name, args.runs))
            print(rows[-1], flush=True)
    table = pd.DataFrame(rows)
    out = Path(__file__).parent / "out" / "predict_heldout.csv"
    out.parent.mkdir(exist_ok=True)
    table.to_csv(out, index=False)
    print(table.to_markdown(index=False, floatfmt=".3f"))


if __name__ == "__main__":
    main()
