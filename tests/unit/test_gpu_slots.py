"""GPU slots: concurrent jobs lock different devices; SLURM and GPU-less machines are left alone."""

import os
import subprocess
import sys
import time

from tiny_workflow import REPO

from hume_workflow.cluster.gpu_slots import claim_gpu

SRC = str(REPO / "src")


def start_claimer(lock_dir, timeout=10.0, hold=30.0):
    """A process that claims one of GPUs 0 and 1, prints it (or its error), then holds it."""
    code = (
        "import sys, time\n"
        "from hume_workflow.cluster.gpu_slots import claim_gpu\n"
        "try:\n"
        f"    device = claim_gpu({str(lock_dir)!r}, ['0', '1'], timeout={timeout})\n"
        "except RuntimeError as e:\n"
        "    print(e, flush=True); sys.exit(3)\n"
        "print(device, flush=True)\n"
        f"time.sleep({hold})\n"
    )
    env = {**os.environ, "PYTHONPATH": SRC}
    return subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=env
    )


def test_concurrent_jobs_get_different_devices_and_wait_for_a_free_one(tmp_path):
    first, second = start_claimer(tmp_path), start_claimer(tmp_path)
    try:
        mine = first.stdout.readline().strip()
        assert {mine, second.stdout.readline().strip()} == {"0", "1"}

        late = start_claimer(tmp_path, timeout=1.5)
        message = late.stdout.readline()
        assert late.wait(10) == 3
        assert str(tmp_path) in message and "0,1" in message and "--resources gpu=" in message

        waiting = start_claimer(tmp_path, hold=0)
        time.sleep(0.3)
        first.kill()  # the OS releases the lock even on SIGKILL
        first.wait()
        assert waiting.stdout.readline().strip() == mine
        assert waiting.wait(10) == 0
    finally:
        for process in (first, second):
            process.kill()
            process.wait()


def test_slurm_keeps_its_allocation(monkeypatch, tmp_path):
    monkeypatch.setenv("SLURM_JOB_ID", "42")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3")
    assert claim_gpu(tmp_path, ["0", "1"]) == "3"
    assert os.environ["CUDA_VISIBLE_DEVICES"] == "3"
    assert not list(tmp_path.iterdir())


def test_no_gpu_without_nvidia_smi(monkeypatch, tmp_path):
    monkeypatch.delenv("SLURM_JOB_ID", raising=False)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert claim_gpu(tmp_path / "locks") is None
    assert "CUDA_VISIBLE_DEVICES" not in os.environ
