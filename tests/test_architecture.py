"""The architecture, asserted over the sources with ``ast`` (nothing is imported or run).

- ``p2p_platform`` imports nothing of the bank but ``bank_depository.protocol``;
- every ``domain/`` package is pure: no Flask, sqlite3 or requests;
- the project's modules form no import cycle;
- business time (``datetime.now``, ``utcnow``, ``date.today``, ``time.time()``) is read only by the two clocks.

A failure names each offending ``file:line``.
"""
from __future__ import annotations

import ast
import pathlib
from dataclasses import dataclass

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGES = ("bank_depository", "p2p_platform", "scenarios")
TOP_MODULES = ("cli", "serving")
CLOCKS = {"bank_depository/clock.py", "p2p_platform/clock.py"}

# Cycles that exist on this branch and that the platform services refactor (issue 16) removes.
# Each entry must still be a cycle: when one disappears, delete it here, so the list only shrinks.
KNOWN_CYCLES: set[frozenset[str]] = set()  # none left: a new cycle fails the build


@dataclass(frozen=True)
class Import:
    module: str     # the importing module, e.g. "p2p_platform.services.agent"
    target: str     # the absolute name imported, e.g. "bank_depository.protocol.money"
    where: str      # "file:line"


def _modules() -> dict[str, pathlib.Path]:
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    for name in TOP_MODULES:
        found[name] = ROOT / f"{name}.py"
    return found


MODULES = _modules()


def _rel(path: pathlib.Path) -> str:
    return path.relative_to(ROOT).as_posix()


def _imports() -> list[Import]:
    """Every import statement, at module level or deferred inside a function, as absolute names."""
    out = []
    for name, path in MODULES.items():
        package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            where = f"{_rel(path)}:{getattr(node, 'lineno', 0)}"
            if isinstance(node, ast.Import):
                out += [Import(name, alias.name, where) for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package[:len(package) - (node.level - 1)]
                    source = ".".join(base + ([node.module] if node.module else []))
                else:
                    source = node.module or ""
                for alias in node.names:
                    # ``from pkg import sub`` imports the submodule ``pkg.sub`` when there is one.
                    sub = f"{source}.{alias.name}"
                    out.append(Import(name, sub if sub in MODULES else source, where))
    return out


IMPORTS = _imports()


def _project_module(target: str) -> str | None:
    while target and target not in MODULES:
        target = target.rpartition(".")[0]
    return target or None


def import_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {name: set() for name in MODULES}
    for imp in IMPORTS:
        target = _project_module(imp.target)
        if target and target != imp.module:
            graph[imp.module].add(target)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def _edges_within(component: list[str]) -> list[str]:
    members = set(component)
    return sorted({f"{imp.where} {imp.module} -> {_project_module(imp.target)}" for imp in IMPORTS
                   if imp.module in members and _project_module(imp.target) in members - {imp.module}})


def test_the_platform_imports_nothing_of_the_bank_but_its_protocol():
    offenders = [f"{imp.where} imports {imp.target}" for imp in IMPORTS
                 if imp.module.split(".")[0] == "p2p_platform"
                 and imp.target.split(".")[0] == "bank_depository"
                 and not (imp.target + ".").startswith("bank_depository.protocol.")]
    assert offenders == [], "p2p_platform may import only bank_depository.protocol:\n" + "\n".join(offenders)


def test_the_protocol_imports_nothing_of_either_app():
    offenders = [f"{imp.where} imports {imp.target}" for imp in IMPORTS
                 if imp.module.startswith("bank_depository.protocol")
                 and imp.target.split(".")[0] in PACKAGES + TOP_MODULES
                 and not imp.target.startswith("bank_depository.protocol")]
    assert offenders == [], "bank_depository.protocol is shared; it imports only itself:\n" + "\n".join(offenders)


def test_no_domain_package_imports_flask_sqlite3_or_requests():
    banned = {"flask", "sqlite3", "requests", "werkzeug"}
    offenders = [f"{imp.where} imports {imp.target}" for imp in IMPORTS
                 if ".domain" in imp.module and imp.target.split(".")[0] in banned]
    assert offenders == [], "domain/ is pure (no Flask, sqlite3, requests):\n" + "\n".join(offenders)


def test_the_project_has_no_import_cycle():
    found = cycles(import_graph())
    new = [c for c in found if frozenset(c) not in KNOWN_CYCLES]
    report = "\n\n".join("cycle: " + " <-> ".join(c) + "\n  " + "\n  ".join(_edges_within(c)) for c in new)
    assert new == [], "import cycles among the project's modules:\n" + report
    gone = [sorted(c) for c in KNOWN_CYCLES if sorted(c) not in found]
    assert gone == [], f"these cycles are gone: remove them from KNOWN_CYCLES in {__file__}: {gone}"


def test_the_cycle_finder_reports_a_cycle_and_ignores_a_chain():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": set()}) == []


def _dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return _dotted(node.value) + "." + node.attr
    return ""


def system_time_reads(source: str) -> list[int]:
    """Lines that read wall-clock time as business time (``perf_counter``/``monotonic`` are fine)."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call):
            name = _dotted(node.func)
            parts = name.split(".")
            if (parts[-1] in ("now", "utcnow", "today") and len(parts) > 1
                    and parts[-2] in ("datetime", "date", "dt")) or name == "time.time":
                lines.append(node.lineno)
    return lines


def test_only_the_two_clocks_read_the_system_time():
    offenders = [f"{_rel(path)}:{line}" for path in MODULES.values() if _rel(path) not in CLOCKS
                 for line in system_time_reads(path.read_text(encoding="utf-8"))]
    assert offenders == [], "business time comes from the clocks only:\n" + "\n".join(offenders)


def test_the_time_check_sees_datetime_now_and_time_time_but_not_perf_counter():
    source = ("import datetime as dt, time\nfrom datetime import datetime, date\n"
              "a = dt.datetime.now()\nb = datetime.utcnow()\nc = date.today()\nd = time.time()\n"
              "e = time.perf_counter()\nf = time.monotonic()\n")
    assert system_time_reads(source) == [3, 4, 5, 6]
