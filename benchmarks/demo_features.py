"""Is full-width EfficientNet-Lite0 as cheap as its PCA-64 for the demo's HUME runs?

    python benchmarks/demo_features.py --pca results/digits --full /tmp/dfull/results/digits

Two workflow results of digits: the demo's (EfficientNet-Lite0 at PCA-64) and one whose
EfficientNet-Lite0 keeps all 1,280 features (the demo's config without ``pca_dim``, run
``--until extract_embeddings``). For each, in both directions, ``--runs`` seeds run together
(as one job of ``compute.runs_per_job`` runs) at the demo's budget on one thread: the wall
time per run (training and score), the inner form (``auto``'s pick; and ``gram`` forced at
full width), the mean run ACC, the clusters used and the collapsed runs. Writes
benchmarks/out/demo_features.csv.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from run_pool import DEMO_BUDGET  # benchmarks/run_pool.py
from threadpoolctl import threadpool_limits

from hume_workflow.aggregate.collapse import collapsed
from hume_workflow.aggregate.metrics import cluster_accuracy
from hume_workflow.formats.embeddings import read_spaces
from hume_workflow.formats.io import read_h5
from hume_workflow.hume.config import HumeConfig
from hume_workflow.hume.inner_forms import pick_inner_form
from hume_workflow.hume.runs import execute_runs

NAMES = ("pixels", "efficientnet_lite0")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pca", default="results/digits", help="the demo's results/digits")
    parser.add_argument("--full", required=True, help="results/digits with 1,280-d features")
    parser.add_argument("--runs", type=int, default=8)
    args = parser.parse_args()
    torch.set_num_threads(1)
    threadpool_limits(1)
    rows = []
    cases = [("PCA-64", args.pca, "auto"), ("full 1280", args.full, "auto")]
    cases.append(("full 1280", args.full, "gram"))
    for width, root, inner_form in ((w, Path(r), f) for w, r, f in cases):
        spaces = dict(
            zip(
                NAMES,
                read_spaces(root / "data.h5", [root / "embeddings" / f"{n}.h5" for n in NAMES]),
                strict=True,
            )
        )
        truth = read_h5(root / "data.h5", ["labels"])[0]["labels"].astype(np.int64)
        for phi1, phi2 in (NAMES, NAMES[::-1]):
            config = HumeConfig(num_classes=10, **DEMO_BUDGET, inner_form=inner_form)
            x1, x2 = spaces[phi1], spaces[phi2]
            form = pick_inner_form(
                inner_form,
                config.hypergradient,
                len(truth),
                config.subset_size,
                config.train_fraction,
                x2.shape[1],
            )
            start = time.perf_counter()
            records = execute_runs(
                x1,
                x2,
                np.zeros(len(truth), dtype=np.int64),
                "transductive",
                config,
                list(range(args.runs)),
                progress=False,
            )
            wall = time.perf_counter() - start
            labels = [r.labels for r in records]
            rows.append(
                {
                    "effnet": width,
                    "phi1": phi1,
                    "phi2": phi2,
                    "inner_form": form,
                    "s_per_run": wall / args.runs,
                    "run_acc_mean": float(np.mean([cluster_accuracy(y, truth) for y in labels])),
                    "clusters_used_mean": float(np.mean([len(np.unique(y)) for y in labels])),
                    "collapsed": sum(collapsed(y, 10) for y in labels),
                    "runs": args.runs,
                }
            )
            print(rows[-1], flush=True)
    table = pd.DataFrame(rows)
    table.to_csv(Path(__file__).parent / "out" / "demo_features.csv", index=False)
    print(table.to_markdown(index=False, floatfmt=".3f"))


if __name__ == "__main__":
    main()
