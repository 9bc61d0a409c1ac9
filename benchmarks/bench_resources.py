"""The measurements the scheduler's HUME model (src/hume_workflow/plan/resources.py) is fitted to.

    python benchmarks/bench_resources.py          # ~2 min on a 2-core CPU

Each case is a real ``run_hume`` (3 outer iterations at the paper's defaults: 20 subsets, 300
second-order inner steps, K = 10) on random features of the 1,797 digits, in a fresh process
with 2 threads: seconds per outer iteration and the process's peak RSS, next to what the model
predicts (before its margins). Writes benchmarks/out/resources.csv.

The task encoder's orthogonal parametrisation keeps a d1 x d1 base: a second table times it
alone at wide phi1 (its registration, one outer step of a forward and backward pass and an
Adam step on 1,000 rows, the process's peak RSS) against the model's d1 terms. Writes
benchmarks/out/resources_phi1.csv.
"""

from __future__ import annotations

import multiprocessing
import resource
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

N, D1, K, ITERS = 1797, 64, 10, 3
CASES = [(1280, "weights"), (64, "weights"), (1280, "gram")]
WIDE_PHI1 = [2000, 4000, 8000]  # d1 of the task encoder's table


def measure(d2: int, form: str) -> tuple[float, float]:
    """(seconds per outer iteration, peak RSS in MB) of a run in this (fresh) process."""
    import torch

    from hume_workflow.hume.config import HumeConfig
    from hume_workflow.hume.training import run_hume

    torch.set_num_threads(2)
    rng = np.random.default_rng(0)
    phi1 = rng.normal(size=(N, D1)).astype(np.float32)
    phi2 = rng.normal(size=(N, d2)).astype(np.float32)
    config = HumeConfig(num_classes=K, num_iters=ITERS, inner_form=form)
    start = time.perf_counter()
    run_hume(phi1, phi2, config, seed=0, progress=False)
    seconds = (time.perf_counter() - start) / ITERS
    return seconds, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure_encoder(d1: int) -> tuple[float, float, float]:
    """(seconds to make the task encoder, seconds per outer step, peak RSS in MB) of the
    orthogonal task encoder d1 -> K alone, in this (fresh) process."""
    import torch

    from hume_workflow.hume.objective import make_task_encoder

    torch.set_num_threads(2)
    start = time.perf_counter()
    encoder = make_task_encoder(d1, K, torch.Generator().manual_seed(0))
    made = time.perf_counter() - start
    optimiser = torch.optim.Adam(encoder.parameters(), 1e-3)
    rows = torch.randn(1000, d1)
    start = time.perf_counter()
    for _ in range(ITERS):
        optimiser.zero_grad()
        encoder(rows).sum().backward()
        optimiser.step()
    step = (time.perf_counter() - start) / ITERS
    return made, step, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def write(rows: list[dict], name: str) -> None:
    """Print ``rows`` as a table and write them to benchmarks/out/<name>."""
    table = pd.DataFrame(rows)
    print(table.to_markdown(index=False))
    out = Path("benchmarks/out") / name
    out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(out, index=False)
    print(f"wrote {out}")


def main() -> None:
    from hume_workflow.hume.resources import BASE_BYTES, _hume_model, encoder_model

    rows = []
    spawn = multiprocessing.get_context("spawn")
    for d2, form in CASES:
        with ProcessPoolExecutor(1, mp_context=spawn) as pool:
            seconds, peak_mb = pool.submit(measure, d2, form).result()
        hume = {"num_iters": 1, "inner_form": form}
        model_s, model_bytes = _hume_model(N, D1, d2, hume, {"max_iter": 0}, K, gpu=False)
        rows.append(
            {
                "d2": d2,
                "inner_form": form,
                "s_per_iter": round(seconds, 2),
                "model_s_per_iter": round(model_s, 2),
                "peak_mb": round(peak_mb),
                "model_mb": round(model_bytes / 1e6),
            }
        )
        print(rows[-1], flush=True)
    write(rows, "resources.csv")
    rows = []
    for d1 in WIDE_PHI1:
        with ProcessPoolExecutor(1, mp_context=spawn) as pool:
            made, step, peak_mb = pool.submit(measure_encoder, d1).result()
        model_made, model_step, model_bytes = encoder_model(d1)
        rows.append(
            {
                "d1": d1,
                "make_s": round(made, 2),
                "model_make_s": round(model_made, 2),
                "s_per_step": round(step, 3),
                "model_s_per_step": round(model_step, 3),
                "peak_mb": round(peak_mb),
                "model_mb": round((model_bytes + BASE_BYTES) / 1e6),
            }
        )
        print(rows[-1], flush=True)
    write(rows, "resources_phi1.csv")


if __name__ == "__main__":
    main()
