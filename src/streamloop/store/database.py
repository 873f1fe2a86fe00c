"""Opening the database: SQLite in WAL mode by default, any SQLAlchemy URL otherwise.

A SQLite database holds events, labels, model snapshots and token hashes, so its folder and
files are private to their owner: the folder 0700, the files 0600, from the moment they are
created rather than as the umask leaves them.
"""

from __future__ import annotations

import functools
import logging
import os
import stat
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Connection, Engine, create_engine, event, inspect, make_url, text
from sqlmodel import SQLModel

from streamloop.store import tables  # noqa: F401  (registers the tables on SQLModel.metadata)
from streamloop.store.driver import check_driver

__all__ = ["DIRECTORY_MODE", "FILE_MODE", "SCHEMA_LOCK_KEY", "open_database", "sqlalchemy_url"]

log = logging.getLogger(__name__)

#: The mode of the folder of a SQLite database that streamloop creates: its owner's alone.
DIRECTORY_MODE = 0o700
#: The mode of a SQLite database file and its companions: read and written by its owner alone.
FILE_MODE = 0o600
#: The PostgreSQL advisory lock (``pg_advisory_xact_lock``) under which a process creates and
#: upgrades the schema: "STRMLOOP" in ASCII. Another application sharing the database must not
#: take a lock with this key.
SCHEMA_LOCK_KEY = 0x5354524D4C4F4F50
#: The files SQLite keeps beside a database, named after it; it creates them with the
#: database file's own mode.
_COMPANIONS = ("-wal", "-shm", "-journal")
#: Permission bits for anyone but the owner.
_OTHERS = 0o077


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
        path = make_url(url).database
        if path and path != ":memory:" and not path.startswith("file:"):
            _private_sqlite_files(Path(path))
        engine = create_engine(url, connect_args={"check_same_thread": False}, **json)
        event.listen(engine, "connect", functools.partial(_sqlite_pragmas, busy_timeout))
    else:
        engine = create_engine(url, pool_pre_ping=True, **json)
    check_driver(engine.dialect)
    _create_schema(engine)
    return engine


def _create_schema(engine: Engine) -> None:
    """Create the missing tables and add the missing columns, one process at a time.

    Processes started together on one PostgreSQL database would each find a table missing and
    create it, and all but one fail; so each waits for `SCHEMA_LOCK_KEY` first and then sees
    what the one before it committed. PostgreSQL's DDL is transactional: the lock, the tables
    and the columns are one transaction, and the lock ends with it. A SQLite database serves
    one process, so it goes without.
    """
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": SCHEMA_LOCK_KEY})
        SQLModel.metadata.create_all(conn)
        _add_new_columns(conn)


def _private_sqlite_files(path: Path) -> None:
    """Create the database's folder and file private to their owner; make existing ones so.

    An existing folder or file with looser modes (as earlier versions left them) is tightened,
    with a warning, when this user owns it; otherwise the warning says what to do. A folder
    is tightened only when it holds nothing but this database, so that the folder of a
    database placed among other files, such as a home folder, keeps the modes its owner chose.
    """
    if os.name != "posix":  # these modes mean nothing elsewhere
        return
    folder = path.parent
    files = [path, *(path.with_name(path.name + suffix) for suffix in _COMPANIONS)]
    try:
        folder.mkdir(parents=True)
    except FileExistsError:
        ours = {file.name for file in files}
        with os.scandir(folder) as entries:
            only_ours = all(entry.name in ours for entry in entries)
        _tighten(folder, "folder", DIRECTORY_MODE, may_change=only_ours)
    else:
        # Exactly this mode, whatever the umask, which filters mkdir's.
        os.chmod(folder, DIRECTORY_MODE)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    except FileExistsError:
        pass
    else:
        # An empty file is a valid new database; SQLite gives its companions the same mode.
        os.fchmod(descriptor, FILE_MODE)
        os.close(descriptor)
    for file in files:
        if file.exists():
            _tighten(file, "database file", FILE_MODE, may_change=True)


def _tighten(path: Path, kind: str, private: int, *, may_change: bool) -> None:
    # Takes away what others may do, and leaves the owner's own bits as they were.
    status = path.stat()
    mode = stat.S_IMODE(status.st_mode)
    if not mode & _OTHERS:
        return
    if may_change and status.st_uid == os.geteuid():
        os.chmod(path, mode & ~_OTHERS)
        log.warning(
            "the %s %s was open to other users (mode %03o): now %03o",
            kind,
            path,
            mode,
            mode & ~_OTHERS,
        )
    else:
        log.warning(
            "the %s %s is open to other users (mode %03o); make it private: chmod %03o %s",
            kind,
            path,
            mode,
            private,
            path,
        )


def _dump_json(value: Any) -> str:
    return orjson.dumps(value).decode()


def _add_new_columns(conn: Connection) -> None:
    """Bring tables made by an earlier version up to date: add the columns they lack.

    ``create_all`` creates missing tables but leaves existing ones alone. Columns added since
    are nullable or have a default, so adding them keeps every stored row valid.
    """
    inspector = inspect(conn)
    for table in SQLModel.metadata.sorted_tables:
        present = {column["name"] for column in inspector.get_columns(table.name)}
        for column in table.columns:
            if column.name in present:
                continue
            kind = column.type.compile(dialect=conn.dialect)
            default = ""
            if column.default is not None and getattr(column.default, "is_scalar", False):
                value = getattr(column.default, "arg", None)
                literal = str(value).upper() if isinstance(value, bool) else repr(value)
                default = f" DEFAULT {literal}"  # TRUE/FALSE: both SQLite and PostgreSQL
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
