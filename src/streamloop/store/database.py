"""Opening the database: SQLite in WAL mode by default, any SQLAlchemy URL otherwise."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Engine, create_engine, event, inspect
from sqlmodel import SQLModel

from streamloop.store import tables  # noqa: F401  (registers the tables on SQLModel.metadata)

__all__ = ["open_database", "sqlalchemy_url"]


def open_database(url: str, *, busy_timeout: float = 5.0) -> Engine:
    """An engine for ``url`` with the schema created.

    SQLite runs in WAL mode with ``synchronous=FULL``: a commit that returned is on disk, which
    is what lets a label be acknowledged right after its commit. PostgreSQL is reached through
    psycopg 3 (``postgresql://`` URLs need no driver name) with the session in UTC. A SQLite
    write waits up to ``busy_timeout`` seconds for a lock another connection holds.
    """
    url = sqlalchemy_url(url)
    # JSON columns (event data, predictions) through orjson: the stdlib's encoder was a tenth
    # of the server's time under a stream of events.
    json = {"json_serializer": _dump_json, "json_deserializer": orjson.loads}
    if url.startswith("postgresql+psycopg"):
        engine = create_engine(
            url, pool_pre_ping=True, connect_args={"options": "-c timezone=UTC"}, **json
        )
    elif url.startswith("sqlite"):
        path = url.split(":///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False}, **json)
        event.listen(engine, "connect", functools.partial(_sqlite_pragmas, busy_timeout))
    else:
        engine = create_engine(url, pool_pre_ping=True, **json)
    SQLModel.metadata.create_all(engine)
    _add_new_columns(engine)
    return engine


def _dump_json(value: Any) -> str:
    return orjson.dumps(value).decode()


def _add_new_columns(engine: Engine) -> None:
    """Bring tables made by an earlier version up to date: add the columns they lack.

    ``create_all`` creates missing tables but leaves existing ones alone. Columns added since
    are nullable or have a default, so adding them keeps every stored row valid.
    """
    inspector = inspect(engine)
    for table in SQLModel.metadata.sorted_tables:
        present = {column["name"] for column in inspector.get_columns(table.name)}
        for column in table.columns:
            if column.name in present:
                continue
            kind = column.type.compile(dialect=engine.dialect)
            default = ""
            if column.default is not None and getattr(column.default, "is_scalar", False):
                value = getattr(column.default, "arg", None)
                literal = str(value).upper() if isinstance(value, bool) else repr(value)
                default = f" DEFAULT {literal}"  # TRUE/FALSE: both SQLite and PostgreSQL
            with engine.begin() as conn:
                conn.exec_driver_sql(
                    f'ALTER TABLE "{table.name}" ADD COLUMN "{column.name}" {kind}{default}'
                )


def sqlalchemy_url(url: str) -> str:
    """The URL SQLAlchemy needs: ``postgresql://`` and ``postgres://`` mean psycopg 3.

    >>> sqlalchemy_url("postgresql://u@localhost/db")
    'postgresql+psycopg://u@localhost/db'
    >>> sqlalchemy_url("sqlite:///x.db")
    'sqlite:///x.db'
    """
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url.removeprefix(prefix)
    return url


def _sqlite_pragmas(busy_timeout: float, dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout * 1000)}")
    cursor.close()
