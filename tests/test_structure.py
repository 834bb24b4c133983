"""The package's shape: imports run one way (no cycle among pixelar's modules).

Every import statement counts — at the top of a module, inside a function (a lazy import) or
under ``if TYPE_CHECKING:`` — since each says that one module needs another.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = "pixelar"


def modules(root: Path = SRC / PACKAGE) -> dict[str, tuple[Path, bool]]:
    """Dotted module name -> (file, whether it is a package's ``__init__``)."""
    found = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        if is_package:
            parts.pop()
        found[".".join(parts)] = (path, is_package)
    return found


def imports(name: str, path: Path, is_package: bool, known: set[str]) -> set[str]:
    """The pixelar modules that module ``name`` imports anywhere in its file, each resolved to
    the most specific module that exists (``from pixelar.a import b`` is pixelar.a.b when b is a
    module, else pixelar.a)."""

    def resolve(dotted: str) -> str | None:
        while dotted and dotted not in known:
            dotted = dotted.rpartition(".")[0]
        return dotted or None

    found: set[str | None] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {resolve(alias.name) for alias in node.names if alias.name.split(".")[0] == PACKAGE}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = name if is_package else name.rpartition(".")[0]
                for _ in range(node.level - 1):
                    anchor = anchor.rpartition(".")[0]
                base = f"{anchor}.{base}" if base else anchor
            if base.split(".")[0] != PACKAGE:
                continue
            for alias in node.names:
                full = f"{base}.{alias.name}"
                found.add(full if full in known else resolve(base))
    found.discard(name)
    found.discard(None)
    return {m for m in found if m is not None}


def import_graph() -> dict[str, set[str]]:
    mods = modules()
    known = set(mods)
    return {name: imports(name, path, is_package, known) for name, (path, is_package) in mods.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
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


def describe(component: list[str], graph: dict[str, set[str]]) -> str:
    inside = set(component)
    return "; ".join(f"{m} -> {', '.join(sorted(graph[m] & inside))}" for m in component)


def test_no_import_cycle():
    graph = import_graph()
    assert graph.get("pixelar.models.base"), "the walk found the modules' imports"
    found = cycles(graph)
    assert not found, "import cycles (break each by moving what both sides need below them):\n" + "\n".join(
        describe(c, graph) for c in found
    )


@pytest.mark.parametrize(
    "source,expected",
    [
        ("import pixelar.b\n", [["pixelar.a", "pixelar.b"]]),
        ("def f():\n    from pixelar import b\n", [["pixelar.a", "pixelar.b"]]),  # a lazy import counts
        ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from . import b\n", [["pixelar.a", "pixelar.b"]]),
        ("import pixelar.c\n", []),
    ],
)
def test_the_cycle_check_finds_cycles(tmp_path, source, expected):
    """A module b importing a, and a importing b by one of the ways above, is a cycle; the
    check sees it (and sees none where a imports an unrelated module)."""
    root = tmp_path / PACKAGE
    root.mkdir()
    (root / "__init__.py").write_text("")
    (root / "a.py").write_text(source)
    (root / "b.py").write_text("from pixelar.a import x\n")
    (root / "c.py").write_text("")
    mods = modules(root)
    graph = {name: imports(name, path, is_package, set(mods)) for name, (path, is_package) in mods.items()}
    assert cycles(graph) == expected


MAX_LINES = 400  # a file past this holds more than one concept: split it


def test_every_source_file_is_short():
    """Every Python and C file under src/ and benchmarks/ stays under MAX_LINES lines."""
    root = SRC.parent
    files = [
        p for folder in ("src", "benchmarks") for p in (root / folder).rglob("*") if p.suffix in (".py", ".c", ".h")
    ]
    assert len(files) > 50, "the walk found the sources"
    long = {str(p.relative_to(root)): n for p in files if (n := len(p.read_text().splitlines())) >= MAX_LINES}
    assert not long, f"files of {MAX_LINES} lines or more (split them along their concepts): {long}"
