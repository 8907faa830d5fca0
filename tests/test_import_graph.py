"""The package arrows of DESIGN.md, read from the source (every import, also inside functions).

`signaling` drives `sfu`, `recorder`, `livestream` and `web`; the sidecars use the SFU's taps and
know nothing of the control plane; `web` is files and imports nothing of the server. `recorder`
draws its composite archive with the live stream's layout and clock (`livestream`), so the
livestream never imports the recorder. `benchmarks` measures the product packages. Nothing
imports `tests`: it is not packaged. Nothing imports `benchmarks` but `cloudcourt loadtest`
(signaling/cli.py), and only inside the command's function: the load generator is part of the
installed command, while `cloudcourt serve` never loads it (benchmarks.probe wraps aioice's
socket callbacks in the processes it is loaded into).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("signaling", "sfu", "recorder", "livestream", "web", "benchmarks", "tests")
ALLOWED = {
    "signaling": {"sfu", "recorder", "livestream", "web"},
    "recorder": {"sfu", "livestream"},
    "livestream": {"sfu"},
    "sfu": set(),
    "web": set(),
    "benchmarks": {"sfu", "recorder", "livestream", "signaling"},
    "tests": set(PACKAGES) - {"tests"},
}
# The one import of `benchmarks` from a product package, and the function it must stay inside.
LAZY = {("signaling/cli.py", "benchmarks"): "loadtest"}


def sources(package: str) -> Iterator[Path]:
    for path in sorted((ROOT / package).rglob("*.py")):
        if "node_modules" not in path.parts:
            yield path


def _enclosing_functions(tree: ast.Module) -> dict[ast.AST, str]:
    """Each import node inside a function -> the outermost function's name."""
    found: dict[ast.AST, str] = {}
    for top in ast.walk(tree):
        if isinstance(top, ast.FunctionDef | ast.AsyncFunctionDef):
            for node in ast.walk(top):
                found.setdefault(node, top.name)
    return found


def imports(path: Path) -> Iterator[tuple[str, int, str | None]]:
    """(imported top-level package, line, enclosing function or None) for each import."""
    tree = ast.parse(path.read_text(), str(path))
    inside = _enclosing_functions(tree)
    package = path.relative_to(ROOT).parts[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            # A relative import stays inside its own package.
            names = [node.module or ""] if node.level == 0 else [package]
        else:
            continue
        for name in names:
            yield name.split(".")[0], node.lineno, inside.get(node)


def graph() -> tuple[dict[str, set[str]], list[str]]:
    """The package graph and every import that breaks an arrow."""
    edges: dict[str, set[str]] = {p: set() for p in PACKAGES}
    wrong: list[str] = []
    for package in PACKAGES:
        for path in sources(package):
            rel = path.relative_to(ROOT).as_posix()
            for target, line, function in imports(path):
                if target not in PACKAGES or target == package:
                    continue
                edges[package].add(target)
                lazy = LAZY.get((rel, target))
                if lazy is not None and function == lazy:
                    continue
                if target not in ALLOWED[package]:
                    where = f" (in {function}())" if function else ""
                    wrong.append(f"{rel}:{line}: {package} -> {target}{where}")
    return edges, wrong


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Every cycle through the package graph, each once, as a path that returns to its start."""
    found: list[list[str]] = []

    def walk(start: str, node: str, path: list[str]) -> None:
        for nxt in sorted(edges[node]):
            if nxt == start:
                found.append([*path, start])
            elif nxt not in path and nxt > start:  # each cycle once: from its least package
                walk(start, nxt, [*path, nxt])

    for start in sorted(edges):
        walk(start, start, [start])
    return found


def test_the_scan_sees_the_imports_it_judges():
    edges, _ = graph()
    assert {"sfu", "recorder", "livestream", "web"} <= edges["signaling"], edges
    assert "benchmarks" in edges["signaling"], "the lazy loadtest import was not seen"


def test_every_import_follows_the_arrows():
    _, wrong = graph()
    assert not wrong, "imports against DESIGN.md's arrows:\n" + "\n".join(wrong)


def test_no_cycle_between_packages():
    edges, _ = graph()
    assert not cycles(edges), cycles(edges)


def test_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [["a", "b", "c", "a"]]
    assert cycles({"a": {"b"}, "b": set()}) == []
