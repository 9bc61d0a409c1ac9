"""One GPU per job on a multi-GPU workstation.

Snakemake's local executor caps concurrent GPU jobs with ``--resources gpu=N`` but does not
tell a job which GPU is its own. :func:`claim_gpu` takes the first free device under a file
lock and sets ``CUDA_VISIBLE_DEVICES`` to it; call it before anything initialises CUDA (torch
caches the device count, so this module never imports it).
"""

from __future__ import annotations

import fcntl
import logging
import os
import subprocess
import tempfile
import time
from pathlib import Path
from typing import IO

log = logging.getLogger(__name__)

# Open lock files of the devices this process holds: the locks last until the process exits,
# and the OS releases them even on SIGKILL.
_HELD: list[IO] = []

RETRY_SEC = 1.0


def claim_gpu(
    lock_dir: str | os.PathLike | None = None,
    candidates: list[str] | None = None,
    timeout: float = 600.0,
) -> str | None:
    """Lock a free GPU for this process and make it the only visible one; its id, or None.

    Under SLURM (``SLURM_JOB_ID`` set) nothing changes: the allocation's
    ``CUDA_VISIBLE_DEVICES`` is returned. ``candidates`` defaults to the process's
    ``CUDA_VISIBLE_DEVICES``, else the GPUs nvidia-smi lists; None (run on CPU) without either.
    Waits up to ``timeout`` seconds for a device when all are taken, then raises RuntimeError.
    """
    if "SLURM_JOB_ID" in os.environ:
        return os.environ.get("CUDA_VISIBLE_DEVICES")
    if candidates is None:
        candidates = _visible_devices()
    if not candidates:
        return None
    if lock_dir is None:
        default = Path(tempfile.gettempdir()) / f"hume-gpu-locks-{os.getuid()}"
        lock_dir = os.environ.get("HUME_GPU_LOCK_DIR", default)
    lock_dir = Path(lock_dir)
    lock_dir.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + timeout
    while True:
        for device in candidates:
            if _try_lock(lock_dir / f"gpu-{device}.lock"):
                os.environ["CUDA_VISIBLE_DEVICES"] = device
                log.info("claimed GPU %s (lock in %s)", device, lock_dir)
                return device
        if time.monotonic() >= deadline:
            raise RuntimeError(
                f"no free GPU after {timeout:g} s: devices {','.join(candidates)} are all locked"
                f" in {lock_dir}; set --resources gpu=<number of GPUs>"
            )
        time.sleep(min(RETRY_SEC, max(0.0, deadline - time.monotonic())))


def job_device(gpu: int) -> str:
    """The torch device of a job that asked the scheduler for ``gpu`` GPUs (0: "cpu").

    A GPU job claims its own device (:func:`claim_gpu`) and fails with a one-line error when
    it sees none, rather than running for hours on the CPU.
    """
    if not gpu:
        return "cpu"
    claimed = claim_gpu()
    import torch  # after claim_gpu set CUDA_VISIBLE_DEVICES

    if not torch.cuda.is_available():
        raise RuntimeError(
            f"this job requested gpu={gpu} but sees no CUDA device (CUDA_VISIBLE_DEVICES="
            f"{claimed!r}); set compute.embed_gpu / compute.hume_gpu to false to run on the CPU"
        )
    return "cuda"


def _visible_devices() -> list[str]:
    """Device ids from CUDA_VISIBLE_DEVICES, else from nvidia-smi; [] if neither gives any."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES", "")
    if visible.strip():
        return [d.strip() for d in visible.split(",") if d.strip()]
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=index", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return []
    return [line.strip() for line in out.splitlines() if line.strip()]


def _try_lock(path: Path) -> bool:
    """Take an exclusive, non-blocking lock on ``path``; keep it held if taken."""
    stream = open(path, "a")
    try:
        fcntl.flock(stream, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        stream.close()
        return False
    _HELD.append(stream)
    return True
