"""Seconds per TURTLE outer iteration: the reference-style loop against the closed form, on CPU.

    python benchmarks/bench_turtle.py --quick                            # smoke run, seconds
    python benchmarks/bench_turtle.py --shapes cifar digits --threads 1 2 --rounds 3

The second command makes the table of docs/performance.md ("TURTLE"); it takes 3 to 5
minutes on an idle 2-core machine. Run it on a quiet machine: the timings of a busy one (other
jobs on the cores; the load average is printed and written to the CSV) are not comparable
with anything, not even between the paths of one run.

Paths, all timed side by side in one process, alternating (reference, closed, closed x R,
reference, closed, ...) for ``--rounds`` rounds after one warm-up call of each, at each
``--threads`` setting (``torch.set_num_threads``):

- ``reference``: tests/reference_turtle.py, the reference implementation's style (per space an
  ``nn.Linear`` head under weight norm and an ``nn.Linear`` inner classifier,
  ``torch.optim.Adam``, autograd, one run at a time), then its labels of all N samples
  (``reference_labels``);
- ``closed``: ``run_turtle_many`` with one seed (the closed form, no autograd), which labels
  all N samples at its end too;
- ``closed xR``: ``run_turtle_many`` with R seeds (``--runs``, default 4), as a job of R runs;
  its seconds are per run (the call's time / R).

Each timed call is one whole run of ``--iters`` outer iterations at the reference's defaults
(``TurtleConfig``: M = 10 inner steps, batch 10,000 capped at N, gamma 10, cold-started inner
classifiers), seed 0; seconds per iteration = the call's time / iterations, so they include
the run's set-up and its final labeling (about 2 N sum(d) K flop, the same for every path; at
CIFAR shapes roughly 2 % of the 10 iterations timed). The ratio column is reference / path,
computed per round and then the median over rounds.

Shapes (random float32 features, rows L2-normalised): ``cifar`` N 50,000, spaces 768-d (CLIP
ViT-L/14) and 1536-d (DINOv2 ViT-g/14), K 10, batch 10,000, 10 iterations timed; ``digits``
N 1,797, spaces 64 + 64 (pixels and the demo's PCA-64 of EfficientNet-Lite0), K 10, batch
capped at N, 200 iterations timed; ``quick`` (``--quick``) N 600, spaces 32 + 48, batch 256.

GFLOP/s counts the matrix products one outer iteration needs, per space k: (M + 2) products of
the (B, d_k) batch by K columns (the heads' logits, the inner classifier's logits at each of
the M steps and once more for the outer loss) and (M + 1) the other way (the inner gradient
at each step and the heads' gradient), each 2 B d_k K flop: sum_k (2 M + 3) 2 B d_k K per run
and iteration (10.6 GFLOP at CIFAR shapes). The closed form recomputes the heads' logits for
the outer loss (one product more than counted); the final labeling is not counted.

Peak RSS: per path the largest over its rounds of the process's resident-set high-water mark
during its timed call (reset before each call through /proc/self/clear_refs; where that is
refused, the process's peak so far, which only grows), in MB; it includes the features, which
all paths share; ``above start`` is that peak less the resident set just before the call.

Correctness (once per shape, before the timing): ``--check-iters`` iterations (20) on the
first ``--check-n`` samples (2,000) of the same features, seed 0 (and seeds 0..R-1 for
``closed xR``, each against the reference run of its seed): whether the paths' labels of
those samples are equal (else how many differ), and the largest |difference| of their loss
traces over the iterations and the three parts (cross-entropy, entropy, loss).

Prints a markdown table and writes benchmarks/out/turtle.csv (``--quick``: turtle_quick.csv).
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import os
import platform
import re
import resource
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from hume_workflow.turtle.config import TurtleConfig
from hume_workflow.turtle.training import TRACE_PARTS, TurtleResult, run_turtle_many

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from reference_turtle import reference_labels, reference_turtle  # noqa: E402

SHAPES = {  # name: (N, space widths, K, batch size, iterations timed by default)
    "cifar": (50000, (768, 1536), 10, 10000, 10),
    "digits": (1797, (64, 64), 10, 10000, 200),
    "quick": (600, (32, 48), 10, 256, 5),
}


def make_spaces(n: int, widths: tuple[int, ...], seed: int = 0) -> list[torch.Tensor]:
    """Per space (n, d) random float32 features, rows L2-normalised."""
    generator = torch.Generator().manual_seed(seed)
    spaces = []
    for d in widths:
        z = torch.randn(n, d, generator=generator)
        spaces.append(z / z.norm(dim=1, keepdim=True))
    return spaces


def flop_per_iteration(n: int, widths: tuple[int, ...], k: int, config: TurtleConfig) -> float:
    """The matrix-product flop of one outer iteration of one run (the module's docstring)."""
    b, m = min(config.batch_size, n), config.inner_steps
    return sum((2 * m + 3) * 2 * b * d * k for d in widths)


def run_reference(
    spaces: list[torch.Tensor], config: TurtleConfig, seed: int
) -> tuple[np.ndarray, dict[str, list[float]]]:
    """One reference run and its labels of the samples: (labels (N,), loss trace)."""
    heads, trace = reference_turtle(spaces, config, seed)
    return reference_labels(heads, spaces).numpy(), trace


def run_closed(arrays: list[np.ndarray], config: TurtleConfig, seeds: list[int]) -> list:
    """The closed-form runs of ``seeds`` as one job."""
    return run_turtle_many(arrays, config, seeds, progress=False)


def _status_kb(field: str) -> int | None:
    """A field of /proc/self/status in kB (VmRSS, VmHWM), None where there is none."""
    try:
        text = Path("/proc/self/status").read_text()
    except OSError:
        return None
    found = re.search(rf"^{field}:\s+(\d+) kB", text, re.MULTILINE)
    return int(found.group(1)) if found else None


def _reset_peak() -> bool:
    """Reset the process's resident-set high-water mark; False where Linux refuses it."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def measure(call: Callable[[], object]) -> tuple[float, float, float]:
    """(seconds, peak RSS MB, peak above the RSS at the start MB) of ``call()``."""
    gc.collect()
    reset = _reset_peak()
    start_kb = _status_kb("VmRSS") or 0
    start = time.perf_counter()
    call()
    seconds = time.perf_counter() - start
    peak_kb = _status_kb("VmHWM") if reset else None
    if peak_kb is None:  # the peak of the whole process so far
        peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return seconds, peak_kb / 1024, max(peak_kb - start_kb, 0) / 1024


def compare(result: TurtleResult, reference: tuple[np.ndarray, dict]) -> tuple[str, float]:
    """(labels equal: "yes" or "no (d/n differ)", max |difference| of the loss traces)."""
    labels, trace = reference
    differ = int((result.labels != labels).sum())
    equal = "yes" if differ == 0 else f"no ({differ}/{len(labels)} differ)"
    gap = max(
        float(np.abs(result.loss_trace[part] - np.asarray(trace[part])).max())
        for part in TRACE_PARTS
    )
    return equal, gap


def correctness(
    spaces: list[torch.Tensor], config: TurtleConfig, n: int, iters: int, runs: int
) -> dict[str, tuple[str, float]]:
    """Per closed path, its agreement with the reference on the first ``n`` samples after
    ``iters`` iterations from the same seeds (the module's docstring)."""
    part = [z[:n].contiguous() for z in spaces]
    arrays = [z.numpy() for z in part]
    config = dataclasses.replace(config, num_iters=iters)
    references = [run_reference(part, config, seed) for seed in range(runs)]
    [single] = run_closed(arrays, config, [0])
    many = run_closed(arrays, config, list(range(runs)))
    checks = [compare(result, ref) for result, ref in zip(many, references, strict=True)]
    wrong = [equal for equal, _ in checks if equal != "yes"]
    many_equal = "yes" if not wrong else f"no in {len(wrong)}/{runs} runs: " + "; ".join(wrong)
    return {
        "closed": compare(single, references[0]),
        f"closed x{runs}": (many_equal, max(gap for _, gap in checks)),
    }


def describe(shape: str) -> str:
    """The shape as the table shows it."""
    n, widths, k, batch, _ = SHAPES[shape]
    dims = " + ".join(str(d) for d in widths)
    return f"{shape} (N {n}, d {dims}, K {k}, B {min(batch, n)})"


def time_shape(shape: str, args: argparse.Namespace, cpu: str) -> list[dict]:
    """The rows of one shape: every thread setting, every path."""
    n, widths, k, batch, default_iters = SHAPES[shape]
    iters, runs = args.iters or default_iters, args.runs
    spaces = make_spaces(n, widths)
    arrays = [z.numpy() for z in spaces]  # the same memory, as run_turtle_many takes it
    config = TurtleConfig(num_classes=k, batch_size=batch, num_iters=iters)
    warm = dataclasses.replace(config, num_iters=1)
    torch.set_num_threads(max(args.threads))
    checks = correctness(spaces, config, min(n, args.check_n), args.check_iters, runs)
    many = f"closed x{runs}"
    paths: dict[str, tuple[Callable[[TurtleConfig], object], int]] = {  # path: (call, runs)
        "reference": (lambda c: run_reference(spaces, c, 0), 1),
        "closed": (lambda c: run_closed(arrays, c, [0]), 1),
        many: (lambda c: run_closed(arrays, c, list(range(runs))), runs),
    }
    flop = flop_per_iteration(n, widths, k, config)
    rows = []
    for threads in args.threads:
        torch.set_num_threads(threads)
        for call, _ in paths.values():  # one warm-up call of each
            call(warm)
        seconds = {path: [] for path in paths}
        peaks = {path: [] for path in paths}
        for round_ in range(args.rounds):
            for path, (call, path_runs) in paths.items():
                elapsed, peak, above = measure(lambda call=call: call(config))
                seconds[path].append(elapsed / iters / path_runs)
                peaks[path].append((peak, above))
            done = ", ".join(f"{p} {s[-1]:.4f} s/it" for p, s in seconds.items())
            print(f"{shape}, {threads} thread(s), round {round_ + 1}: {done}", flush=True)
        load = os.getloadavg()[0]
        for path, values in seconds.items():
            ratios = [r / s for r, s in zip(seconds["reference"], values, strict=True)]
            median = statistics.median(values)
            peak, above = max(peaks[path])
            equal, gap = checks.get(path, ("reference", float("nan")))
            rows.append(
                {
                    "shapes": describe(shape),
                    "threads": threads,
                    "path": path,
                    "s_per_iter_median": median,
                    "s_per_iter_min": min(values),
                    "s_per_iter_max": max(values),
                    "ratio_reference_over_path": statistics.median(ratios),
                    "gflop_per_s": flop / median / 1e9,
                    "peak_rss_mb": round(peak),
                    "peak_above_start_mb": round(above),
                    "labels_equal": equal,
                    "max_abs_dloss": gap,
                    "iters_timed": iters,
                    "rounds": args.rounds,
                    "check": f"{args.check_iters} iters, N {min(n, args.check_n)}",
                    "load_avg_1min": round(load, 2),
                    "cpu": cpu,
                    "torch": torch.__version__,
                }
            )
    return rows


def markdown(table: pd.DataFrame) -> str:
    """The table as the docs show it."""
    shown = pd.DataFrame(
        {
            "shapes": table["shapes"],
            "threads": table["threads"],
            "path": table["path"],
            "s / iteration, median (min-max)": [
                f"{r.s_per_iter_median:.4g} ({r.s_per_iter_min:.4g}-{r.s_per_iter_max:.4g})"
                for r in table.itertuples()
            ],
            "reference / path": table["ratio_reference_over_path"].map("{:.2f}".format),
            "GFLOP/s": table["gflop_per_s"].map("{:.1f}".format),
            "peak RSS MB (above start)": [
                f"{r.peak_rss_mb} ({r.peak_above_start_mb})" for r in table.itertuples()
            ],
            "labels equal": table["labels_equal"],
            "max abs Δ loss": table["max_abs_dloss"].map(
                lambda gap: "-" if np.isnan(gap) else f"{gap:.2g}"
            ),
        }
    )
    return shown.to_markdown(index=False, disable_numparse=True)


def cpu_name() -> str:
    """The CPU's model name, as /proc/cpuinfo gives it."""
    try:
        found = re.search(r"^model name\s*:\s*(.+)$", Path("/proc/cpuinfo").read_text(), re.M)
    except OSError:
        found = None
    return found.group(1).strip() if found else platform.processor() or "CPU"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny shapes, a few seconds")
    parser.add_argument("--shapes", nargs="+", default=["cifar", "digits"], choices=list(SHAPES))
    parser.add_argument("--threads", nargs="+", type=int, default=[1])
    parser.add_argument("--rounds", type=int, default=3, help="alternations of the paths")
    parser.add_argument(
        "--iters", type=int, default=None, help="outer iterations per timed call (default: shape's)"
    )
    parser.add_argument("--runs", type=int, default=4, help="seeds of the many-runs job")
    parser.add_argument("--check-n", type=int, default=2000, help="samples of the check")
    parser.add_argument("--check-iters", type=int, default=20, help="iterations of the check")
    parser.add_argument("--out", help="default benchmarks/out/turtle.csv (--quick: turtle_quick)")
    args = parser.parse_args()
    if args.quick:
        args.shapes, args.check_n = ["quick"], 300
    args.out = args.out or f"benchmarks/out/turtle{'_quick' if args.quick else ''}.csv"
    if args.rounds < 1 or args.runs < 1 or min(args.threads) < 1:
        parser.error("--rounds, --runs and --threads must be positive")
    cpu = cpu_name()
    load = os.getloadavg()[0]
    print(f"{cpu}, {os.cpu_count()} cores, torch {torch.__version__}, load average {load:.2f}")
    if load > 0.5:
        print("warning: the machine is busy; these timings are not comparable", flush=True)
    start = time.perf_counter()
    rows = []
    for shape in args.shapes:
        rows += time_shape(shape, args, cpu)
    table = pd.DataFrame(rows)
    print(markdown(table))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out, index=False)
    print(f"wrote {args.out} in {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
