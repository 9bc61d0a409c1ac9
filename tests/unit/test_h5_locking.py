"""Readers open HDF5 files without HDF5's file locks (NFS/Lustre: "No locks available").

A writer in this process holds the file with HDF5's lock; another process must still read
it through every reader of the package. With locking on, HDF5 refuses ("unable to lock
file"), as it does on shared filesystems whose locks fail.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import h5py
import numpy as np
import pytest

from hume_workflow.formats.io import write_h5

READERS = """
    import sys
    import h5py
    path = sys.argv[1]
    try:
        h5py.File(path, "r", locking=True).close()
    except OSError:
        pass
    else:
        sys.exit(3)  # no lock taken by the writer here: nothing to show
    from hume_workflow.embed.extract import ImageBatches
    from hume_workflow.embed.pipeline import _image_source
    from hume_workflow.formats.embeddings import read_features
    from hume_workflow.formats.io import open_h5, read_h5
    assert read_h5(path)[0]["images"].shape == (4, 2, 2, 3)
    with open_h5(path) as f:
        assert f["features"].shape == (4, 3)
    assert read_features(path, 4).shape == (4, 3)
    assert ImageBatches(path, batch_size=2)[1].shape == (2, 2, 2, 3)
    assert _image_source(path).shape == (4, 2, 2, 3)
    print("read")
    """


def test_readers_read_a_file_another_process_holds_locked(tmp_path, monkeypatch):
    monkeypatch.delenv("HDF5_USE_FILE_LOCKING", raising=False)  # would override locking=
    path = tmp_path / "data.h5"
    images = np.zeros((4, 2, 2, 3), np.uint8)
    write_h5(path, {"images": images, "features": np.ones((4, 3), np.float32)}, {})
    env = {k: v for k, v in os.environ.items() if k != "HDF5_USE_FILE_LOCKING"}
    with h5py.File(path, "a", locking=True):  # the writer's exclusive lock
        proc = subprocess.run(
            [sys.executable, "-c", textwrap.dedent(READERS), str(path)],
            capture_output=True,
            text=True,
            env=env,
        )
    if proc.returncode == 3:
        pytest.skip(f"{tmp_path}: this filesystem does not lock HDF5 files")
    assert proc.returncode == 0 and proc.stdout.strip() == "read", proc.stderr[-2000:]
