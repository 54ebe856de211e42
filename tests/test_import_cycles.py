"""No runtime import cycles inside `harness`: a module never imports one that is still initialising.

A cycle works until someone moves an import or imports the modules in another order, then fails
with a half-initialised module; this pins the graph acyclic. The graph is built from the source
(no heavy imports): module-level `import` and `from ... import` statements, where imports under
`if TYPE_CHECKING:` and inside functions do not count, because they never run at import time.
"""

from __future__ import annotations

import ast
from pathlib import Path

import harness

PACKAGE_ROOT = Path(harness.__file__).parent


def module_names() -> dict[str, Path]:
    modules = {}
    for path in PACKAGE_ROOT.rglob("*.py"):
        parts = path.relative_to(PACKAGE_ROOT.parent).with_suffix("").parts
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or \
        (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def import_time_statements(body: list[ast.stmt]) -> list[ast.Import | ast.ImportFrom]:
    """Import statements that run when the module is imported (class bodies run; functions do not)."""
    found: list[ast.Import | ast.ImportFrom] = []
    for statement in body:
        if isinstance(statement, (ast.Import, ast.ImportFrom)):
            found.append(statement)
        elif isinstance(statement, ast.If):
            found += import_time_statements(statement.orelse)
            if not _is_type_checking(statement.test):
                found += import_time_statements(statement.body)
        elif isinstance(statement, (ast.Try, ast.With, ast.ClassDef, ast.For, ast.While)):
            for field in ("body", "handlers", "orelse", "finalbody"):
                for child in getattr(statement, field, []):
                    found += import_time_statements(child.body if isinstance(child, ast.ExceptHandler) else [child])
    return found


def imported_modules(module: str, path: Path, known: set[str]) -> set[str]:
    """The harness modules `module` imports at import time.

    `from X import name` depends on X (its namespace must be initialised) and, when X.name is a
    module, on that too. A submodule's implicit import of its parent package is no edge: every
    package imports its own modules that way without a cycle.
    """
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    targets: set[str] = set()
    for statement in import_time_statements(ast.parse(path.read_text(encoding="utf-8")).body):
        if isinstance(statement, ast.Import):
            targets.update(alias.name for alias in statement.names)
            continue
        base = package.split(".")
        if statement.level:
            base = base[:len(base) - statement.level + 1]
        source = ".".join([*base, statement.module] if statement.level and statement.module
                          else base if statement.level else [statement.module or ""])
        targets.add(source)
        targets.update(f"{source}.{alias.name}" for alias in statement.names)
    return {target for target in targets if target in known and target != module}


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for successor in sorted(graph[node]):
            if successor not in index:
                visit(successor)
                low[node] = min(low[node], low[successor])
            elif successor in on_stack:
                low[node] = min(low[node], index[successor])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return cycles


def import_graph() -> dict[str, set[str]]:
    modules = module_names()
    return {module: imported_modules(module, path, set(modules)) for module, path in modules.items()}


def test_cycle_finder_sees_a_package_importing_a_module_that_imports_it_back() -> None:
    graph = {"harness.tasks": {"harness.tasks.task"}, "harness.tasks.task": {"harness.tasks", "harness.tasks.reward"},
             "harness.tasks.reward": set()}
    assert import_cycles(graph) == [["harness.tasks", "harness.tasks.task"]]


def test_graph_reads_from_package_imports_and_skips_type_checking_and_functions(tmp_path: Path) -> None:
    source = tmp_path / "task.py"
    source.write_text("from typing import TYPE_CHECKING\nfrom harness.tasks import reward\n"
                      "if TYPE_CHECKING:\n    from harness.api import evaluate\n"
                      "def later():\n    from harness.cli import app\n")
    known = {"harness.tasks", "harness.tasks.task", "harness.tasks.reward", "harness.api", "harness.cli"}
    assert imported_modules("harness.tasks.task", source, known) == {"harness.tasks", "harness.tasks.reward"}


def test_harness_has_no_runtime_import_cycles() -> None:
    cycles = import_cycles(import_graph())
    assert not cycles, "runtime import cycles (move an import into the function that needs it, or " \
                       "import the submodule instead of the package): " + "; ".join(" <-> ".join(c) for c in cycles)
