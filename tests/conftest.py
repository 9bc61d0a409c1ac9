"""Fixtures shared by the test modules."""

import pytest
from tiny_workflow import TINY, snakemake


@pytest.fixture(scope="session")
def finished(tmp_path_factory):
    """A working directory where the tiny config has run to its report (do not modify it)."""
    workdir = tmp_path_factory.mktemp("tiny")
    snakemake(workdir, TINY, "--cores", "2")
    return workdir
