"""The recommendation rule (aggregate/recommend.py) measured on the K-selection cases, HUME
against TURTLE: does the label-free pick between the two methods' answers take the better one?

    python benchmarks/k_selection.py --cases syn3 syn6 digits3 digits5 digits7 digits10
    python benchmarks/k_selection.py --method turtle --turtle-iters 1000 --cases syn3 syn6 ...
    python benchmarks/recommend_cases.py

Reads benchmarks/out/k_selection{,_turtle}{,_choice}.csv. Per case, each method's answer is
its K picked by ``k_choice``'s default criterion (stability) with that K's run agreement,
kappa and vote ACC; the rule's pick (:func:`hume_workflow.aggregate.recommend.best`: the
higher run agreement, then kappa) is compared with the answer of higher ACC (``acc_lost``: the
vote ACC it gave up, 0 when it took the better answer or one as good). Prints a
markdown table and writes benchmarks/out/recommend_cases.csv.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from hume_workflow.aggregate.recommend import Candidate, best
from hume_workflow.choices import K_CRITERIA

OUT = Path(__file__).parent / "out"
CRITERION = K_CRITERIA[0]  # the schema's default, stability


def answers(per_k: Path, choice: Path, method: str) -> pd.DataFrame:
    """Per case: the K the default criterion picked and that K's stability, kappa and ACC."""
    ks, picked = pd.read_csv(per_k), pd.read_csv(choice)
    rows = []
    for _, pick in picked.iterrows():
        row = ks[(ks.case == pick.case) & (ks.k == pick[CRITERION])].iloc[0]
        rows.append(
            {
                "case": pick.case,
                "true_k": pick.true_k,
                f"{method}_k": int(row.k),
                f"{method}_stability": row.stability,
                f"{method}_kappa": row.kappa,
                f"{method}_acc": row.vote_acc,
            }
        )
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    hume = answers(OUT / "k_selection.csv", OUT / "k_selection_choice.csv", "hume")
    turtle = answers(
        OUT / "k_selection_turtle.csv", OUT / "k_selection_turtle_choice.csv", "turtle"
    )
    table = hume.merge(turtle, on=["case", "true_k"])
    picks = []
    for _, row in table.iterrows():
        candidates = [
            Candidate(m, [], row[f"{m}_k"], row[f"{m}_stability"], row[f"{m}_kappa"])
            for m in ("hume", "turtle")
        ]
        picked = candidates[best(candidates)].method
        acc = {m: row[f"{m}_acc"] for m in ("hume", "turtle")}
        lost = max(acc.values()) - acc[picked]  # 0 when it took the better (or an equal) one
        picks.append({"recommended": picked, "acc_lost": lost, "took_better": lost == 0})
    table = pd.concat([table, pd.DataFrame(picks)], axis=1)
    print(table.to_markdown(index=False, floatfmt=".3f"))
    took = int(table.took_better.sum())
    print(f"\nthe rule took the answer of higher (or equal) ACC in {took} of {len(table)} cases")
    table.to_csv(args.out / "recommend_cases.csv", index=False)


if __name__ == "__main__":
    main()
