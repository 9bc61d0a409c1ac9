"""Logging for pipeline jobs: one readable log file per job."""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import traceback
from types import FrameType, TracebackType

from hume_workflow.errors import InputError

RESUME = "run the same command again to resume"
# Signals that stop a job like Ctrl-C's SIGINT, and why they come
STOP_SIGNALS = {
    signal.SIGTERM: f"cancelled, or past a time limit; {RESUME}",
    signal.SIGHUP: "its terminal closed",
}
# The stop signals (SIGINT included) this process has received: one that lands inside an
# import can come out as another error (a half-imported numpy fails later with a
# RecursionError), and the job was still stopped by the signal, not by that error
_received: list[int] = []


class Stopped(BaseException):
    """A job asked to stop by a signal of :data:`STOP_SIGNALS` (``scancel``, a time limit).

    Raised in the main thread, as SIGINT raises KeyboardInterrupt: ``finally`` blocks run,
    so a write under way removes its temporary file, and ``except Exception`` lets it pass.
    """

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def log_to_file(path: str | os.PathLike) -> None:
    """Send logging records, warnings and stderr (tqdm's progress bars) to ``path``.

    A job that stops on bad input (:class:`~hume_workflow.errors.InputError`) ends its log
    with that one line, and so does one stopped by SIGINT (Ctrl-C), SIGTERM or SIGHUP, even
    where the signal's exception turned into another on its way out (an import it cut short
    fails later); any other exception with its traceback. Each ends the job with a non-zero exit.
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
    if threading.current_thread() is threading.main_thread():  # signal() only works there
        for signum in STOP_SIGNALS:
            if signal.getsignal(signum) == signal.SIG_DFL:  # nohup's ignored SIGHUP stays so
                signal.signal(signum, _stop)
        if signal.getsignal(signal.SIGINT) is signal.default_int_handler:  # not when ignored
            signal.signal(signal.SIGINT, _interrupt)


def _stop(signum: int, frame: FrameType | None) -> None:
    _received.append(signum)
    raise Stopped(signum)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    _received.append(signum)
    raise KeyboardInterrupt


def _log_uncaught(
    kind: type[BaseException], error: BaseException, trace: TracebackType | None
) -> None:
    line = stop_line(error)
    if line is None and _received:  # the signal's exception became another on its way out
        line = _signal_line(_received[0])
    if line is not None:
        print(line, file=sys.stderr)
    else:
        traceback.print_exception(kind, error, trace, file=sys.stderr)


def stop_line(error: BaseException) -> str | None:
    """The one line that ends a job's log for ``error``, or None for a traceback."""
    if isinstance(error, InputError):
        return f"{type(error).__name__}: {error}"
    if isinstance(error, KeyboardInterrupt):
        return _signal_line(signal.SIGINT)
    if isinstance(error, Stopped):
        return _signal_line(error.signum)
    return None


def _signal_line(signum: int) -> str:
    """The one line that ends the log of a job stopped by ``signum`` (SIGINT or one of
    :data:`STOP_SIGNALS`)."""
    if signum == signal.SIGINT:
        return f"Interrupted by SIGINT (Ctrl-C): the job stopped; {RESUME}"
    return f"Stopped by {signal.Signals(signum).name}: {STOP_SIGNALS[signum]}"
