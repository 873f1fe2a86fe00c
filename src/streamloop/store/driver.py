"""The hot paths' statements, run by the database's own driver in a SQLAlchemy transaction.

A label's transaction is a few small statements: its ``label_id`` looked up, its item read,
the label inserted, the item's status set. Through SQLAlchemy Core each cost about 0.25 ms of
the store thread's CPU, most of it SQLAlchemy's own (its execution context, the expanding
``IN`` list rendered again at each call); at human pace that was half of a label's time in
the store, and it holds the interpreter's lock the event loop needs. Here each statement is a
text built once per shape and run on the driver's connection (sqlite3 and psycopg both keep
their prepared statements by text), in the same transaction, its values bound and read back
through the columns' own SQLAlchemy types, so they are what SQLAlchemy would bind and read.
A stream of events uses two of them too: the items of event ids sent again, and the items a
full queue sheds.

A driver's error becomes SQLAlchemy's (``OperationalError`` for a locked or vanished
database), as the store's callers expect.
"""

from __future__ import annotations

import functools
import weakref
from collections.abc import Callable, Iterator, Sequence
from typing import Any, NamedTuple

from sqlalchemy import Connection
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError

from streamloop.store.records import ItemRecord
from streamloop.store.statements import (
    ANNOTATOR_STATES,
    ITEM_COLUMNS,
    ITEMS,
    LABELS,
    PROJECTS,
    chunks,
)

__all__ = ["LABEL_COLUMNS", "ItemLabel", "LabelStatements", "StoredLabel", "check_driver"]

#: A new label's row, in the order `LabelStatements.insert_labels` takes its values.
LABEL_COLUMNS = (
    "project_id",
    "label_id",
    "item_id",
    "label",
    "annotator",
    "source",
    "drawn_at_random",
    "corrects",
    "learned",
    "model_version",
    "comment",
    "created_at",
)
#: Most rows an insert writes: 12 values each, well under SQLite's 32,766 bound values a
#: statement (a power of two: see `LabelStatements.insert_labels`).
_INSERT_CHUNK = 256
#: Most keys an ``IN`` list holds (a power of two).
_IN_CHUNK = 512


class StoredLabel(NamedTuple):
    """A label already stored, found by its ``label_id``."""

    id: int
    label_id: str
    model_version: int
    item_id: int


class ItemLabel(NamedTuple):
    """A label stored on an item, as the item's next label is judged by."""

    item_id: int
    label_id: str
    annotator: str | None
    label: str
    learned: bool
    source: str
    comment: str | None


