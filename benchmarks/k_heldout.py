"""Choosing K on data it was not tuned on: random class subsets, a development and a held-out half.

    python benchmarks/k_heldout.py --fashion /tmp/kfm/results/fashion_mnist --shard 0/2 &
    python benchmarks/k_heldout.py --fashion /tmp/kfm/results/fashion_mnist --shard 1/2
    python benchmarks/k_heldout.py --analyse          # the tables, from the stored runs

The sweep draws ``--cases`` class subsets per source with a fixed seed (``SPLIT_SEED``): the
true K uniform in 3..8, the classes uniform among the 10, ``--per-class`` images of each.
Sources: ``digits`` (results/digits, the demo's features) and ``fmnist`` (``--fashion``: a
Fashion-MNIST subset's results, made as in benchmarks/k_selection.py's docstring). The same
seed splits each source's cases into a development half and a held-out half. Each case runs
HUME at the demo's budget (config/config.yaml ``hume:``), transductively, ``--runs`` seeds per
K of the grid (2..12), in both directions of the demo's spaces (``fwd``: phi1 =
efficientnet_lite0, phi2 = pixels; ``rev``: the other way round). A case's runs (every run's
labels, the vote, the criteria of aggregate/k_choice.py, the vote's ACC) go to
benchmarks/out/k_heldout/<case>.npz as it finishes; a case already there is not rerun, so a
sweep cut short resumes. ``--shard i/n`` runs every n-th case from the i-th, for n processes.

``--analyse`` reads the stored cases and computes every candidate from them
(:func:`case_tables`: the workflow's criteria per direction, ``ami_stability``,
``consensus``, ``stability_prominence``, and candidates that combine the two directions), the
K each picks at two levels (a pair's pick, one per direction, as ``k_choice.criterion``; the
dataset's answer, one per case, as the workflow's recommendation), and the exact, within-one
and true-number-of-classes rates with 95 % intervals (percentile bootstrap over cases,
``BOOTSTRAP`` resamples) on the development and the held-out half. The best of each level is
the one with the highest development rate (ties to what the workflow ships); the
not-identified threshold (aggregate/k_choice.py ``AGREEMENT_MIN``) is chosen on the
development half too. Tables print as markdown and go to benchmarks/out/k_heldout*.csv.
Results: docs/choosing_k.md, "On data it was not tuned on".
"""

from __future__ import annotations

import argparse
import itertools
import math
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from k_selection import DEMO_BUDGET, evaluate_k, workflow_spaces
from sklearn.metrics import adjusted_mutual_info_score
from threadpoolctl import threadpool_limits

from hume_workflow.aggregate.k_choice import stability
from hume_workflow.aggregate.k_pick import choose_k
from hume_workflow.choices import K_CRITERIA

SPLIT_SEED = 2023  # draws the cases and splits them into halves; never tuned
SOURCES = ("digits", "fmnist")
TRUE_K = (3, 8)  # the true K of a case: uniform in this range, both ends included
GRID = tuple(range(2, 13))
DIRECTIONS = ("fwd", "rev")
BOOTSTRAP = 10_000
OUT = Path("benchmarks/out/k_heldout")

Table = dict[int, dict[str, float]]  # K -> criterion -> value


@dataclass(frozen=True)
class SubsetCase:
    """A random class subset of one source: its classes, its half, its sample draw's seed."""

    name: str
    source: str
    classes: tuple[int, ...]
    half: str  # "dev" or "heldout"
    index: int

    @property
    def true_k(self) -> int:
        return len(self.classes)


