"""Bring a dataset's results of older layouts to the current one (plan/layout.py), keeping
every run.

Two older layouts are known:

1. run files of HUME's own record: attributes ``phi1`` and ``phi2`` and the dataset
   ``theta``; the current run file (formats/run.py) records the ``method`` and its task's
   ``spaces``, and theta as phi1's ``encoder/<phi1>``. Each is rewritten (atomically) with
   the same arrays and numbers.
2. runs without K folders, in ``hume/<phi1>--<phi2>/runs/``; they move to
   ``hume/<phi1>--<phi2>/k<K>/runs/`` (K read from the run files), their Snakemake
   benchmarks and logs into ``k<K>/`` sub-folders of their own, and the task's selection,
   vote and evaluation are removed (recomputed from the runs in seconds).

``python -m hume_workflow.plan.migrate results/<dataset>`` does both and prints what it did.
Then ``snakemake --cores N --rerun-triggers mtime --forcerun select_runs`` (plus the run's own
options) aggregates the kept runs anew without running them again; the default triggers would
rerun them, the run scripts being newer than they are.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from hume_workflow.errors import InputError
from hume_workflow.formats.io import read_h5, write_h5
from hume_workflow.formats.run import paths_by_k
from hume_workflow.plan.layout import TASK_SEPARATOR
from hume_workflow.plan.methods import METHODS

DERIVED = ("selection.json", "vote.csv", "metrics.json")  # recomputed from the runs
#: Where runs without K folders lie, under results/<dataset>.
RUNS_WITHOUT_K = f"hume/*{TASK_SEPARATOR}*/runs"


def old_run_files(results: Path) -> list[Path]:
    """The run files under ``results`` that have HUME's own record (layout 1)."""
    found = []
    for method in METHODS:
        for path in sorted((results / method).rglob("*.h5")):
            if "phi1" in read_h5(path, [])[1]:
                found.append(path)
    return found


def upgrade_run_file(path: Path) -> None:
    """Rewrite a run file of HUME's own record as every method's run, atomically."""
    arrays, attrs = read_h5(path)
    phi1, phi2 = attrs.pop("phi1"), attrs.pop("phi2")
    theta = arrays.pop("theta")
    trace = {f"trace/{part}": values for part, values in arrays.pop("trace", {}).items()}
    write_h5(
        path,
        arrays | trace | {f"encoder/{phi1}": theta},
        {"method": "hume", "spaces": [phi1, phi2], **attrs},
    )


def move_into_k_folders(results: Path) -> list[str]:
    """Move every task's runs without K folders (layout 2), with their benchmarks and logs,
    into the folder of the K they ran with; one line per thing done.

    Raises:
        InputError: a run folder that holds no run file, or runs of several K, or a K folder
            that already exists (nothing is moved for that task).
    """
    done = []
    for old in sorted(results.glob(RUNS_WITHOUT_K)):
        task = old.parent.name
        ks = sorted(paths_by_k(sorted(old.rglob("*.h5"))))
        if len(ks) != 1:
            raise InputError(f"{old}: run files of K={ks}; expected runs of one K")
        k = ks[0]
        new = old.parent / f"k{k}"
        if new.exists():
            raise InputError(f"{new} exists already; expected runs of {task} in one layout")
        new.mkdir()
        old.rename(new / "runs")
        done.append(f"moved {old} to {new / 'runs'}")
        for step, pattern in (("benchmarks", "job*.tsv"), ("logs", "job*.log*")):
            folder = results / step / "run_hume" / task
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


def migrate(results: Path) -> list[str]:
    """Bring ``results`` (e.g. results/digits) to the current layout: run files first (their
    K is read from them), then K folders; one line per thing done."""
    done = []
    for path in old_run_files(results):
        upgrade_run_file(path)
        done.append(f"rewrote {path} in the run file of every method")
    return done + move_into_k_folders(results)


def unmigrated(results: Path) -> list[str]:
    """A warning when ``results`` (results/<dataset>) holds runs without K folders, naming
    the command that keeps them (run files of HUME's own record name it when read)."""
    old = sorted(results.glob(RUNS_WITHOUT_K))
    if not old:
        return []
    return [
        f"{old[0]}{' and others' if len(old) > 1 else ''}: run files outside a K folder are "
        f"not read; to keep them, python -m hume_workflow.plan.migrate {results} "
        "(docs/troubleshooting.md)"
    ]


def main() -> None:
    """The command line: ``python -m hume_workflow.plan.migrate results/<dataset>``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", type=Path, help="a dataset's results folder, results/<name>")
    lines = migrate(parser.parse_args().results)
    if not lines:
        print("nothing to migrate: the results are in the current layout")
        return
    print("\n".join(lines))
    print("now: snakemake --cores N --rerun-triggers mtime --forcerun select_runs [your options]")


if __name__ == "__main__":
    main()
