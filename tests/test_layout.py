"""The package's layering: module-level imports run one way (no cycles).

Imports inside functions are the deliberate lazy ones (extras, the Dask
layer, a kernel module chosen at run time) and are not edges here.
"""

import ast
from pathlib import Path

import sknorm

PACKAGE = Path(sknorm.__file__).resolve().parent


def _modules():
    """``{dotted name: (path, dotted package parts)}`` of every module."""
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = ["sknorm", *path.relative_to(PACKAGE).with_suffix("").parts]
        package = parts[:-1]
        if parts[-1] == "__init__":
            parts = package
        found[".".join(parts)] = (path, package)
    return found


def _import_graph():
    """``{module: modules it imports at module level}`` within sknorm."""
    modules = _modules()
    graph = {}
    for name, (path, package) in modules.items():
        edges = set()
        for node in ast.parse(path.read_text("utf-8")).body:
            if isinstance(node, ast.ImportFrom):
                base = package[: len(package) - node.level + 1] if node.level else []
                target = ".".join(base + ([node.module] if node.module else []))
                for alias in node.names:
                    sub = f"{target}.{alias.name}"
                    edges.add(sub if sub in modules else target)
            elif isinstance(node, ast.Import):
                edges.update(alias.name for alias in node.names)
        graph[name] = {e for e in edges if e in modules and e != name}
    return graph


def _cycles(graph):
    state, stack, cycles = {}, [], []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for dep in sorted(graph[node]):
            if state.get(dep) == "open":
                cycles.append([*stack[stack.index(dep) :], dep])
            elif dep not in state:
                visit(dep)
        stack.pop()
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node)
    return cycles


def test_the_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [["a", "b", "c", "a"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_module_level_imports_have_no_cycle():
    graph = _import_graph()
    # The graph is the package's: the kernels and the steps they offer.
    assert "sknorm._kernels.numpy_steps" in graph["sknorm._kernels.numpy_blocked"]
    cycles = [" -> ".join(c) for c in _cycles(graph)]
    assert not cycles, "import cycles: " + "; ".join(cycles)
