"""Pools of HUME runs for the aggregation and encoder-start measurements, cached on disk.

    python benchmarks/run_pool.py --case digits --direction efficientnet_lite0--pixels \
        --runs 64 --encoder-init uniform
    python benchmarks/run_pool.py --case fashion --results /tmp/fm/results/fashion_mnist ...

A pool is ``--runs`` seeds (0, 1, ...) of HUME at the demo's budget (config/config.yaml
``hume:``), transductive, on a workflow's results/<dataset>/ (its data.h5 and embeddings),
run ``--batch`` seeds at a time as ``compute.runs_per_job`` runs them. Each run's labels,
generalisation score, kappa and clusters used are written with the truth to
``benchmarks/out/pools/<case>_<phi1>--<phi2>_<init>[_<tag>].npz`` (``--set`` changes other
hume settings, ``--tag`` names them); seeds already there are kept, so a pool grows across
calls. ``benchmarks/aggregation.py`` reads the pools.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
import yaml
from threadpoolctl import threadpool_limits

from hume_workflow.choices import ENCODER_INITS
from hume_workflow.formats.embeddings import read_spaces
from hume_workflow.formats.io import read_h5
from hume_workflow.hume.config import HumeConfig, ScoreConfig
from hume_workflow.hume.runs import execute_runs

ROOT = Path(__file__).parents[1]
POOLS = ROOT / "benchmarks" / "out" / "pools"
DEMO_BUDGET = {  # config/config.yaml's hume: section; the rest at the schema's defaults
    key: tuple(value) if isinstance(value, list) else value
    for key, value in yaml.safe_load((ROOT / "config" / "config.yaml").read_text())["hume"].items()
}


def pool_path(case: str, direction: str, init: str, tag: str | None = None) -> Path:
    """Where the pool of (case, phi1--phi2, encoder start[, tag of other settings]) lives."""
    return POOLS / f"{case}_{direction}_{init}{f'_{tag}' if tag else ''}.npz"


def read_pool(path: Path) -> dict[str, np.ndarray]:
    """``seeds`` (R,), ``labels`` (R, N), ``scores``, ``kappas``, ``clusters`` (R,) and
    ``truth`` (N,) of a pool; runs ordered by seed."""
    with np.load(path) as pool:
        return {key: pool[key] for key in pool.files}


def grow_pool(
    path: Path,
    phi1: np.ndarray,
    phi2: np.ndarray,
    truth: np.ndarray,
    config: HumeConfig,
    seeds: list[int],
    batch: int,
) -> dict[str, np.ndarray]:
    """Run the ``seeds`` not yet in the pool at ``path``, ``batch`` at a time, saving after each
    batch (a killed call keeps the batches it finished)."""
    pool = read_pool(path) if path.exists() else None
    have = set() if pool is None else set(pool["seeds"].tolist())
    todo = [s for s in seeds if s not in have]
    split = np.zeros(len(truth), dtype=np.int64)  # transductive: every sample is fitted on
    for start in range(0, len(todo), batch):
        chunk, began = todo[start : start + batch], time.perf_counter()
        records = execute_runs(
            phi1, phi2, split, "transductive", config, chunk, ScoreConfig(), progress=False
        )
        new = {
            "seeds": np.array([r.seed for r in records]),
            "labels": np.stack([r.labels for r in records]).astype(np.int16),
            "scores": np.array([r.score for r in records]),
            "kappas": np.array([r.score.kappa for r in records]),
            "clusters": np.array([r.score.n_clusters for r in records]),
        }
        if pool is None:
            pool = {**new, "truth": truth}
        else:
            pool = {k: np.concatenate([pool[k], new[k]]) if k in new else pool[k] for k in pool}
        order = np.argsort(pool["seeds"])
        pool = {k: v if k == "truth" else v[order] for k, v in pool.items()}
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npz")
        np.savez_compressed(tmp, **pool)
        tmp.replace(path)
        took = time.perf_counter() - began
        print(f"{path.name}: seeds {chunk[0]}..{chunk[-1]} in {took:.0f} s", flush=True)
    return pool


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", required=True, help="the pool's name, e.g. digits, fashion")
    parser.add_argument("--results", default="results/digits", help="results/<dataset>/")
    parser.add_argument("--direction", required=True, help="phi1--phi2")
    parser.add_argument("--runs", type=int, default=64, help="seeds 0..runs-1")
    parser.add_argument("--batch", type=int, default=8, help="seeds run together")
    parser.add_argument("--encoder-init", choices=ENCODER_INITS, default="uniform")
    parser.add_argument("--threads", type=int, default=1, help="torch, BLAS and OpenMP threads")
    parser.add_argument(
        "--set",
        nargs="*",
        default=[],
        metavar="KEY=VALUE",
        help="hume settings over the demo's, e.g. inner_lr_mode=relative inner_lr=1 (YAML values)",
    )
    parser.add_argument("--tag", help="names the pool of --set settings (required with --set)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    threadpool_limits(args.threads)  # scikit-learn's OpenMP: see benchmarks/k_selection.py
    root = Path(args.results)
    names = args.direction.split("--")
    phi1, phi2 = read_spaces(root / "data.h5", [root / "embeddings" / f"{n}.h5" for n in names])
    truth = read_h5(root / "data.h5", ["labels"])[0]["labels"].astype(np.int64)
    if args.set and not args.tag:
        parser.error("--set needs --tag, so the pool's name says what differs")
    overrides = {k: yaml.safe_load(v) for k, v in (item.split("=", 1) for item in args.set)}
    config = HumeConfig(
        num_classes=len(np.unique(truth)),
        encoder_init=args.encoder_init,
        **{**DEMO_BUDGET, **overrides},
    )
    path = pool_path(args.case, args.direction, args.encoder_init, args.tag)
    grow_pool(path, phi1, phi2, truth, config, list(range(args.runs)), args.batch)


if __name__ == "__main__":
    main()
