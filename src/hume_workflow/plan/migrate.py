"""Move the HUME runs of a dataset's results made before K folders into them, keeping them.

Before K sweeps, a pair's runs lived in ``hume/<phi1>--<phi2>/runs/``; they now live in
``hume/<phi1>--<phi2>/k<K>/runs/``, with their Snakemake benchmarks and logs in ``k<K>/``
sub-folders of their own. ``python -m hume_workflow.plan.migrate results/<dataset>`` moves
them there (K read from the run files), removes the pair's selection, vote and evaluation
(recomputed from the runs in seconds), and prints what it did. Then
``snakemake --cores N --rerun-triggers mtime --forcerun select_runs`` (plus the run's own
options) aggregates the kept runs anew without running them again; the default triggers would
rerun them, the run_hume script being newer than they are.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from hume_workflow.errors import InputError
from hume_workflow.formats.run import paths_by_k

DERIVED = ("selection.json", "vote.csv", "metrics.json")  # recomputed from the runs


def migrate(results: Path) -> list[str]:
    """Move every pair's runs (and their benchmarks and logs) of ``results`` (e.g.
    results/digits) into the K folder of the K they ran with; one line per thing done.

    Raises:
        InputError: a pair's run folder that holds no run file, or runs of several K, or a
            K folder that already exists (nothing is moved for that pair).
    """
    done = []
    for old in sorted((results / "hume").glob("*--*/runs")):
        pair = old.parent.name
        ks = sorted(paths_by_k(sorted(old.rglob("*.h5"))))
        if len(ks) != 1:
            raise InputError(f"{old}: run files of K={ks}; expected runs of one K")
        k = ks[0]
        new = old.parent / f"k{k}"
        if new.exists():
            raise InputError(f"{new} exists already; expected runs of {pair} in one layout")
        new.mkdir()
        old.rename(new / "runs")
        done.append(f"moved {old} to {new / 'runs'}")
        for step, pattern in (("benchmarks", "job*.tsv"), ("logs", "job*.log*")):
            folder = results / step / "run_hume" / pair
            files = sorted(folder.glob(pattern))
            if files:
                (folder / f"k{k}").mkdir(exist_ok=True)
                for path in files:
                    shutil.move(path, folder / f"k{k}" / path.name)
                done.append(f"moved {len(files)} files of {folder} to {folder / f'k{k}'}")
        for name in DERIVED:
            if (old.parent / name).exists():
                (old.parent / name).unlink()
                done.append(f"removed {old.parent / name} (recomputed from the runs)")
    return done


def main() -> None:
    """The command line: ``python -m hume_workflow.plan.migrate results/<dataset>``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", type=Path, help="a dataset's results folder, results/<name>")
    lines = migrate(parser.parse_args().results)
    if not lines:
        print("nothing to move: every pair's runs are in K folders")
        return
    print("\n".join(lines))
    print("now: snakemake --cores N --rerun-triggers mtime --forcerun select_runs [your options]")


if __name__ == "__main__":
    main()