class LabelStatements:
    """The hot paths' statements on ``conn``'s driver connection, in its transaction."""

    def __init__(self, conn: Connection) -> None:
        shape = _SHAPES.get(conn.dialect)
        if shape is None:
            shape = _SHAPES[conn.dialect] = _shape(conn.dialect)
        self._shape = shape
        self._dialect = conn.dialect
        driver = conn.connection.driver_connection
        # sqlite3 and psycopg run a statement on the connection itself; another driver's
        # goes through SQLAlchemy's own driver-level call (which translates its errors).
        execute = getattr(driver, "execute", None)
        self._execute: Callable[[str, Sequence[Any]], Any] = (
            execute if callable(execute) else conn.exec_driver_sql
        )

    def _run(self, template: str, values: Sequence[Any], keys: int = 0) -> list[Any]:
        """The rows of ``template`` (``keys`` markers in its ``{keys}`` list) run with
        ``values``, all read (a driver's error reading them is translated too)."""
        text = _text(template, keys, self._shape.marker)
        try:
            cursor = self._execute(text, tuple(values))
            returns_rows = getattr(cursor, "returns_rows", None)  # SQLAlchemy's result
            if returns_rows is None:
                returns_rows = cursor.description is not None
            return list(cursor) if returns_rows else []
        except self._shape.error as exc:
            raise DBAPIError.instance(
                text, values, exc, self._shape.error, dialect=self._dialect
            ) from exc

    def _in(self, template: str, fixed: Sequence[Any], keys: list[Any]) -> Iterator[Any]:
        """``template``'s rows for each chunk of ``keys`` (its ``{keys}``), after ``fixed``.
        A chunk is padded to a power of two with its last key (``IN`` lists ignore repeats),
        so each template has a few shapes, each prepared once."""
        for chunk in chunks(keys, _IN_CHUNK):
            size = _padded(len(chunk))
            yield from self._run(
                template, (*fixed, *chunk, *[chunk[-1]] * (size - len(chunk))), size
            )

    def lock_project(self, project_id: int) -> int:
        """Lock the project's row (PostgreSQL) and return the id of its newest label (0:
        none); SQLite's one writer needs no lock."""
        self._run(_LOCK_PROJECT + self._shape.for_update, (project_id,))
        [(newest,)] = self._run(_NEWEST_LABEL, (project_id,))
        return int(newest or 0)

    def stored_labels(self, project_id: int, label_ids: list[str]) -> dict[str, StoredLabel]:
        return {r[1]: StoredLabel(*r) for r in self._in(_STORED_LABELS, (project_id,), label_ids)}

    def items(
        self, project_id: int, by_id: list[int], by_event: list[str]
    ) -> dict[int | str | None, ItemRecord]:
        """The project's items named by id or by event id, each under the key it was named by."""
        found: dict[int | str | None, ItemRecord] = {}
        for r in self._in(_ITEMS_BY_ID, (project_id,), by_id):
            found[r[0]] = self._item(r)
        for r in self._in(_ITEMS_BY_EVENT, (project_id,), by_event):
            found[r[1]] = self._item(r)
        return found

    def _item(self, r: Sequence[Any]) -> ItemRecord:
        return ItemRecord(
            r[0],
            r[1],
            self._shape.data(r[2]),
            r[3],
            r[4],
            drawn_at_random=bool(r[5]),
            wanted=r[6],
        )

    def labels_on(self, item_ids: list[int]) -> Iterator[ItemLabel]:
        """The labels stored on these items, in the order they were stored."""
        for r in self._in(_LABELS_ON_ITEMS, (), item_ids):
            yield ItemLabel(r[0], r[1], r[2], r[3], bool(r[4]), r[5], r[6])

    def insert_labels(self, rows: Sequence[Sequence[Any]]) -> dict[str, int]:
        """Insert label rows (values in `LABEL_COLUMNS`' order; distinct ``label_id``s);
        each ``label_id``'s new row id."""
        binds = self._shape.binds
        created: dict[str, int] = {}
        start = 0
        while start < len(rows):
            # Chunks of a power of two rows: a few shapes of the statement, each prepared once.
            size = min(_INSERT_CHUNK, 1 << (len(rows) - start).bit_length() - 1)
            chunk = rows[start : start + size]
            start += size
            values = [
                bind(value) if bind is not None else value
                for row in chunk
                for bind, value in zip(binds, row, strict=True)
            ]
            inserted = self._run(_insert_template(len(chunk)), values)
            created.update((label_id, row_id) for row_id, label_id in inserted)
        return created

    def set_status(self, item_ids: list[int], status: str) -> None:
        list(self._in(_SET_STATUS, (status,), item_ids))

    def shed(self, item_ids: list[int]) -> None:
        """Mark the items of ``item_ids`` still queued as shed (a full queue let them go)."""
        list(self._in(_SET_STATUS_IF, ("shed", "queued"), item_ids))

    def readmit(self, item_ids: list[int]) -> set[int]:
        """Mark the items of ``item_ids`` still shed as queued (`ProjectRuntime.ingest` stored
        them as shed, then a slot freed before they reached the queue); the ids marked (not
        one labelled meanwhile)."""
        return {row[0] for row in self._in(_READMIT, ("queued", "shed"), item_ids)}

    def set_wanted(self, item_id: int, wanted: int) -> None:
        self._run(_SET_WANTED, (wanted, item_id))

    def quarantined(self, project_id: int) -> set[str]:
        rows = self._run(_QUARANTINED, (project_id, "quarantined"))
        return {str(r[0]) for r in rows}


