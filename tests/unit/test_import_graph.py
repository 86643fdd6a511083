"""No import cycle between agentpipe's modules: neither among the imports Python runs when a module
loads, nor once the imports inside functions are counted (an import put in a function to dodge a
cycle still ties the two modules together)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("agentpipe", "handlers", "subscriptions", "producers", "stack", "offline_model", "benchmarks")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_in(tree: ast.Module, known: set[str], inside_functions: bool = False) -> set[str]:
    """Modules the module imports: those Python runs when it loads (its body), with
    ``inside_functions`` also those inside its functions; never TYPE_CHECKING blocks."""
    found: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            continue
        for sub in ast.walk(node):
            if isinstance(sub, ast.FunctionDef | ast.AsyncFunctionDef) and not inside_functions:
                break
            if isinstance(sub, ast.Import):
                found.update(alias.name for alias in sub.names)
            elif isinstance(sub, ast.ImportFrom) and sub.module and sub.level == 0:
                found.add(sub.module)
                found.update(f"{sub.module}.{alias.name}" for alias in sub.names)
    return {name for name in found if name in known}


def graph(inside_functions: bool = False) -> dict[str, set[str]]:
    files = [path for package in PACKAGES for path in (ROOT / package).rglob("*.py")]
    trees = {module_name(path): ast.parse(path.read_text()) for path in files}
    known = set(trees)
    return {name: imports_in(tree, known, inside_functions) - {name} for name, tree in trees.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    found: list[list[str]] = []
    state: dict[str, str] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = "open"
        stack.append(node)
        for target in sorted(edges.get(node, ())):
            if state.get(target) == "open":
                found.append([*stack[stack.index(target) :], target])
            elif target not in state:
                visit(target)
        stack.pop()
        state[node] = "done"

    for node in sorted(edges):
        if node not in state:
            visit(node)
    return found


def test_the_graph_is_read() -> None:
    edges = graph()
    assert "handlers.request_ids" in edges["handlers.intake"]
    assert "handlers.pattern" in edges["handlers.chaining"]


def test_no_import_cycle() -> None:
    assert cycles(graph()) == []


def test_no_import_cycle_through_imports_inside_functions() -> None:
    assert cycles(graph(inside_functions=True)) == []


def test_a_cycle_would_be_found() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [["a", "b", "c", "a"]]


def test_the_client_and_the_subscription_map_import_no_server_code() -> None:
    """producers/ (the CLI, the client library, the inbox) and subscriptions/ read the contract in
    agentpipe/, never handlers/: a client must not load the services (nor restate) to send a request."""
    edges = graph(inside_functions=True)
    server = [
        (module, target)
        for module, targets in edges.items()
        if module.split(".")[0] in ("producers", "subscriptions")
        for target in targets
        if target.split(".")[0] == "handlers"
    ]
    assert server == []
