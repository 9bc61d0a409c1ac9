"""Injected failures, to test that the workflow survives them.

``HUME_FAIL_ONCE=<glob>`` makes each job whose name matches the glob (e.g.
``run_hume:pixels--efficientnet_lite0:k10:job0``, or ``run_hume:*``) fail on its first attempt
and succeed on the next: what a lost node or a transient I/O error does to a job.
"""

from __future__ import annotations

import os
from fnmatch import fnmatch
from pathlib import Path

FAIL_ONCE = "HUME_FAIL_ONCE"


class InjectedFailure(RuntimeError):
    """The failure ``HUME_FAIL_ONCE`` asked for."""


def fail_once_if_asked(job: str, marker: str | os.PathLike) -> None:
    """Raise :class:`InjectedFailure` if ``job`` matches ``$HUME_FAIL_ONCE`` and ``marker``
    (a file that records the failure, e.g. beside the job's log) does not exist yet."""
    pattern = os.environ.get(FAIL_ONCE)
    if not pattern or not fnmatch(job, pattern) or Path(marker).exists():
        return
    Path(marker).touch()
    raise InjectedFailure(f"{FAIL_ONCE}={pattern}: injected failure of {job} (first attempt)")
