"""A process killed while it writes a file leaves the old file (formats.io.atomic_path)."""

from __future__ import annotations

import subprocess
import sys

import h5py
import numpy as np

from hume_workflow.formats.io import atomic_path


def test_sigkill_while_writing_leaves_the_old_file(tmp_path):
    """A process killed inside atomic_path, after writing part of the new file: the path
    still holds the old file, and only a hidden *.tmp.part file is left beside it, until
    the file is written again."""
    target = tmp_path / "out.h5"
    with atomic_path(target) as tmp, h5py.File(tmp, "w") as f:
        f["x"] = np.arange(3)
    old = target.read_bytes()
    code = (
        "import sys, time, h5py, numpy as np\n"
        "from hume_workflow.formats.io import atomic_path\n"
        "with atomic_path(sys.argv[1]) as tmp, h5py.File(tmp, 'w') as f:\n"
        "    f['x'] = np.zeros(10**6)\n"
        "    f.flush()\n"
        "    print('writing', flush=True)\n"
        "    time.sleep(60)\n"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", code, str(target)], stdout=subprocess.PIPE, text=True
    )
    assert child.stdout.readline() == "writing\n"
    child.kill()
    child.wait()
    assert target.read_bytes() == old
    leftovers = [p.name for p in tmp_path.iterdir() if p != target]
    assert len(leftovers) == 1 and leftovers[0].startswith(".out.h5.")
    assert leftovers[0].endswith(".tmp.part")
    # the next write of the same file (the job run again) removes the leftover
    with atomic_path(target) as tmp, h5py.File(tmp, "w") as f:
        f["x"] = np.arange(4)
    assert [p.name for p in tmp_path.iterdir()] == ["out.h5"]
