"""Logging for pipeline jobs: one readable log file per job."""

from __future__ import annotations

import logging
import os
import sys
import traceback
from types import TracebackType

from hume_workflow.errors import InputError


def log_to_file(path: str | os.PathLike) -> None:
    """Send logging records, warnings and stderr (tqdm's progress bars) to ``path``.

    A job that stops on bad input (:class:`~hume_workflow.errors.InputError`) ends its log
    with that one line; any other exception with its traceback.
    """
    stream = open(path, "a", buffering=1)
    sys.stderr = stream
    logging.basicConfig(
        stream=stream,
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        force=True,
    )
    logging.captureWarnings(True)
    sys.excepthook = _log_uncaught


def _log_uncaught(
    kind: type[BaseException], error: BaseException, trace: TracebackType | None
) -> None:
    if isinstance(error, InputError):
        print(f"InputError: {error}", file=sys.stderr)
    else:
        traceback.print_exception(kind, error, trace, file=sys.stderr)
