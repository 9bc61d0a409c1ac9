"""The package's layers: no module imports upward, no import loop between sub-packages, and
the planner never reaches torch.

Read from the source with ``ast`` (nothing is imported). Every ``import`` counts for the
layers, wherever it is written (in a function, under ``TYPE_CHECKING``); for the torch check
only those that run when a module is imported (module level, not under ``TYPE_CHECKING``),
followed from module to module.

Layers, bottom to top (``LAYERS``): ``errors``, ``logs`` and ``choices`` (the allowed config
values); ``formats`` (files only); ``data`` (the dataset sources and their loaders, torch-free
where the planner reads them); ``plan`` (what the Snakemake main process imports: torch-free);
then the stages: ``models``, ``embed``, ``hume``, ``turtle``, ``aggregate``, ``report``,
``predict``, ``cluster``. ``ALLOWED`` names what each sub-package may import; a new edge is
either added there (below it in ``LAYERS``) or a design change.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

import hume_workflow
from hume_workflow.plan.methods import METHODS

PACKAGE = Path(hume_workflow.__file__).parent
ROOT = PACKAGE.name  # "hume_workflow"

#: Sub-packages (and top-level modules), bottom to top.
LAYERS = (
    "errors",
    "logs",
    "choices",
    "formats",
    "data",
    "plan",
    "models",
    "embed",
    "hume",
    "turtle",
    "aggregate",
    "report",
    "predict",
    "cluster",
)
_LOW = {"errors", "logs", "choices"}
#: What each sub-package may import besides itself.
ALLOWED: dict[str, set[str]] = {
    "errors": set(),
    "logs": {"errors"},
    "choices": {"errors"},
    "formats": {"errors", "logs"},
    "data": _LOW | {"formats"},
    "plan": _LOW | {"formats", "data"},
    "models": _LOW | {"plan"},
    "embed": _LOW | {"formats", "data", "plan", "models"},
    "hume": _LOW | {"formats", "data", "plan"},
    # TURTLE's runs are scored, and their jobs sized, with HUME's generalisation score and its
    # resource constants (hume/score.py, hume/config.py ScoreConfig, hume/resources.py)
    "turtle": _LOW | {"formats", "data", "plan", "hume"},
    "aggregate": _LOW | {"formats", "data", "plan"},
    "report": _LOW | {"formats", "data", "plan", "aggregate"},
    "predict": _LOW | {"formats", "data", "plan", "embed", "aggregate"},
    "cluster": _LOW,
}
TORCH = {"torch", "torchvision", "timm"}


@dataclass(frozen=True)
class Import:
    """One imported module: ``target`` (dotted; for ``from m import name``, ``m.name`` when
    that is a module of the package, else ``m``) and whether it runs at import time."""

    target: str
    at_import: bool


@cache
def modules() -> dict[str, Path]:
    """Every module of the package by dotted name (a package by its ``__init__.py``)."""
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _is_type_checking(test: ast.expr) -> bool:
    name = test.attr if isinstance(test, ast.Attribute) else getattr(test, "id", None)
    return name == "TYPE_CHECKING"


def _targets(node: ast.Import | ast.ImportFrom, module: str) -> list[str]:
    """The dotted modules one import statement names."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = node.module or ""
    if node.level:  # relative: from the module's package
        is_package = modules()[module].name == "__init__.py"
        package = module.split(".")[: len(module.split(".")) - node.level + is_package]
        base = ".".join([*package, base] if base else package)
    known = modules()
    return [
        f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names
    ]


