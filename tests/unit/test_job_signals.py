"""A job stopped by a signal (Ctrl-C's SIGINT, SIGTERM, SIGHUP) ends its log in one line.

Each case runs a job's logging (hume_workflow.logs.log_to_file) in a fresh Python, as a
workflow script does, signals it, and reads what it left: the log, its stderr, its files.
The same through Snakemake, on a terminal's Ctrl-C: tests/workflow/test_ctrl_c.py.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

# A job: its log, then a write under way (atomic_path) that lasts until it is stopped. It
# first takes the signal handling of a terminal's job, which a test session started in the
# background (`pytest &`, nohup) would not pass on: SIGINT raises, SIGHUP stops.
JOB = """\
import signal, sys, time
import h5py, numpy as np
from hume_workflow.formats.io import atomic_path
from hume_workflow.logs import log_to_file

signal.signal(signal.SIGINT, signal.default_int_handler)
signal.signal(signal.SIGHUP, signal.SIG_DFL)
log_to_file(sys.argv[1])
with atomic_path(sys.argv[2]) as tmp, h5py.File(tmp, "w") as f:
    f["x"] = np.zeros(1000)
    f.flush()
    print("writing", flush=True)
    time.sleep(60)
"""


# A job in which the signal's exception is caught and another raised in its place, as an
# import interrupted half-way can leave a module that fails later with another error
SWALLOWING_JOB = JOB.replace(
    "    time.sleep(60)",
    "    try:\n"
    "        time.sleep(60)\n"
    "    except BaseException:\n"
    "        pass\n"
    "    raise RecursionError('maximum recursion depth exceeded')",
)


def stopped_job(
    tmp_path: Path, signum: int, job: str = JOB
) -> tuple[subprocess.CompletedProcess, list[str]]:
    """Run ``job``, send it ``signum`` while it writes; (the process, its log's lines)."""
    log, out = tmp_path / "job.log", tmp_path / "out.h5"
    child = subprocess.Popen(
        [sys.executable, "-c", job, str(log), str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert child.stdout.readline() == "writing\n", child.communicate(timeout=60)
    child.send_signal(signum)
    stdout, stderr = child.communicate(timeout=60)
    proc = subprocess.CompletedProcess(child.args, child.returncode, stdout, stderr)
    return proc, log.read_text().splitlines()


RESUME = "run the same command again to resume"
INTERRUPTED = f"Interrupted by SIGINT (Ctrl-C): the job stopped; {RESUME}"


LINES = [
    (signal.SIGINT, INTERRUPTED),
    (signal.SIGTERM, f"Stopped by SIGTERM: cancelled, or past a time limit; {RESUME}"),
    (signal.SIGHUP, "Stopped by SIGHUP: its terminal closed"),
]


@pytest.mark.parametrize(("signum", "line"), LINES, ids=["SIGINT", "SIGTERM", "SIGHUP"])
def test_a_signal_while_writing_ends_the_log_in_one_line_and_removes_the_temporary_file(
    tmp_path, signum, line
):
    """No traceback in the log nor on the terminal (the job's stderr); the job fails; the
    write under way leaves nothing, not even its hidden temporary file."""
    proc, lines = stopped_job(tmp_path, signum)
    assert proc.returncode != 0
    assert proc.stderr == ""
    assert lines[-1] == line, lines
    assert not any("Traceback" in text for text in lines), lines
    assert sorted(p.name for p in tmp_path.iterdir()) == ["job.log"]


@pytest.mark.parametrize(("signum", "line"), LINES, ids=["SIGINT", "SIGTERM", "SIGHUP"])
def test_a_signal_that_comes_out_as_another_error_is_still_its_one_line(tmp_path, signum, line):
    """A job whose code turns the signal's exception into another error still ends its log
    with the signal's line and no traceback, and removes its temporary file."""
    proc, lines = stopped_job(tmp_path, signum, SWALLOWING_JOB)
    assert proc.returncode != 0
    assert proc.stderr == ""
    assert lines[-1] == line, lines
    assert not any("Traceback" in text for text in lines), lines
    assert sorted(p.name for p in tmp_path.iterdir()) == ["job.log"]


def test_keyboard_interrupt_raised_in_a_job_is_one_line(tmp_path):
    """A KeyboardInterrupt however raised (Ctrl-C reaches Python as one) is one line too;
    the process still ends as killed by SIGINT, as Python ends on an unhandled one."""
    log = tmp_path / "job.log"
    code = (
        "import sys\n"
        "from hume_workflow.logs import log_to_file\n"
        "log_to_file(sys.argv[1])\n"
        "def deep(n):\n"
        "    if n == 0:\n"
        "        raise KeyboardInterrupt\n"
        "    deep(n - 1)\n"
        "deep(20)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code, str(log)], capture_output=True, text=True)
    assert proc.returncode == -signal.SIGINT
    assert proc.stderr == ""
    assert log.read_text().splitlines() == [INTERRUPTED]