def draw_cases(per_source: int) -> list[SubsetCase]:
    """``per_source`` cases of every source, interleaved (digits-00, fmnist-00, digits-01, ...)
    so that any prefix or shard holds both sources; half of each source's are "dev"."""
    by_source = []
    for s, source in enumerate(SOURCES):
        rng = np.random.default_rng([SPLIT_SEED, s])
        dev = set(rng.permutation(per_source)[: per_source // 2].tolist())
        cases = []
        for i in range(per_source):
            k = int(rng.integers(TRUE_K[0], TRUE_K[1] + 1))
            classes = tuple(sorted(rng.choice(10, k, replace=False).tolist()))
            half = "dev" if i in dev else "heldout"
            cases.append(SubsetCase(f"{source}-{i:02d}", source, classes, half, i))
        by_source.append(cases)
    return [case for pair in zip(*by_source, strict=True) for case in pair]


def case_data(
    case: SubsetCase, spaces: tuple[np.ndarray, np.ndarray, np.ndarray], per_class: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """phi1, phi2 and the truth (0..K-1) of ``per_class`` random samples of each class."""
    phi1, phi2, truth = spaces
    rng = np.random.default_rng([SPLIT_SEED, SOURCES.index(case.source), case.index, 1])
    rows = np.concatenate(
        [rng.permutation(np.flatnonzero(truth == c))[:per_class] for c in case.classes]
    )
    return phi1[rows], phi2[rows], np.searchsorted(case.classes, truth[rows])


def run_case(case: SubsetCase, data, runs: int, path: Path) -> None:
    """Both directions of ``case`` at every K of :data:`GRID`, stored at ``path`` (npz, written
    whole under a temporary name and renamed into place)."""
    phi1, phi2, truth = data
    arrays: dict[str, np.ndarray] = {"truth": truth, "classes": np.array(case.classes)}
    for direction in DIRECTIONS:
        spaces = (phi1, phi2, truth) if direction == "fwd" else (phi2, phi1, truth)
        criteria, acc = [], []
        for k in GRID:
            row = evaluate_k(spaces, k, runs, DEMO_BUDGET)
            arrays[f"{direction}_labels_{k}"] = row["labels"].astype(np.int8)
            arrays[f"{direction}_vote_{k}"] = row["vote"].astype(np.int8)
            criteria.append([row[c] for c in K_CRITERIA])
            acc.append(row["vote_acc"])
            print(
                f"  {case.name} {direction} K {k:2d}: stability {row['stability']:.3f} "
                f"ACC {row['vote_acc']:.3f} | {row['wall_s']:.0f} s",
                flush=True,
            )
        arrays[f"{direction}_criteria"] = np.array(criteria)
        arrays[f"{direction}_acc"] = np.array(acc)
    tmp = path.with_name(f".{path.name}.tmp.npz")
    np.savez_compressed(tmp, **arrays)
    os.replace(tmp, path)


def sweep(args: argparse.Namespace) -> None:
    """Run the cases of this shard that are not stored yet."""
    torch.set_num_threads(1)
    threadpool_limits(1)
    OUT.mkdir(parents=True, exist_ok=True)
    index, count = (int(x) for x in args.shard.split("/"))
    cases = draw_cases(args.cases)[index::count]
    sources = {
        "digits": workflow_spaces("digits", 10)(args),
        "fmnist": workflow_spaces("fashion", 10)(args),
    }
    start = time.perf_counter()
    for case in cases:
        path = OUT / f"{case.name}.npz"
        if path.exists():
            continue
        print(f"{case.name} ({case.half}): classes {case.classes}, K {case.true_k}", flush=True)
        run_case(case, case_data(case, sources[case.source], args.per_class), args.runs, path)
    print(f"shard {args.shard}: {time.perf_counter() - start:.0f} s", flush=True)


# ---- the candidates, computed from the stored runs ------------------------------------------


def ami_stability(labelings: list[np.ndarray]) -> float:
    """Mean adjusted mutual information over every two runs (chance taken out under the
    same marginals, as ARI does, but weighing small clusters more)."""
    pairs = itertools.combinations(labelings, 2)
    return float(np.mean([adjusted_mutual_info_score(a, b) for a, b in pairs]))


def consensus(labelings: list[np.ndarray]) -> float:
    """1 - PAC: the share of sample pairs that every run puts together or every run apart
    (Senbabaoglu et al. 2014's proportion of ambiguous clustering, taken from 1)."""
    together = sum((labels[:, None] == labels[None, :]).astype(np.float32) for labels in labelings)
    share = together / len(labelings)
    n = len(share)
    ambiguous = ((share > 0.1) & (share < 0.9)).sum() / (n * (n - 1))
    return float(1.0 - ambiguous)


def cross_agreement(first: list[np.ndarray], second: list[np.ndarray]) -> float:
    """Mean ARI between a run of one direction and a run of the other."""
    return float(np.mean([stability([a, b]) for a in first for b in second]))


def case_tables(stored: Mapping[str, np.ndarray]) -> dict[str, Table]:
    """Per direction ("fwd", "rev") and for the case ("both"): K -> candidate -> value."""
    runs = {d: {k: list(stored[f"{d}_labels_{k}"]) for k in GRID} for d in DIRECTIONS}
    tables: dict[str, Table] = {}
    for d in DIRECTIONS:
        tables[d] = {}
        for i, k in enumerate(GRID):
            row = dict(zip(K_CRITERIA, stored[f"{d}_criteria"][i].tolist(), strict=True))
            row["ami_stability"] = ami_stability(runs[d][k])
            row["consensus"] = consensus(runs[d][k])
            tables[d][k] = row
        for k in GRID:  # how far stability stands above its neighbours on the grid
            near = [tables[d][j]["stability"] for j in (k - 1, k + 1) if j in tables[d]]
            tables[d][k]["stability_prominence"] = tables[d][k]["stability"] - max(near)
    tables["both"] = {}
    for k in GRID:
        fwd, rev = tables["fwd"][k], tables["rev"][k]
        row = {f"mean_{c}": (fwd[c] + rev[c]) / 2 for c in fwd}
        row["pooled_stability"] = stability(runs["fwd"][k] + runs["rev"][k])
        row["cross_agreement"] = cross_agreement(runs["fwd"][k], runs["rev"][k])
        tables["both"][k] = row
    return tables


def more_agreeing_direction(tables: Mapping[str, Table], criterion: str) -> tuple[str, int]:
    """The direction whose best K has the higher ``criterion``, and that K."""
    peak = {d: max(row[criterion] for row in tables[d].values()) for d in DIRECTIONS}
    direction = max(DIRECTIONS, key=lambda d: peak[d])
    return direction, choose_k(tables[direction], criterion)


def picks(tables: Mapping[str, Table]) -> dict[str, list[tuple[str, int]]]:
    """Candidate -> the (direction, K) it picks: two per case (one per direction) for a
    criterion of one direction, one for a criterion of the case, whose labels are then those
    of the direction whose runs agree more at that K (as the recommendation takes them)."""
    out: dict[str, list[tuple[str, int]]] = {}
    for criterion in tables["fwd"][GRID[0]]:
        out[criterion] = [(d, pick(tables[d], criterion)) for d in DIRECTIONS]
    for criterion in tables["both"][GRID[0]]:
        k = pick(tables["both"], criterion)
        out[criterion] = [(max(DIRECTIONS, key=lambda d: tables[d][k]["stability"]), k)]
    # the workflow's recommendation (aggregate/recommend.py): the direction whose chosen K's
    # runs agree more (its ties to kappa are left out), and the same by kappa_stability
    out["recommended"] = [more_agreeing_direction(tables, "stability")]
    out["agreeing_direction_kappa_stability"] = [more_agreeing_direction(tables, "kappa_stability")]
    return out


def pick(table: Table, criterion: str) -> int:
    """The K with the highest value, ties to the larger K (as aggregate/k_pick.choose_k,
    which accepts only the workflow's criteria)."""
    return max(sorted(table, reverse=True), key=lambda k: table[k][criterion])


def share(hits: list[list[bool]]) -> float:
    """The share of hits over every pick (``hits``: one list of picks per case); NaN
    without picks."""
    picks_made = sum(len(h) for h in hits)
    return sum(map(sum, hits)) / picks_made if picks_made else math.nan


def bootstrap_rate(hits: list[list[bool]], seed: int = 0) -> tuple[float, float, float]:
    """:func:`share` of ``hits`` and its 95 % percentile bootstrap interval over the cases
    (each case's picks resampled together)."""
    counts = np.array([sum(h) for h in hits], dtype=float)
    sizes = np.array([len(h) for h in hits], dtype=float)
    draws = np.random.default_rng(seed).integers(0, len(hits), size=(BOOTSTRAP, len(hits)))
    with np.errstate(invalid="ignore"):  # a resample of cases without picks
        rates = counts[draws].sum(axis=1) / sizes[draws].sum(axis=1)
    low, high = np.nanpercentile(rates, [2.5, 97.5])
    return share(hits), float(low), float(high)


def rate_text(hits: list[list[bool]]) -> str:
    """ "0.45 (0.30-0.60)": the rate and its interval; "-" without picks."""
    if not sum(len(h) for h in hits):
        return "-"
    rate, low, high = bootstrap_rate(hits)
    return f"{rate:.2f} ({low:.2f}-{high:.2f})"


@dataclass
class Picked:
    """One case's candidates' picks, and its runs' agreement at stability's picks."""

    case: SubsetCase
    picks: dict[str, list[int]]
    used: dict[str, list[int]]  # the clusters the vote at each pick uses
    agreement: list[float]  # per direction: stability at the K that stability picks


def exact(rows: list[Picked], criterion: str) -> list[list[bool]]:
    return [[k == r.case.true_k for k in r.picks[criterion]] for r in rows]


def true_classes(rows: list[Picked], criterion: str) -> list[list[bool]]:
    return [[u == r.case.true_k for u in r.used[criterion]] for r in rows]


def within_one(rows: list[Picked], criterion: str) -> list[list[bool]]:
    return [[abs(k - r.case.true_k) <= 1 for k in r.picks[criterion]] for r in rows]


def identification_threshold(rows: list[Picked]) -> float:
    """The agreement below which stability's pick is called not identified: of 0.30, 0.35,
    ..., 0.90, the one that best separates right picks from wrong ones (Youden's J: the
    share of right picks kept minus the share of wrong ones kept; ties to the lower)."""
    right, wrong = [], []
    for r in rows:
        for a, k in zip(r.agreement, r.picks["stability"], strict=True):
            (right if k == r.case.true_k else wrong).append(a)
    grid = np.round(np.arange(0.30, 0.901, 0.05), 2)

    def youden(t: float) -> float:
        kept_right = np.mean([a >= t for a in right]) if right else 0.0
        kept_wrong = np.mean([a >= t for a in wrong]) if wrong else 0.0
        return kept_right - kept_wrong

    return float(max(grid, key=lambda t: (youden(t), -t)))


def analyse(args: argparse.Namespace) -> None:
    """The rates of every candidate on each half, from the stored cases."""
    rows = []
    for case in draw_cases(args.cases):
        path = OUT / f"{case.name}.npz"
        if not path.exists():
            continue
        with np.load(path) as stored:
            tables = case_tables(stored)
            chosen = picks(tables)
            used = {
                c: [len(np.unique(stored[f"{d}_vote_{k}"])) for d, k in dk]
                for c, dk in chosen.items()
            }
        agreement = [tables[d][k]["stability"] for d, k in chosen["stability"]]
        ks = {c: [k for _, k in dk] for c, dk in chosen.items()}
        rows.append(Picked(case, ks, used, agreement))
    halves = {half: [r for r in rows if r.case.half == half] for half in ("dev", "heldout")}
    print(f"cases: {len(halves['dev'])} development, {len(halves['heldout'])} held out\n")
    summary = []
    for criterion in rows[0].picks:
        line = {"criterion": criterion, "picks per case": len(rows[0].picks[criterion])}
        for half, group in halves.items():
            line[f"{half} exact"] = rate_text(exact(group, criterion))
            line[f"{half} within one"] = rate_text(within_one(group, criterion))
            line[f"{half} labels of K classes"] = rate_text(true_classes(group, criterion))
            line[f"{half}_rate"] = share(exact(group, criterion))
            line[f"{half}_near"] = share(within_one(group, criterion))
        summary.append(line)
    summary = pd.DataFrame(summary).sort_values(["dev_rate", "dev_near"], ascending=False)
    held = halves["heldout"]
    # Two levels, two choices: a pair's K (one pick per direction; the workflow's
    # k_choice.criterion, shipped: stability) and the dataset's answer (one pick per case; the
    # workflow's recommendation, shipped: the direction whose runs agree more)
    for level, per_case, shipped in (("pair", 2, "stability"), ("dataset", 1, "recommended")):
        group = summary[summary["picks per case"] == per_case]
        group = group.assign(shipped=group["criterion"] == shipped).sort_values(
            ["dev_rate", "dev_near", "shipped"], ascending=False
        )  # a tie on the development half keeps what the workflow ships
        best = group.iloc[0]["criterion"]
        shown = group.drop(
            columns=["dev_rate", "dev_near", "heldout_rate", "heldout_near", "shipped"]
        )
        print(f"Per {level} ({per_case} pick(s) per case), sorted by the development rate:\n")
        print(shown.to_markdown(index=False))
        print(
            f"\nBest on the development half: {best}. On the held-out half, {best} minus "
            f"{shipped} (exact, mean over cases): {paired_difference(held, best, shipped)}\n"
        )
    by_kind = []
    for source in SOURCES:
        for i, direction in enumerate(DIRECTIONS):
            group = [r for r in held if r.case.source == source]
            hits = [[h[i]] for h in exact(group, "stability")]
            near = [[h[i]] for h in within_one(group, "stability")]
            by_kind.append(
                {
                    "source": source,
                    "direction": direction,
                    "cases": len(group),
                    "exact": rate_text(hits),
                    "within one": rate_text(near),
                }
            )
    print("stability on the held-out half, by source and direction:\n")
    print(pd.DataFrame(by_kind).to_markdown(index=False))
    threshold = identification_threshold(halves["dev"])
    kept = [[a >= threshold for a in r.agreement] for r in held]
    right_kept = [
        [ok for ok, keep in zip(h, k, strict=True) if keep]
        for h, k in zip(exact(held, "stability"), kept, strict=True)
    ]
    right_dropped = [
        [ok for ok, keep in zip(h, k, strict=True) if not keep]
        for h, k in zip(exact(held, "stability"), kept, strict=True)
    ]
    print(
        f"\nNot identified below stability {threshold:.2f} (chosen on the development half). "
        f"Held out: identified {rate_text(kept)} of the picks; exact among the identified "
        f"{rate_text(right_kept)}, among the others {rate_text(right_dropped)}"
    )
    summary.to_csv(f"{OUT}.csv", index=False)
    pd.DataFrame(
        [
            {
                "case": r.case.name,
                "half": r.case.half,
                "true_k": r.case.true_k,
                **{c: " ".join(map(str, ks)) for c, ks in r.picks.items()},
            }
            for r in rows
        ]
    ).to_csv(f"{OUT}_picks.csv", index=False)


def paired_difference(rows: list[Picked], criterion: str, other: str) -> str:
    """The mean over cases of (criterion's exact rate - other's), with its bootstrap
    interval over cases."""
    diff = np.array(
        [
            np.mean(a) - np.mean(b)
            for a, b in zip(exact(rows, criterion), exact(rows, other), strict=True)
        ]
    )
    draws = np.random.default_rng(0).integers(0, len(diff), size=(BOOTSTRAP, len(diff)))
    low, high = np.percentile(diff[draws].mean(axis=1), [2.5, 97.5])
    return f"{diff.mean():+.2f} ({low:+.2f} to {high:+.2f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=20, help="cases per source")
    parser.add_argument("--runs", type=int, default=4, help="seeds per K and direction")
    parser.add_argument("--per-class", type=int, default=150, help="images per class")
    parser.add_argument("--digits", default="results/digits", help="the demo's results")
    parser.add_argument("--fashion", default="results/fashion_mnist")
    parser.add_argument("--shard", default="0/1", help="i/n: every n-th case from the i-th")
    parser.add_argument("--analyse", action="store_true", help="the tables, from stored runs")
    args = parser.parse_args()
    (analyse if args.analyse else sweep)(args)


if __name__ == "__main__":
    main()
