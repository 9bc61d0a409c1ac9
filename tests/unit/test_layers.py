"""The package's layers: formats/ at the bottom, holding files only; the modules that check a
config's choices, or that the planner, the aggregation and the report import, torch-free."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import hume_workflow

PACKAGE = Path(hume_workflow.__file__).parent
#: What a formats module may import from the package: the errors, the logs, other formats.
FORMATS_MAY_IMPORT = ("hume_workflow.errors", "hume_workflow.logs", "hume_workflow.formats")
#: Modules that must not import torch: their callers run in the Snakemake main process, or
#: in jobs that need no model (selection, vote, export, K choice, report, precomputed spaces).
TORCH_FREE = [
    "hume_workflow.choices",
    "hume_workflow.data.feature_config",
    "hume_workflow.data.features_only",
    "hume_workflow.data.sample_ids",
    "hume_workflow.data.setting",
    "hume_workflow.data.subsets",
    "hume_workflow.embed.pca",
    "hume_workflow.embed.precomputed",
    "hume_workflow.predict.feature_batches",
    *sorted(
        f"hume_workflow.{package}.{path.stem}"
        for package in ("formats", "aggregate")
        for path in (PACKAGE / package).glob("*.py")
        if path.stem != "__init__"
    ),
]


def _package_imports(path: Path) -> set[str]:
    """The hume_workflow modules a file imports, anywhere in it (also inside functions)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return {name for name in found if name.startswith("hume_workflow")}


@pytest.mark.parametrize("path", sorted((PACKAGE / "formats").glob("*.py")), ids=lambda p: p.name)
def test_formats_import_only_errors_logs_and_formats(path):
    """formats/ reads and writes files; what interprets a config or aligns rows is above it."""
    above = sorted(
        name
        for name in _package_imports(path)
        if not any(name == ok or name.startswith(f"{ok}.") for ok in FORMATS_MAY_IMPORT)
    )
    assert not above, f"formats/{path.name} imports {above}"


def test_modules_do_not_import_torch():
    """One interpreter imports them in turn; the first after which torch is loaded is named."""
    code = (
        "import importlib, sys\n"
        f"for module in {TORCH_FREE!r}:\n"
        "    importlib.import_module(module)\n"
        "    assert 'torch' not in sys.modules, f'{module} imports torch'\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-500:]


def test_config_choices_are_checked_without_hume_config():
    """The aggregation, the report and the prediction check their choices in choices.py."""
    importers = [
        path.relative_to(PACKAGE)
        for package in ("aggregate", "report", "predict")
        for path in sorted((PACKAGE / package).glob("*.py"))
        if "hume_workflow.hume.config" in _package_imports(path)
    ]
    assert not importers, f"{importers} import hume.config"
