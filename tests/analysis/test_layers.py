"""``promolab.analysis`` is layered: its module-level imports form no cycle, no function
imports a promolab module to dodge one, and the domain words come from ``spec``."""

from __future__ import annotations

import ast
from pathlib import Path

import promolab.analysis

PACKAGE = Path(promolab.analysis.__file__).parent
ROOT = "promolab.analysis"


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join((ROOT,) + parts)


def _modules() -> dict[str, ast.Module]:
    return {_module_name(p): ast.parse(p.read_text(encoding="utf-8")) for p in sorted(PACKAGE.rglob("*.py"))}


def _targets(node: ast.AST, module: str) -> list[str]:
    """promolab.analysis modules that an import statement names."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names if a.name.startswith(ROOT)]
    if isinstance(node, ast.ImportFrom) and node.module:
        base = node.module
        if node.level:  # relative import
            base = ".".join(module.split(".")[: -node.level] + ([node.module] if node.module else []))
        if not base.startswith(ROOT):
            return []
        return [base] + [f"{base}.{a.name}" for a in node.names]
    return []


def _type_checking(node: ast.If) -> bool:
    return isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"


def _graph(modules: dict[str, ast.Module]) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for name, tree in modules.items():
        edges: set[str] = set()
        for node in tree.body:  # module level only; TYPE_CHECKING blocks do not run
            if isinstance(node, ast.If) and _type_checking(node):
                continue
            for target in _targets(node, name):
                if target in modules and target != name:
                    edges.add(target)
        graph[name] = edges
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_module_level_imports_have_no_cycle() -> None:
    graph = _graph(_modules())
    assert len(graph) > 15  # the walk sees the package
    assert _cycle(graph) is None, " -> ".join(_cycle(graph) or [])


def test_the_walk_finds_a_cycle_when_there_is_one() -> None:
    """The cycle check itself can fail."""
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_no_promolab_import_inside_a_function() -> None:
    found = []
    for name, tree in _modules().items():
        for fn in ast.walk(tree):
            if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for node in ast.walk(fn):
                if isinstance(node, ast.Import) and any(a.name.startswith("promolab") for a in node.names):
                    found.append(f"{name}.{fn.name}")
                if isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").startswith("promolab")):
                    found.append(f"{name}.{fn.name}")
    assert found == []


def test_domain_words_are_defined_once_in_spec() -> None:
    """No analysis module spells out the tuple of kinds, directions, corrections, spendings or methods."""
    spelled = {("binomial", "mean", "ratio"), ("increase", "decrease"), ("holm", "bh", "none"),
               ("obf", "pocock", "hsd", "power"), ("gst", "msprt")}
    found = []
    for name, tree in _modules().items():
        for node in ast.walk(tree):
            if isinstance(node, ast.Tuple) and all(isinstance(e, ast.Constant) for e in node.elts):
                if tuple(e.value for e in node.elts) in spelled:
                    found.append(f"{name}: {tuple(e.value for e in node.elts)}")
    assert found == []
