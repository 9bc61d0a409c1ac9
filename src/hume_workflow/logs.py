"""Logging for pipeline jobs: one readable log file per job."""

from __future__ import annotations

import logging
import os
import sys


def log_to_file(path: str | os.PathLike) -> None:
    """Send logging records, warnings and stderr (tqdm's progress bars) to ``path``."""
    stream = open(path, "a", buffering=1)
    sys.stderr = stream
    logging.basicConfig(
        stream=stream,
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        force=True,
    )
    logging.captureWarnings(True)
