"""The paper's reported numbers (HUME, NeurIPS 2023; ACC / ARI in %), shown beside ours."""

from __future__ import annotations

import pandas as pd

from hume_workflow.report.names import row_title

# (ACC, ARI) per dataset, None where not reported; phi1 is MoCo v2 trained on the target data
DATASETS = ("stl10", "cifar10", "cifar100_20", "imagenet")
_ROWS = """
MoCo supervised linear probe | 88.9 77.7 | 89.5 79.0 | 72.5 52.6 | -
HUME MoCo + BiT              | 90.3 80.5 | 86.6 75.0 | 48.8 34.5 | -
HUME MoCo + CLIP             | 92.2 84.1 | 88.9 78.3 | 50.1 34.8 | -
HUME MoCo + DINOv2           | 93.2 86.0 | 89.2 79.2 | 56.7 39.6 | 51.1 38.1
SCAN                         | 77.8 61.3 | 83.3 70.5 | 45.4 29.7 | 39.7 27.9
SPICE                        | 86.2 73.2 | 84.5 70.9 | 46.8 32.1 | -
TWIST                        | -         | -         | -         | 40.6 30.0
Self-classifier              | -         | -         | -         | 41.1 29.5
"""
REPORTED = {
    cells[0].strip(): {
        name: tuple(float(v) for v in cell.split())
        for name, cell in zip(DATASETS, cells[1:], strict=True)
        if cell.strip() != "-"
    }
    for cells in (line.split("|") for line in _ROWS.strip().splitlines())
}


def reported_beside_ours(dataset: str, summary: pd.DataFrame) -> pd.DataFrame | None:
    """The paper's rows for ``dataset`` then ours (vote ACC/ARI per task, named with its
    method, in %, with the
    vote ACC's interval where the summary has it: ``acc_pct_low``, ``acc_pct_high``); None when
    the paper reports nothing for it or our data has no truth."""
    key = dataset.lower().replace("-", "_")
    rows = [
        {"method": method, "source": "paper", "acc_pct": acc, "ari_pct": ari}
        for method, numbers in REPORTED.items()
        if key in numbers
        for acc, ari in [numbers[key]]
    ]
    if not rows or "vote_acc" not in summary.columns:
        return None
    for _, pair in summary.iterrows():
        rows.append(
            {
                "method": f"{row_title(pair)} (vote)",
                "source": "this run",
                "acc_pct": 100 * pair.vote_acc,
                "ari_pct": 100 * pair.vote_ari,
                **{
                    f"acc_pct_{end}": 100 * pair[f"vote_acc_{end}"]
                    for end in ("low", "high")
                    if pd.notna(pair.get(f"vote_acc_{end}"))
                },
            }
        )
    return pd.DataFrame(rows)
