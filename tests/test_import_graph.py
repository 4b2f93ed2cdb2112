"""The import graph of ``asgid`` and ``asgid_layers``: no cycles, no import against the layers.

Every ``import`` statement counts, those under ``if TYPE_CHECKING:`` and inside functions
included: a typing-only back-edge is still a part that knows its owner. The allowed
directions are the table in docs/design.md ("Import direction").
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = {
    "asgid": ROOT / "server" / "asgid",
    "asgid_layers": ROOT / "channel_layers" / "asgid_layers",
}
# Modules that may use only the standard library (and each other).
FOUNDATION = {
    "asgid.config",
    "asgid.types",
    "asgid.errors",
    "asgid.proxy_headers",
    "asgid.events",
    "asgid.tls_options",  # the TLS part of Config, kept free of OpenSSL
    "asgid.hooks",  # the interface the request path reports to (limits, metrics)
}
REACTOR_OWNERS = {"asgid.cli", "asgid.reactor", "asgid.server"}
WIRES = ("asgid.protocols.http1", "asgid.protocols.http2", "asgid.protocols.websocket")


def _module_name(package: str, base: Path, path: Path) -> str:
    parts = [package, *path.relative_to(base).with_suffix("").parts]
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imported(module: str, is_package: bool, tree: ast.Module) -> list[tuple[str, list[str]]]:
    """Each import statement in ``tree`` as (module named, [module.name for each name taken])."""
    found: list[tuple[str, list[str]]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, []) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".")
                anchor = anchor[: len(anchor) - node.level + (1 if is_package else 0)]
                base = ".".join([*anchor, base] if base else anchor)
            found.append((base, [f"{base}.{alias.name}" for alias in node.names]))
    return found


def _targets(found: list[tuple[str, list[str]]], known: set[str] | dict[str, object]) -> set[str]:
    """The modules the statements import: ``from pkg import mod`` is the module ``pkg.mod``
    (the package itself counts only when a name is not a submodule)."""
    names: set[str] = set()
    for base, taken in found:
        submodules = [name for name in taken if name in known]
        names.update(submodules)
        if len(submodules) < len(taken) or not taken:
            names.add(base)
    return names


def _read() -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """Module -> the modules of the two packages it imports, and -> everything else it imports."""
    sources: dict[str, tuple[bool, ast.Module]] = {}
    for package, base in PACKAGES.items():
        for path in sorted(base.rglob("*.py")):
            name = _module_name(package, base, path)
            sources[name] = (path.name == "__init__.py", ast.parse(path.read_text(), str(path)))
    internal: dict[str, set[str]] = {}
    external: dict[str, set[str]] = {}
    for name, (is_package, tree) in sources.items():
        found = _imported(name, is_package, tree)
        imported = _targets(found, sources)
        internal[name] = {other for other in imported if other in sources and other != name}
        # Outside the packages, "from twisted.internet import reactor" names the module too.
        every = {base for base, _ in found} | {full for _, taken in found for full in taken}
        external[name] = {other for other in every if other not in sources}
    return internal, external


def _graph() -> dict[str, set[str]]:
    return _read()[0]


def _externals() -> dict[str, set[str]]:
    return _read()[1]


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in sorted(graph[node]):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def _within(module: str, *prefixes: str) -> bool:
    return any(module == prefix or module.startswith(prefix + ".") for prefix in prefixes)


def _forbidden(module: str, imported: str) -> str | None:
    """Why ``module`` may not import ``imported``, or None when it may."""
    if _within(module, "asgid_layers") != _within(imported, "asgid_layers"):
        return "asgid_layers and asgid never import each other"
    if module in FOUNDATION and imported not in FOUNDATION:
        return "the modules of FOUNDATION use the standard library (and each other) only"
    if _within(module, "asgid.asgi") and not _within(imported, "asgid.asgi", *FOUNDATION):
        return "asgi/* imports only asgi/* and the stdlib-only modules (events, types, errors, ...)"
    if _within(module, "asgid.protocols.io") and _within(
        imported, *WIRES, "asgid.protocols.switcher"
    ):
        return "protocols/io is below the wires and the switcher"
    if _within(module, *WIRES) and imported == "asgid.protocols.switcher":
        return "the wires are below the switcher: hand-offs go through the switcher's methods"
    if _within(module, "asgid.protocols", "asgid.asgi") and imported in {
        "asgid.server",
        "asgid.cli",
        "asgid.supervisor",
    }:
        return "protocols/* and asgi/* are below server, supervisor and cli"
    return None


def test_no_import_cycle() -> None:
    cycles = _cycles(_graph())
    assert cycles == [], "modules importing each other in a loop: " + "; ".join(
        " <-> ".join(cycle) for cycle in cycles
    )


def test_imports_go_down_the_layers() -> None:
    wrong = [
        f"{module} imports {imported}: {why}"
        for module, imports in sorted(_graph().items())
        for imported in sorted(imports)
        if (why := _forbidden(module, imported)) is not None
    ]
    assert wrong == []


def test_only_cli_reactor_and_server_import_the_global_reactor() -> None:
    wrong = sorted(
        module
        for module, names in _externals().items()
        if "twisted.internet.reactor" in names and module not in REACTOR_OWNERS
    )
    assert wrong == [], "take the reactor as a parameter instead"


def test_asgi_side_has_no_twisted_but_its_instances() -> None:
    wrong = sorted(
        module
        for module, names in _externals().items()
        if _within(module, "asgid.asgi")
        and module != "asgid.asgi.instance"
        and any(_within(name, "twisted") for name in names)
    )
    assert wrong == []


@pytest.mark.parametrize(
    ("graph", "expected"),
    [
        ({"a": {"b"}, "b": {"c"}, "c": set()}, []),
        ({"a": {"b"}, "b": {"c"}, "c": {"a"}}, [["a", "b", "c"]]),
        ({"a": {"b"}, "b": {"a"}, "c": {"c"}}, [["a", "b"]]),
    ],
)
def test_cycle_finder_finds_loops(graph: dict[str, set[str]], expected: list[list[str]]) -> None:
    # The checks above pass on an empty answer, so the finder itself must be seen to find.
    assert _cycles(graph) == expected


def test_graph_sees_type_checking_and_relative_imports() -> None:
    tree = ast.parse(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from asgid.protocols.switcher import X\n"
        "from . import sibling\nfrom ..events import Request\n"
    )
    known = {"asgid.protocols.http1.sibling"}
    names = _targets(_imported("asgid.protocols.http1.protocol", False, tree), known)
    assert names == {
        "typing",
        "asgid.protocols.switcher",
        "asgid.protocols.http1.sibling",  # a submodule: not its package
        "asgid.protocols.events",
    }
