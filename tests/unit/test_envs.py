"""Each rule's conda env lists every third-party package its script (and the library) imports."""

import ast
import re
import sys
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest
import yaml
from tiny_workflow import REPO

LIBRARY = REPO / "src"
RULE_RE = re.compile(r"^rule (\w+):\n(.*?)(?=^rule |\Z)", re.M | re.S)


def normalise(name: str) -> str:
    return re.split(r"[\s<>=!~\[]", name.strip(), maxsplit=1)[0].lower().replace("_", "-")


def rules_with_envs():
    for smk in sorted((REPO / "workflow/rules").glob("*.smk")):
        for name, body in RULE_RE.findall(smk.read_text()):
            conda = re.search(r'conda:\s*"([^"]+)"', body)
            script = re.search(r'script:\s*"([^"]+)"', body)
            if script:
                yield (
                    name,
                    (smk.parent / conda.group(1)).resolve() if conda else None,
                    (smk.parent / script.group(1)).resolve(),
                )


def runtime_nodes(tree: ast.AST):
    """Every node of ``tree`` except those under ``if TYPE_CHECKING:`` (never executed)."""
    for child in ast.iter_child_nodes(tree):
        if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
            yield from (n for orelse in child.orelse for n in [orelse, *runtime_nodes(orelse)])
            continue
        yield child
        yield from runtime_nodes(child)


def imported_modules(path: Path, seen: set[Path] | None = None) -> set[str]:
    """Top-level modules imported by ``path`` when it runs, following imports of the library
    itself (not those only for type checkers)."""
    seen = seen if seen is not None else set()
    if path in seen:
        return set()
    seen.add(path)
    found = set()
    for node in runtime_nodes(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # `from hume_workflow.data import idx` imports a module too
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        for name in names:
            if name.split(".")[0] == "hume_workflow":
                module_file = LIBRARY / (name.replace(".", "/") + ".py")
                if not module_file.exists():
                    module_file = LIBRARY / name.replace(".", "/") / "__init__.py"
                if module_file.exists():  # else a name imported from a module, not a module
                    found |= imported_modules(module_file, seen)
            else:
                found.add(name.split(".")[0])
    return found


def env_packages(env_file: Path) -> set[str]:
    deps = yaml.safe_load(env_file.read_text())["dependencies"]
    names = set()
    for dep in deps:
        names |= {normalise(d) for d in dep["pip"]} if isinstance(dep, dict) else {normalise(dep)}
    return names


RULES = list(rules_with_envs())


def test_every_rule_with_a_script_has_an_env():
    assert RULES
    assert all(env is not None and env.exists() for _, env, _ in RULES), RULES


@pytest.fixture(scope="module")
def distributions() -> dict[str, list[str]]:
    """{top-level module: its distributions} of this environment (a scan of every installed
    distribution: made once for the module)."""
    return packages_distributions()


@pytest.mark.parametrize(("rule", "env", "script"), RULES, ids=[r[0] for r in RULES])
def test_env_lists_what_the_script_imports(rule, env, script, distributions):
    third_party = imported_modules(script) - set(sys.stdlib_module_names)
    needed = {normalise(distributions[module][0]) for module in third_party}
    missing = needed - env_packages(env)
    assert not missing, f"rule {rule}: {env.name} lacks {sorted(missing)}"


def test_envs_agree_with_pyproject():
    import tomllib

    declared = {
        normalise(d)
        for d in tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    }
    for env in sorted((REPO / "envs").glob("*.yaml")):
        extra = env_packages(env) - declared - {"python", "pip"}
        assert not extra, f"{env.name} lists {sorted(extra)} that pyproject.toml does not"