@cache
def imports(module: str) -> tuple[Import, ...]:
    """The imports written in ``module``."""
    found: list[Import] = []

    def visit(node: ast.AST, at_import: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                found.extend(Import(t, at_import) for t in _targets(child, module))
            elif isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                visit(child, False)
            elif isinstance(child, ast.If) and _is_type_checking(child.test):
                for statement in child.body:
                    visit(ast.Module(body=[statement], type_ignores=[]), False)
                for statement in child.orelse:
                    visit(ast.Module(body=[statement], type_ignores=[]), at_import)
            else:
                visit(child, at_import)

    visit(ast.parse(modules()[module].read_text()), True)
    return tuple(found)


def package_of(module: str) -> str | None:
    """The sub-package (or top-level module) ``module`` belongs to; None outside the package
    or for the package itself."""
    parts = module.split(".")
    return parts[1] if parts[0] == ROOT and len(parts) > 1 else None


def package_edges() -> dict[tuple[str, str], list[tuple[str, str]]]:
    """(importer's sub-package, imported's) -> the (module, imported module) pairs."""
    edges: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for module in modules():
        for imported in imports(module):
            a, b = package_of(module), package_of(imported.target)
            if a is not None and b is not None and a != b:
                edges.setdefault((a, b), []).append((module, imported.target))
    return edges


def _violations(rule: dict[str, set[str]]) -> list[str]:
    """'module -> imported' for every import from a sub-package that ``rule`` names to one
    it does not allow."""
    return sorted(
        f"{module} -> {target}"
        for (a, b), pairs in package_edges().items()
        if a in rule and b not in rule[a]
        for module, target in pairs
    )


def test_every_module_is_in_a_layer():
    packages = {package_of(module) for module in modules()} - {None}
    assert sorted(packages - set(LAYERS)) == []
    assert set(ALLOWED) == set(LAYERS)


def test_allowed_imports_point_down_the_layers():
    """So the allowed graph has no cycle."""
    upward = [
        f"{package} -> {other}"
        for package, others in ALLOWED.items()
        for other in others
        if LAYERS.index(other) >= LAYERS.index(package)
    ]
    assert upward == []


def test_every_import_between_sub_packages_is_allowed():
    assert _violations(ALLOWED) == [], "not in ALLOWED (an upward import?)"


def test_formats_imports_nothing_above_it():
    """formats/ holds files only: readers, writers, typed records."""
    assert _violations({"formats": {"errors", "logs"}}) == []


def test_plan_imports_nothing_above_it():
    """The planner reads the layers below it (the dataset sources and loaders of data/
    included), never a stage."""
    assert _violations({"plan": set(LAYERS[: LAYERS.index("plan")])}) == []


def test_no_import_loop_between_sub_packages():
    """No two sub-packages reach each other through their imports."""
    graph: dict[str, set[str]] = {}
    for a, b in package_edges():
        graph.setdefault(a, set()).add(b)

    def reach(start: str) -> set[str]:
        seen, todo = set(), [start]
        while todo:
            for nxt in graph.get(todo.pop(), ()):
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        return seen

    reached = {package: reach(package) for package in graph}
    loops = sorted(
        f"{a} <-> {b}" for a in reached for b in reached[a] if a < b and a in reached.get(b, ())
    )
    assert loops == []


def _reached_at_import(module: str) -> dict[str, str]:
    """{module reached when ``module`` is imported: the module that imports it}, following
    the package's modules (and their parent packages) at import time."""
    reached: dict[str, str] = {module: ""}
    todo = [module]
    while todo:
        current = todo.pop()
        for imported in imports(current):
            if not imported.at_import:
                continue
            parts = imported.target.split(".")
            for end in range(1, len(parts) + 1):  # a.b.c runs a, a.b, then a.b.c
                target = ".".join(parts[:end])
                if target not in reached:
                    reached[target] = current
                    if target in modules():
                        todo.append(target)
    return reached


def _torch_free_modules() -> list[str]:
    """plan/ and hume/resources.py (the Snakemake main process imports them to check configs
    and size jobs), the
    files and the aggregation (jobs that need no model), and the torch-free parts of data/,
    embed/ and predict/ that the planner or a model-free job reads."""
    listed = {
        f"{ROOT}.choices",
        f"{ROOT}.data.feature_config",
        f"{ROOT}.data.features_only",
        f"{ROOT}.data.sample_ids",
        f"{ROOT}.data.setting",
        f"{ROOT}.data.subsets",
        f"{ROOT}.embed.pca",
        f"{ROOT}.hume.resources",
        f"{ROOT}.embed.precomputed",
        f"{ROOT}.predict.feature_batches",
    }
    packages = {"plan", "formats", "aggregate"}
    return sorted(listed | {m for m in modules() if package_of(m) in packages})


@pytest.mark.parametrize("module", _torch_free_modules())
def test_torch_free_modules_never_reach_torch(module):
    """Followed from module to module at import time; a lazy import inside a function
    (preflight's model-name look-up) runs only when called."""
    reached = _reached_at_import(module)
    chains = []
    for library in sorted(TORCH & {name.split(".")[0] for name in reached}):
        chain, step = [], next(name for name in reached if name.split(".")[0] == library)
        while step:
            chain.append(step)
            step = reached[step]
        chains.append(" <- ".join(chain))
    assert chains == []


def test_the_stages_after_the_runs_import_no_method():
    """Selection, vote, K choice, export, evaluation, the report and prediction read every
    method's run files (formats/run.py) and never a method's sub-package."""
    methods = set(METHODS)
    assert methods <= set(LAYERS)
    stages = {"aggregate", "report", "predict"}
    assert {a: b for a, b in package_edges() if a in stages and b in methods} == {}
