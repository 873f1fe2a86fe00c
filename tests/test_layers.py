"""The package's parts import only the parts below them (docs/concepts.md, "Layout")."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SOURCE = Path(__file__).resolve().parent.parent / "src" / "streamloop"

#: Each part of the package, and the parts it may import. A part is a subpackage or a module
#: at the top of the package; the table in docs/concepts.md says the same.
ALLOWED: dict[str, set[str]] = {
    "errors": set(),
    "config": {"errors"},
    "online": {"errors", "config"},
    "store": {"errors", "config"},
    "client": {"errors"},
    "streams": {"errors", "config", "online", "store", "client"},
    "ws": {"errors", "config", "online", "store", "streams"},
    "demo": {"errors", "streams"},
    "app": {"errors", "config", "streams", "ws"},
    "cli": {"errors", "config", "online", "store", "client", "streams", "ws", "app", "demo"},
    "__main__": {"cli"},
    "__init__": set(),
}


def _part(path: Path) -> str:
    relative = path.relative_to(SOURCE)
    return relative.parts[0] if len(relative.parts) > 1 else relative.stem


def _imported_parts(tree: ast.AST) -> set[str]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = node.module.split(".")
            if names[0] != "streamloop":
                continue
            if len(names) > 1:
                found.add(names[1])
            else:  # from streamloop import errors
                found.update(alias.name for alias in node.names if alias.name != "__version__")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                names = alias.name.split(".")
                if names[0] == "streamloop" and len(names) > 1:
                    found.add(names[1])
    return found


MODULES = sorted(SOURCE.rglob("*.py"))


def test_every_part_is_in_the_table():
    assert {_part(path) for path in MODULES} == set(ALLOWED)


@pytest.mark.parametrize("path", MODULES, ids=lambda path: str(path.relative_to(SOURCE)))
def test_no_module_imports_a_part_above_it(path: Path):
    part = _part(path)
    above = _imported_parts(ast.parse(path.read_text())) - ALLOWED[part] - {part}
    assert not above, f"{path.relative_to(SOURCE)} ({part}) imports {sorted(above)}"


def test_the_table_has_no_cycle():
    done: set[str] = set()

    def visit(part: str, path: tuple[str, ...]) -> None:
        assert part not in path, " -> ".join((*path, part))
        if part not in done:
            for below in ALLOWED[part]:
                visit(below, (*path, part))
            done.add(part)

    for part in ALLOWED:
        visit(part, ())
