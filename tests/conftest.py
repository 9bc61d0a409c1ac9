"""Fixtures shared by the test modules, the tiers, and workflow runs made in the background.

Tests under tests/workflow/ are marked ``workflow`` here (they run Snakemake or the workflow's
scripts); tests under tests/unit/ call the library only, and are marked ``unit``
(tests/README.md).

Background runs: a workflow run that tests only read (the finished tiny config, a preset on
a subset, dry runs, the kills of the fault tests) is made by a function
``make(workdir) -> result``, named by the tests that need it: the ``finished`` fixture, or
``@pytest.mark.background.with_args(make)`` (``with_args``: a mark called with one function
alone would decorate it). A ``make`` that takes ``finished`` also gets the finished tiny
workflow. When a session starts, every run its selected tests need is queued, in the order
of the first test that needs it, and made in background threads (WORKERS at a time) while
the tests run, the unit tier first: a Snakemake run leaves a CPU idle much of the time (its
jobs start one Python each), which the tests in front fill. A test gets the result with
``background.result(make)``, waiting for it if needed; what a run raised (a failed check, a
failed Snakemake) fails the tests that read it. Nothing starts when no selected test needs a
run (``pytest tests/unit``).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest
from threadpoolctl import threadpool_limits
from tiny_workflow import TINY, snakemake

from hume_workflow.data import archives, idx, torchvision_sets

TESTS = Path(__file__).parent
TIERS = {"unit": TESTS / "unit", "workflow": TESTS / "workflow"}


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "background(make): the test reads the run make(workdir), made in the background "
        "from the start of the session (tests/conftest.py)",
    )


# The workflow modules run in this order, after the unit tier: first those that read only the
# finished tiny run (made in the background while the unit tier runs), then those that read
# the other background runs, made meanwhile. Other modules run after these, by name.
WORKFLOW_ORDER = [
    "test_bad_inputs.py",
    "test_faults.py",
    "test_report_browser.py",
    "test_workflow.py",
    "test_config_resolution.py",
    "test_profiles.py",
    "test_job_errors.py",
    "test_slurm.py",
]


def pytest_collection_modifyitems(items):
    """Mark each test with its tier (the folder it lives in); order the workflow modules."""
    for item in items:
        for tier, folder in TIERS.items():
            if folder in item.path.parents:
                item.add_marker(tier)

    def rank(item) -> tuple[int, int]:
        if TIERS["workflow"] not in item.path.parents:
            return (0, 0)
        name = item.path.name
        return (1, WORKFLOW_ORDER.index(name) if name in WORKFLOW_ORDER else len(WORKFLOW_ORDER))

    items.sort(key=rank)  # stable: the order within a module and among the rest is kept


def run_tiny(workdir: Path) -> Path:
    """The tiny config run to its report in ``workdir``."""
    snakemake(workdir, TINY, "--cores", "2")
    return workdir


# Background runs made at once. Each leaves a CPU idle much of the time; with the tests in
# front, two keep the 2 CPUs of a small machine busy.
WORKERS = 2


class Background:
    """Runs made in background threads, WORKERS at a time, each in a directory of its own."""

    def __init__(self, tmp_path_factory: pytest.TempPathFactory) -> None:
        self._tmp = tmp_path_factory
        self._pool = ThreadPoolExecutor(WORKERS, thread_name_prefix="background-run")
        self._runs: dict[Callable, Future] = {}

    def start(self, make: Callable[..., object]) -> None:
        """Queue ``make`` (once); one that takes ``finished`` gets the finished tiny workflow
        (queued before it)."""
        if make in self._runs:
            return
        workdir = self._tmp.mktemp(make.__name__)
        if "finished" in inspect.signature(make).parameters:
            self.start(run_tiny)
            tiny = self._runs[run_tiny]
            self._runs[make] = self._pool.submit(lambda: make(workdir, finished=tiny.result()))
        else:
            self._runs[make] = self._pool.submit(make, workdir)

    def result(self, make: Callable[[Path], object]) -> object:
        """What ``make`` returned (queued now if it was not); its exception if it raised."""
        self.start(make)
        return self._runs[make].result()

    def close(self) -> None:
        """Drop the runs not started; wait for the one under way."""
        self._pool.shutdown(wait=True, cancel_futures=True)


@pytest.fixture(scope="session", autouse=True)
def background(request, tmp_path_factory):
    """The session's background runs, queued for the selected tests that need them."""
    runs = Background(tmp_path_factory)
    for item in request.session.items:
        if "finished" in getattr(item, "fixturenames", ()):
            runs.start(run_tiny)
        for marker in item.iter_markers("background"):
            runs.start(marker.args[0])
    yield runs
    runs.close()


@pytest.fixture(scope="session", autouse=True)
def one_thread():
    """The tests' own process computes on one thread (BLAS, OpenMP: scikit-learn's loss loops
    crawl when the cores are shared): its neighbours, the background runs and their jobs,
    share the cores with it. Torch's own threads: the modules that use it set one."""
    with threadpool_limits(1):
        yield


@pytest.fixture(scope="session")
def finished(background):
    """A working directory where the tiny config has run to its report (do not modify it;
    copy it with shutil.copytree to change anything). Made once per session, in the
    background, for every workflow test that needs finished results."""
    return background.result(run_tiny)


@pytest.fixture
def skip_md5(monkeypatch):
    """Accept fake files: torchvision's md5 list names the official files, which these are not.

    Verification is one function (data.archives.verify_files), so the tests replace just it;
    the parsing under test is the same code that reads the real files.
    """
    for module in (archives, idx, torchvision_sets):
        monkeypatch.setattr(module, "verify_files", lambda folder, files: None)