class _Shape(NamedTuple):
    """What a database's driver needs: its markers, its errors, the columns' conversions."""

    marker: str
    for_update: str
    error: type[Exception]
    #: An item's stored data as SQLAlchemy reads it.
    data: Callable[[Any], Any]
    #: What SQLAlchemy binds for each of `LABEL_COLUMNS` (None: the value as it is).
    binds: tuple[Callable[[Any], Any] | None, ...]


#: Each database's `_Shape`, kept while its dialect (its engine) lives.
_SHAPES: weakref.WeakKeyDictionary[Dialect, _Shape] = weakref.WeakKeyDictionary()
#: The bound-value markers of the drivers' parameter styles this module writes.
_MARKERS = {"qmark": "?", "format": "%s", "pyformat": "%s"}


def check_driver(dialect: Dialect) -> None:
    """Refuse a database driver whose bound values this module cannot mark (ValueError)."""
    if dialect.paramstyle not in _MARKERS:
        raise ValueError(
            f"the database driver {dialect.driver!r} takes bound values in the "
            f"{dialect.paramstyle!r} style; streamloop writes {sorted(_MARKERS)}"
        )


def _shape(dialect: Dialect) -> _Shape:
    check_driver(dialect)
    data: Callable[[Any], Any] | None = ITEMS.c.data.type.dialect_impl(dialect).result_processor(
        dialect, None
    )
    return _Shape(
        _MARKERS[dialect.paramstyle],
        "" if dialect.name == "sqlite" else " FOR UPDATE",
        dialect.loaded_dbapi.Error,
        data if data is not None else _as_is,
        tuple(
            LABELS.c[name].type.dialect_impl(dialect).bind_processor(dialect)
            for name in LABEL_COLUMNS
        ),
    )


def _as_is(value: Any) -> Any:
    return value


_ITEM_SELECT = f"SELECT {', '.join(c.name for c in ITEM_COLUMNS)} FROM {ITEMS.name}"
_STORED_LABELS = (
    f"SELECT id, label_id, model_version, item_id FROM {LABELS.name} "
    "WHERE project_id = ? AND label_id IN ({keys})"
)
_ITEMS_BY_ID = _ITEM_SELECT + " WHERE project_id = ? AND id IN ({keys})"
_ITEMS_BY_EVENT = _ITEM_SELECT + " WHERE project_id = ? AND event_id IN ({keys})"
_LABELS_ON_ITEMS = (
    f"SELECT item_id, label_id, annotator, label, learned, source, comment FROM {LABELS.name} "
    "WHERE item_id IN ({keys}) ORDER BY id"
)
_SET_STATUS = f"UPDATE {ITEMS.name} SET status = ? WHERE id IN ({{keys}})"
_SET_STATUS_IF = f"UPDATE {ITEMS.name} SET status = ? WHERE status = ? AND id IN ({{keys}})"
_READMIT = _SET_STATUS_IF + " RETURNING id"
_SET_WANTED = f"UPDATE {ITEMS.name} SET wanted = ? WHERE id = ?"
_LOCK_PROJECT = f"SELECT id FROM {PROJECTS.name} WHERE id = ?"
_NEWEST_LABEL = f"SELECT max(id) FROM {LABELS.name} WHERE project_id = ?"
_QUARANTINED = f"SELECT annotator FROM {ANNOTATOR_STATES.name} WHERE project_id = ? AND state = ?"


def _padded(keys: int) -> int:
    """The power of two at or above ``keys``."""
    return 1 << (keys - 1).bit_length()


@functools.cache
def _text(template: str, keys: int, marker: str) -> str:
    """``template`` with ``keys`` markers in its ``{keys}`` list, in the driver's style."""
    text = template.replace("{keys}", ", ".join(["?"] * keys)) if keys else template
    return text.replace("?", marker)


@functools.cache
def _insert_template(rows: int) -> str:
    row = "(" + ", ".join(["?"] * len(LABEL_COLUMNS)) + ")"
    return (
        f"INSERT INTO {LABELS.name} ({', '.join(LABEL_COLUMNS)}) VALUES "
        + ", ".join([row] * rows)
        + " RETURNING id, label_id"
    )
