"""Processes that open one PostgreSQL database at the same moment all get a complete schema."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, create_engine, inspect, text
from sqlmodel import SQLModel

from streamloop.store import Store
from streamloop.store.database import sqlalchemy_url

pytestmark = pytest.mark.postgres

#: How many processes race; the report that showed the race had two workers.
PROCESSES = 6

#: One process: import everything, say it is ready, wait for the word, open the store.
OPEN_STORE = """
import sys
from streamloop.store import Store
print("ready", flush=True)
sys.stdin.read()
Store(sys.argv[1]).close()
"""

#: Columns an earlier version's tables lacked, nullable or with a default.
ADDED_SINCE = {
    "projects": {
        "gold_share",
        "overlap",
        "gold_min_accuracy",
        "thresholds",
        "guidelines",
        "label_descriptions",
        "target",
    },
    "labels": {"annotator", "corrects", "comment"},
    "skips": {"reason"},
    "tokens": {"revoked_at"},
}


@contextlib.contextmanager
def opening_at_once(url: str) -> Iterator[None]:
    """Open a `Store` on ``url`` in `PROCESSES` processes released together, running the body
    while they open; all must succeed."""
    with contextlib.ExitStack() as stack:
        processes = []
        for _ in range(PROCESSES):
            process = subprocess.Popen(
                [sys.executable, "-c", OPEN_STORE, url],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            # Ends a process left behind by a failed assertion, then closes its pipes.
            stack.enter_context(process)
            stack.callback(process.kill)
            processes.append(process)
        for process in processes:
            assert process.stdout is not None
            assert process.stdout.readline() == "ready\n"
        # Closing their input releases them all at once: the race is between open_database calls.
        for process in processes:
            assert process.stdin is not None
            process.stdin.close()
        yield
        failures = []
        for process in processes:
            assert process.stderr is not None
            errors = process.stderr.read()
            if process.wait(timeout=120) != 0:
                failures.append(errors)
    assert not failures, f"{len(failures)} of {PROCESSES} failed; the first:\n{failures[0]}"


def wait_for_waiting_processes(engine: Engine) -> None:
    """Return once `PROCESSES` lock requests wait in ``engine``'s database."""
    query = text(
        "SELECT count(*) FROM pg_locks WHERE NOT granted AND database ="
        " (SELECT oid FROM pg_database WHERE datname = current_database())"
    )
    deadline = time.monotonic() + 60
    with engine.connect() as conn:
        while conn.execute(query).scalar_one() < PROCESSES:
            assert time.monotonic() < deadline, "the processes never waited for a lock"
            time.sleep(0.05)


def missing_columns(url: str) -> dict[str, set[str]]:
    """The columns of streamloop's tables that the database lacks, by table."""
    engine = create_engine(sqlalchemy_url(url))
    try:
        inspector = inspect(engine)
        present = set(inspector.get_table_names())
        missing = {}
        for table in SQLModel.metadata.sorted_tables:
            columns = (
                {column["name"] for column in inspector.get_columns(table.name)}
                if table.name in present
                else set()
            )
            lacking = {column.name for column in table.columns} - columns
            if lacking:
                missing[table.name] = lacking
        return missing
    finally:
        engine.dispose()


def test_processes_starting_at_once_on_an_empty_database_create_the_schema(postgres_url: str):
    engine = create_engine(sqlalchemy_url(postgres_url))
    # Holding the public schema (a DROP SCHEMA, undone) until every process waits for a lock
    # makes them meet where the race is: each has found no tables and waits to create the
    # first (or, with the schema lock, one does and the others wait their turn to look).
    with engine.connect() as holder:
        holder.execute(text("DROP SCHEMA public"))
        with opening_at_once(postgres_url):
            wait_for_waiting_processes(engine)
            holder.rollback()
    engine.dispose()
    assert missing_columns(postgres_url) == {}


def test_processes_starting_at_once_on_an_earlier_schema_upgrade_it(postgres_url: str):
    Store(postgres_url).close()
    engine = create_engine(sqlalchemy_url(postgres_url))
    with engine.begin() as conn:
        for table, columns in ADDED_SINCE.items():
            for column in columns:
                conn.execute(text(f'ALTER TABLE "{table}" DROP COLUMN "{column}"'))
    assert missing_columns(postgres_url) == ADDED_SINCE

    # Holding the projects table until every process waits for a lock makes them meet where
    # the race is: each has read which columns are missing and waits to add the first (or,
    # with the schema lock, one does and the others wait their turn to read).
    with engine.connect() as holder:
        holder.execute(text('LOCK TABLE "projects" IN ACCESS EXCLUSIVE MODE'))
        with opening_at_once(postgres_url):
            wait_for_waiting_processes(engine)
            holder.commit()
    engine.dispose()
    assert missing_columns(postgres_url) == {}
