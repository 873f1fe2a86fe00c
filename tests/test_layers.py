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
    "demo": {"errors", "online", "streams"},  # online: the span corpus the demo streams
    "app": {"errors", "config", "streams", "ws"},
    "cli": {"errors", "config", "online", "store", "client", "streams", "ws", "app", "demo"},
    "__main__": {"cli"},
    "__init__": set(),
}


def _part(path: Path) -> str:
    relative = path.relative_to(SOURCE)
    return relative.parts[0] if len(relative.parts) > 1 else relative.stem


def _imported_parts(tree: ast.AST, package: list[str]) -> set[str]:
    """The parts ``tree`` imports; ``package``: its package's names, for relative imports."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level > 0:
            base = package[: len(package) - (node.level - 1)]
            names = [*base, *(node.module.split(".") if node.module else [])]
            if len(names) > 1:
                found.add(names[1])
            else:
                found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
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
    package = ["streamloop", *path.relative_to(SOURCE).parent.parts]
    above = _imported_parts(ast.parse(path.read_text()), package) - ALLOWED[part] - {part}
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


def test_the_concepts_page_draws_the_same_layers():
    page = (SOURCE.parent.parent / "docs" / "concepts.md").read_text()
    drawn: dict[str, set[str]] = {}
    for line in page[page.index("## Layout") :].splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0].startswith("`"):
            part = cells[0].strip("`").removesuffix("/").removesuffix(".py")
            drawn[part] = {
                name.strip() for name in cells[2].split(",") if name.strip() != "nothing"
            }
    table = {part: below for part, below in ALLOWED.items() if part not in {"__main__", "__init__"}}
    drawn["cli"] = table["cli"] if drawn.get("cli") == {"anything"} else drawn.get("cli", set())
    assert drawn == table
