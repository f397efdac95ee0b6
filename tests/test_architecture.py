"""The layering of docs/architecture.md, checked on the source: rings import inward only, no
module imports itself back through others, functions read at once, modules stay one topic.

Every import counts, also those inside functions: a lazy import is still a dependency.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "deepff"

#: Ring of each folder (the engine is the flat top level). Higher rings may import lower ones.
RINGS = {"": 1, "io": 2, "runs": 3, "estimators": 4, "tuning": 4, "tracking": 4, "cli": 5}
MAX_FUNCTION_LINES = 80
MAX_MODULE_LINES = 1000


def module_name(path: Path) -> str:
    parts = ["deepff", *path.relative_to(PACKAGE).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def folder(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 2 and MODULES[module].name != "__init__.py":
        return ""  # deepff.network: the engine
    return parts[1] if len(parts) > 1 else ""


def ring(module: str) -> int | None:
    if module in ("deepff", "deepff.__main__"):
        return None  # the facade and the entry point sit outside the rings
    return RINGS[folder(module)]


def resolve(module: str, node: ast.ImportFrom | ast.Import, package: bool | None = None):
    """The deepff modules an import statement in ``module`` loads (``package``: whether
    ``module`` is a package's ``__init__``; a name imported may be a module or an object)."""
    if package is None:
        package = MODULES[module].name == "__init__.py"
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    else:
        if node.level:
            base = module.split(".")
            if not package:
                base = base[:-1]
            base = base[: len(base) - node.level + 1]
            prefix = ".".join(base + ([node.module] if node.module else []))
        else:
            prefix = node.module or ""
        # ``from pkg import sub`` loads the submodule; ``from mod import name`` loads mod.
        names = [
            f"{prefix}.{alias.name}" if f"{prefix}.{alias.name}" in MODULES else prefix
            for alias in node.names
        ]
    found = []
    for name in names:
        while name and name not in MODULES:
            name = name.rpartition(".")[0]
        if name.startswith("deepff") and name not in found:
            found.append(name)
    return found


def imports_of(module: str) -> dict[str, int]:
    """{imported deepff module: line} for every import in ``module``, lazy ones included."""
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    out = {}
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            for target in resolve(module, node):
                if target != module:
                    out.setdefault(target, node.lineno)
    return out


GRAPH = {module: imports_of(module) for module in MODULES}


def test_the_rings_are_there():
    folders = {folder(module) for module in MODULES}
    assert {"", "io", "runs", "estimators", "tuning", "cli"} <= folders, sorted(folders)
    assert set(folders) <= set(RINGS), sorted(set(folders) - set(RINGS))


def test_imports_run_inward_only():
    wrong = []
    for module, targets in GRAPH.items():
        for target, line in targets.items():
            if module == "deepff":
                allowed = ring(target) == 1
            elif module == "deepff.__main__":
                allowed = True
            else:
                inner, outer = ring(target), ring(module)
                allowed = inner is not None and inner <= outer
                if allowed and inner == outer and folder(target) != folder(module):
                    allowed = False  # estimators and tuning stand side by side
            if not allowed:
                wrong.append(f"{MODULES[module].relative_to(PACKAGE)}:{line} imports {target}")
    assert not wrong, "imports that run outward:\n" + "\n".join(wrong)


def test_no_circles():
    # Depth-first search; a package's own __init__ importing its submodules is part of the
    # graph like any other import, so a submodule importing its package back is a circle.
    state, stack, circles = {}, [], []

    def visit(module):
        state[module] = "open"
        stack.append(module)
        for target in GRAPH[module]:
            if state.get(target) == "open":
                circles.append(" -> ".join([*stack[stack.index(target) :], target]))
            elif target not in state:
                visit(target)
        stack.pop()
        state[module] = "done"

    for module in MODULES:
        if module not in state:
            visit(module)
    assert not circles, "import circles:\n" + "\n".join(circles)


def function_lines(node) -> int:
    """Lines of a function, its signature and docstring included: what a reader reads."""
    return node.end_lineno - node.lineno + 1


@pytest.mark.parametrize("module", sorted(MODULES))
def test_functions_read_at_once(module):
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    long = [
        f"{node.name} (line {node.lineno}): {function_lines(node)} lines"
        for node in ast.walk(tree)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        and function_lines(node) > MAX_FUNCTION_LINES
    ]
    assert not long, f"{module}: functions over {MAX_FUNCTION_LINES} lines: {long}"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_modules_hold_one_topic(module):
    lines = len(MODULES[module].read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_MODULE_LINES, f"{module}: {lines} lines"


def test_the_checker_sees_lazy_and_relative_imports():
    # The checks above are only as good as the resolver: a function-level relative import of
    # a module and of a name inside it must both be found.
    source = "def f():\n    from ..io import toml\n    from ..network import Network\n"
    node_a, node_b = (n for n in ast.walk(ast.parse(source)) if isinstance(n, ast.ImportFrom))
    assert resolve("deepff.runs.run", node_b, package=False) == ["deepff.network"]
    assert resolve("deepff.runs.run", node_a, package=False)[0].startswith("deepff.io")
    (node_c,) = ast.parse("from . import layers").body
    assert resolve("deepff.network", node_c) == ["deepff.layers"]
