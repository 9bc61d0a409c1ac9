"""Coverage and ACC of labels.csv's reliable samples against the agreement threshold.

    python benchmarks/reliable_agreement.py results/digits     # a finished workflow's results

Per (phi1, phi2) pair of the results (``hume/<phi1>--<phi2>/vote.csv``, the vote of the pair's
chosen K) and per threshold t in 0.5, 0.6, ..., 1.0: the labels ``export_labels`` writes at t
(:func:`hume_workflow.aggregate.export.export_labels`), their coverage (the share flagged
reliable) and the ACC of the reliable ones, as the report computes them
(:func:`hume_workflow.report.evaluate.reliable_metrics`: clusters matched to classes on every
sample, then the reliable ones scored), and the ACC of the rest. The first row (t = 0) is the
whole vote. Printed as one markdown table, with the supervised linear probe of each space
(``baselines/<space>.json``) beside it: the ceiling the reliable labels are held to.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from hume_workflow.aggregate.export import export_labels
from hume_workflow.formats.io import read_h5, read_json
from hume_workflow.report.evaluate import reliable_metrics

THRESHOLDS = (0.0, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)


def measure(results: Path) -> pd.DataFrame:
    """One row per (pair, threshold): coverage, ACC of the reliable and of the other samples."""
    truth = read_h5(results / "data.h5", ["labels"])[0]["labels"]
    rows = []
    for vote_path in sorted(results.glob("hume/*--*/vote.csv")):
        phi1, phi2 = vote_path.parent.name.split("--")
        votes = pd.read_csv(vote_path)
        pair_truth = truth[votes.sample_index.to_numpy()]
        probes = [
            read_json(results / f"baselines/{s}.json")["linear_probe_acc"] for s in (phi1, phi2)
        ]
        for t in THRESHOLDS:
            labels = export_labels(vote_path, results / "data.h5", t)
            reliable = labels.reliable.to_numpy()
            got = reliable_metrics(labels.label.to_numpy(), reliable, pair_truth)
            rest = reliable_metrics(labels.label.to_numpy(), ~reliable, pair_truth)
            rows.append(
                {
                    "pair": f"{phi1} → {phi2}",
                    "threshold": t,
                    "reliable": int(reliable.sum()),
                    "coverage": got["reliable_coverage"],
                    "reliable_acc": got["reliable_acc"],
                    "rest_acc": rest["reliable_acc"],
                    "probe_acc_phi1": probes[0],
                    "probe_acc_phi2": probes[1],
                }
            )
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("results", type=Path, help="results/<dataset> of a finished workflow")
    table = measure(parser.parse_args().results)
    print(table.to_markdown(index=False, floatfmt=".3f", missingval="n/a"))


if __name__ == "__main__":
    main()
