"""A full disk while writing is one line naming the file and the free space (formats.io).

Real ENOSPC errors come from /dev/full (every write to it fails so): the temporary file of
atomic_path is made a link to it. Errors that only h5py raises so (a RuntimeError at close,
a message without errno) and a full quota are raised by hand.
"""

from __future__ import annotations

import errno
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hume_workflow.errors import InputError
from hume_workflow.formats import io
from hume_workflow.formats.votes import write_vote

FULL = Path("/dev/full")
needs_dev_full = pytest.mark.skipif(not FULL.exists(), reason="no /dev/full here")
# The line, with the filesystem's free space between the brackets
LINE = re.compile(
    r"(no space left on device|disk quota exceeded) writing (?P<path>\S+) "
    r"\(\d+(\.\d)? [kMGT]?B free of \d+(\.\d)? [kMGT]?B on /\S*\): "
    r"free space or point results elsewhere"
)


@pytest.fixture
def full_disk(monkeypatch):
    """atomic_path's temporary files are links to /dev/full: writing them fails with ENOSPC."""
    real = tempfile.mkstemp

    def mkstemp_on_full(**kwargs):
        fd, name = real(**kwargs)
        os.close(fd)
        os.remove(name)
        os.symlink(FULL, name)
        return os.open(name, os.O_RDONLY), name

    monkeypatch.setattr(io.tempfile, "mkstemp", mkstemp_on_full)


def assert_one_line(error: pytest.ExceptionInfo, path: Path, start: str) -> None:
    message = str(error.value)
    match = LINE.fullmatch(message)
    assert match and match["path"] == str(path), message
    assert message.startswith(start)


WRITERS = {
    "hdf5": lambda path: io.write_h5(path, {"x": np.arange(10**5)}, {"seed": 0}),
    "json": lambda path: io.write_json(path, {"seed": 0}),
    "csv": lambda path: write_vote(
        path, pd.DataFrame({"sample_index": [0, 1], "label": [1, 0], "agreement": [1.0, 1.0]})
    ),
}


@needs_dev_full
@pytest.mark.parametrize("kind", list(WRITERS))
def test_a_full_disk_is_one_line_and_leaves_the_old_file(tmp_path, full_disk, kind):
    """HDF5 (h5py's own OSError), JSON and CSV: one line naming the file being written and
    the free space; the old file stays, and no temporary file (nor link) is left."""
    target = tmp_path / f"out.{kind}"
    target.write_text("old")
    with pytest.raises(io.NoSpaceError) as error:
        WRITERS[kind](target)
    assert isinstance(error.value, InputError)
    assert_one_line(error, target, "no space left on device writing ")
    assert [p.name for p in tmp_path.iterdir()] == [target.name]
    assert target.read_text() == "old"


# ENOSPC as h5py reports it (RuntimeError, message only) and as Python does (errno): makers
NO_SPACE_ERRORS = {
    "h5py-runtime-error": lambda: RuntimeError(  # h5py, on flushing or closing a file
        "Can't decrement id ref count (file write failed: time = Mon Jan  1 00:00:00 2024\n, "
        "filename = 'x', file descriptor = 5, errno = 28, error message = 'No space left on "
        "device', buf = 0x1, total write size = 4096, bytes this sub-write = 4096, bytes "
        "actually written = 18446744073709551615, offset = 0)"
    ),
    "h5py-message": lambda: OSError(
        "Unable to synchronously create dataset (No space left on device)"
    ),
    "errno": lambda: OSError(errno.ENOSPC, "No space left on device"),
}


@pytest.mark.parametrize("then_close_fails", [False, True], ids=["alone", "then-close-fails"])
@pytest.mark.parametrize("name", list(NO_SPACE_ERRORS))
def test_each_form_of_no_space_is_one_line(tmp_path, name, then_close_fails):
    """Each form raised while writing, alone or followed by the error of closing the file
    (the chain holds it): one line; the temporary file is removed."""
    target = tmp_path / "out.h5"
    with pytest.raises(io.NoSpaceError) as error, io.atomic_path(target) as tmp:
        tmp.write_bytes(b"part")
        try:
            raise NO_SPACE_ERRORS[name]()
        finally:
            if then_close_fails:
                raise RuntimeError("Can't close file (file close failed)")
    assert_one_line(error, target, "no space left on device writing ")
    assert list(tmp_path.iterdir()) == []


def test_a_full_quota_says_so_and_other_write_errors_pass_unchanged(tmp_path):
    """EDQUOT is named as the quota; a write error that is not a full disk keeps its own
    type and message. Either way the temporary file is removed."""
    target = tmp_path / "out.json"
    with pytest.raises(io.NoSpaceError) as error, io.atomic_path(target):
        raise OSError(errno.EDQUOT, os.strerror(errno.EDQUOT))
    assert_one_line(error, target, "disk quota exceeded writing ")
    with pytest.raises(PermissionError, match="Permission denied"), io.atomic_path(target):
        raise PermissionError(errno.EACCES, "Permission denied")
    assert list(tmp_path.iterdir()) == []


@needs_dev_full
def test_a_full_disk_ends_the_job_log_in_one_line(tmp_path):
    """Through a job's log (hume_workflow.logs): its last line is the one line, no
    traceback, on the terminal either."""
    log, target = tmp_path / "job.log", tmp_path / "results" / "run.h5"
    code = (
        "import os, sys, tempfile\n"
        "import numpy as np\n"
        "from hume_workflow.formats import io\n"
        "from hume_workflow.logs import log_to_file\n"
        "log_to_file(sys.argv[1])\n"
        "real = tempfile.mkstemp\n"
        "def on_full(**kwargs):\n"
        "    fd, name = real(**kwargs)\n"
        "    os.close(fd)\n"
        "    os.remove(name)\n"
        "    os.symlink('/dev/full', name)\n"
        "    return os.open(name, os.O_RDONLY), name\n"
        "io.tempfile.mkstemp = on_full\n"
        "io.write_h5(sys.argv[2], {'x': np.arange(10)}, {})\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, str(log), str(target)], capture_output=True, text=True
    )
    assert proc.returncode != 0
    assert proc.stderr == ""
    lines = log.read_text().splitlines()
    assert lines[-1].startswith("NoSpaceError: no space left on device writing "), lines
    assert LINE.fullmatch(lines[-1].removeprefix("NoSpaceError: ")), lines
    assert not any("Traceback" in line for line in lines), lines
    assert list((tmp_path / "results").iterdir()) == []
