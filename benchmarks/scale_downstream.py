"""Every stage after the runs, at a chosen scale: wall time and peak memory against the request.

    python benchmarks/scale_downstream.py --shape demo                 # seconds
    python benchmarks/scale_downstream.py --shape demo imagenet --baseline-rows 100000
                                                                      # docs/performance.md

A shape is (K, labelled samples N, runs, fit rows, phi2's width d). ``imagenet`` is the
ImageNet preset's downstream: K 1000, the 50,000 validation images labelled (inductive), 100
runs, phi2 2048-d, with 10,000 fit rows standing for the 1.28 M (no stage after the runs reads
them but the baselines, whose rows are ``--baseline-rows``). ``demo``: K 10, the 1,797 digits,
24 runs, 64-d. ``medium``: K 100, 10,000 samples, 50 runs, 512-d.

For each shape tests/downstream_tree.py writes a results tree under
``benchmarks/out/scale/<shape>/`` with the project's own writers: data.h5, phi2's embedding
file (Gaussian clusters around the classes) and run files whose labels are the truth under a
random permutation with 20-40 % of them replaced at random, scores tracking their accuracy.
Then each stage runs in a fresh Python process as its rule's script calls the library, in
the workflow's order: select_runs, majority_vote, evaluate_task (1000 resamples, the rule's
two workers where the model gives them), choose_k, export_labels, recommend, write_report and,
with ``--baseline-rows``, compute_baselines on that many rows of phi2's width with K classes
(a fifth of them the test split). Peak memory is the resident set of the stage's process
tree, sampled every 50 ms (as Snakemake's benchmark files sample it); the request is its
rule's for that shape (the request models of report/, aggregate/ and plan/resources.py, or the
rule's constant).

Prints a markdown table and writes benchmarks/out/scale_downstream.csv. Run it on a quiet
machine; its seconds are comparable only with figures taken the same way.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from dataclasses import asdict
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from downstream_tree import (  # noqa: E402
    STAGES,
    Shape,
    build_baseline_tree,
    build_tree,
    run_stage,
)

from hume_workflow.aggregate.resources import choose_k_request  # noqa: E402
from hume_workflow.plan.resources import baseline_request  # noqa: E402
from hume_workflow.report.resources import (  # noqa: E402
    EVALUATE_THREADS,
    evaluate_request,
    evaluate_workers,
)
from hume_workflow.report.uncertainty import Bootstrap  # noqa: E402

OUT = Path(__file__).parent / "out"

SHAPES = {
    "demo": Shape(num_classes=10, n_eval=1797, runs=24, n_fit=0, dim=64),
    "imagenet": Shape(num_classes=1000, n_eval=50000, runs=100, n_fit=10000, dim=2048),
    "medium": Shape(num_classes=100, n_eval=10000, runs=50, n_fit=0, dim=512),
}


def fixed_requests() -> dict[str, int]:
    """{rule: mem_mb} of the rules whose request is a constant, read from workflow/rules."""
    found = {}
    for path in (REPO / "workflow" / "rules").glob("*.smk"):
        for block in path.read_text().split("\nrule ")[1:]:
            name, mem = block.split(":", 1)[0], re.search(r"mem_mb=(\d+),", block)
            if mem:
                found[name] = int(mem.group(1))
    return found


def requested_mb(stage: str, shape: Shape, baseline_rows: int) -> int | None:
    """The mem_mb the stage's rule requests at ``shape``: its model's, or its constant."""
    if stage == "evaluate_task":
        uncertainty = {"resamples": Bootstrap().resamples}
        workers = evaluate_workers(EVALUATE_THREADS, shape.n_eval, shape.runs, uncertainty)
        request = evaluate_request(
            shape.n_eval, shape.runs, shape.num_classes, uncertainty, workers
        )
    elif stage == "choose_k":
        request = choose_k_request(shape.n_eval, shape.runs, [shape.num_classes], shape.dim)
    elif stage == "compute_baselines":
        request = baseline_request(baseline_rows, shape.dim, shape.num_classes)
    else:
        return fixed_requests().get(stage)
    return request["mem_mb"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shape", nargs="+", default=["demo"], choices=sorted(SHAPES))
    parser.add_argument("--stages", nargs="+", default=list(STAGES), choices=list(STAGES))
    parser.add_argument("--baseline-rows", type=int, default=0)
    args = parser.parse_args()
    stages = [s for s in args.stages if s != "compute_baselines" or args.baseline_rows]
    rows = []
    for name in args.shape:
        shape, root = SHAPES[name], OUT / "scale" / name
        start = time.perf_counter()
        build_tree(root, shape)
        if args.baseline_rows:
            build_baseline_tree(root, args.baseline_rows, shape.dim, shape.num_classes)
        print(f"{name}: tree built in {time.perf_counter() - start:.0f} s ({asdict(shape)})")
        for stage in stages:
            found = run_stage(stage, root, shape)
            request = requested_mb(stage, shape, args.baseline_rows)
            rows.append({"shape": name, "stage": stage, **found, "request_mb": request})
            print(f"  {stage}: {found['seconds']:.1f} s, peak {found['peak_mb']:.0f} MB")
    table = pd.DataFrame(rows)
    OUT.mkdir(exist_ok=True)
    table.to_csv(OUT / "scale_downstream.csv", index=False)
    print(table.to_markdown(index=False, floatfmt=".1f"))


if __name__ == "__main__":
    main()
