"""Readers open HDF5 files without HDF5's file locks (NFS/Lustre: "No locks available").

A writer in this process holds the file with HDF5's lock; another process must still read
it through every reader of the package. With locking on, HDF5 refuses ("unable to lock
file"), as it does on shared filesystems whose locks fail.

The other process is forked from this one (before the writer opens the file, so that it
shares no open HDF5 file), with the readers already imported: a fresh Python would spend
seconds importing torch for them. File locks belong to a process, so a forked one is as
much "another process" as a new interpreter.
"""

from __future__ import annotations

import multiprocessing
import traceback

import h5py
import numpy as np
import pytest

from hume_workflow.embed.extract import ImageBatches
from hume_workflow.embed.pipeline import _image_source
from hume_workflow.formats.embeddings import read_features
from hume_workflow.formats.io import open_h5, read_h5, write_h5


def read_with_every_reader(path: str) -> str:
    """In the other process: "read" when every reader reads ``path``; "unlocked" when HDF5
    itself opens it with locking (the writer took no lock: nothing to show)."""
    try:
        h5py.File(path, "r", locking=True).close()
    except OSError:
        pass
    else:
        return "unlocked"
    assert read_h5(path)[0]["images"].shape == (4, 2, 2, 3)
    with open_h5(path) as f:
        assert f["features"].shape == (4, 3)
    assert read_features(path, 4).shape == (4, 3)
    assert ImageBatches(path, batch_size=2)[1].shape == (2, 2, 2, 3)
    assert _image_source(path).shape == (4, 2, 2, 3)
    return "read"


def reader(path: str, locked, results) -> None:
    """The forked process: wait for the writer's lock, read, send the outcome."""
    try:
        assert locked.wait(60), "the writer never took its lock"
        results.send(read_with_every_reader(path))
    except BaseException:  # the traceback, for the test's message
        results.send(traceback.format_exc())


def test_readers_read_a_file_another_process_holds_locked(tmp_path, monkeypatch):
    monkeypatch.delenv("HDF5_USE_FILE_LOCKING", raising=False)  # would override locking=
    path = tmp_path / "data.h5"
    images = np.zeros((4, 2, 2, 3), np.uint8)
    write_h5(path, {"images": images, "features": np.ones((4, 3), np.float32)}, {})
    fork = multiprocessing.get_context("fork")
    locked = fork.Event()
    results, child_end = fork.Pipe(duplex=False)
    child = fork.Process(target=reader, args=(str(path), locked, child_end), daemon=True)
    child.start()
    try:
        with h5py.File(path, "a", locking=True):  # the writer's exclusive lock
            locked.set()
            assert results.poll(60), "the reading process did not answer within 60 s"
            outcome = results.recv()
    finally:
        child.join(10)
        if child.is_alive():
            child.kill()
    if outcome == "unlocked":
        pytest.skip(f"{tmp_path}: this filesystem does not lock HDF5 files")
    assert outcome == "read", outcome
