"""Writing a batch of new events' rows: the hot write of a stream of events.

An event id the project already has is left as it is stored (``ON CONFLICT DO NOTHING``):
the ids returned are those of the rows written, so on SQLite the usual batch, all new, takes
one statement and no lookup first, and two writers of the same event (workers sharing
PostgreSQL) cannot both store it.

On SQLite the rows go to the driver as they are, in the caller's transaction: one multi-row
``INSERT ... RETURNING`` per chunk (``exec_driver_sql``), its text built once per chunk size
and so prepared once (sqlite3 caches statements by their text). SQLAlchemy's
``insertmanyvalues`` writes the same rows, but its per-row parameter handling was a quarter of
the server's time under a stream of events. The values are those SQLAlchemy would bind (the
JSON and time columns through their types' own processors), so the rows read back alike.
Other databases (PostgreSQL) keep SQLAlchemy's path.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import datetime
from itertools import chain, repeat
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.dialects import postgresql, sqlite

from streamloop.store.records import NewEvent
from streamloop.store.statements import ITEMS

__all__ = ["insert_items"]

#: The columns a new item's row is written with, in order; the others keep their default
#: (``lease_id``, ``lease_until``: none).
_COLUMNS = (
    "project_id",
    "event_id",
    "data",
    "status",
    "uncertainty",
    "drawn_at_random",
    "wanted",
    "created_at",
)
#: Rows per statement: 8 parameters each, well under SQLite's 32,766 per statement.
_CHUNK = 500
#: A new item is labelled by one annotator until overlap says otherwise (the column default).
_WANTED = 1


def insert_items(
    conn: Connection, project_id: int, events: Sequence[NewEvent], now: datetime
) -> dict[str, int]:
    """Insert one item row per event (their ids distinct) in ``conn``'s transaction, but for
    an event id the project already has; each new row's event id to its item id."""
    if conn.dialect.name != "sqlite":
        return _insert_core(conn, project_id, events, now)
    to_json = _processor(conn, "data")
    created_at = _processor(conn, "created_at")(now)
    created: dict[str, int] = {}
    for start in range(0, len(events), _CHUNK):
        chunk = events[start : start + _CHUNK]
        # The rows' values in one flat tuple, row after row, gathered in C's loops.
        columns = zip(
            repeat(project_id),
            [e.event_id for e in chunk],
            map(to_json, [e.data for e in chunk]),
            [e.status for e in chunk],
            [e.uncertainty for e in chunk],
            [e.drawn_at_random for e in chunk],
            repeat(_WANTED),
            repeat(created_at),
        )
        # Through the connection, not its driver's cursor: its errors (a locked database)
        # become SQLAlchemy's, as the store's callers expect.
        values = tuple(chain.from_iterable(columns))
        result = conn.exec_driver_sql(_sqlite_insert(len(chunk)), values)
        created.update(result.all())
    return created


def _processor(conn: Connection, column: str) -> Any:
    # What SQLAlchemy binds for the column on this database: its type's implementation for
    # the dialect, then that implementation's processor (a time becomes SQLite's text form).
    processor = ITEMS.c[column].type.dialect_impl(conn.dialect).bind_processor(conn.dialect)
    return processor if processor is not None else _as_is


def _as_is(value: Any) -> Any:
    return value


@functools.cache
def _sqlite_insert(rows: int) -> str:
    row = "(" + ", ".join("?" * len(_COLUMNS)) + ")"
    return (
        f"INSERT INTO {ITEMS.name} ({', '.join(_COLUMNS)}) VALUES "
        + ", ".join([row] * rows)
        + " ON CONFLICT (project_id, event_id) DO NOTHING RETURNING event_id, id"
    )


def _insert_core(
    conn: Connection, project_id: int, events: Sequence[NewEvent], now: datetime
) -> dict[str, int]:
    rows = [
        {
            "project_id": project_id,
            "event_id": e.event_id,
            "data": e.data,
            "status": e.status,
            "uncertainty": e.uncertainty,
            "drawn_at_random": e.drawn_at_random,
            "created_at": now,
        }
        for e in events
    ]
    # PostgreSQL's, in service; SQLite's too, as the reference its driver path is tested by.
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    statement = (
        dialect.insert(ITEMS)
        .on_conflict_do_nothing(index_elements=[ITEMS.c.project_id, ITEMS.c.event_id])
        .returning(ITEMS.c.event_id, ITEMS.c.id)
    )
    return dict(conn.execute(statement, rows).all())
