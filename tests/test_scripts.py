"""The project's service scripts refuse a port another process holds, at once, in one line.

scripts/kafka/broker's own tests are in tests/streams/test_kafka_broker.py.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from support import service_missing

POSTGRES = Path(__file__).resolve().parents[1] / "scripts" / "postgres"
#: A bound for a script that hangs, not a timing expectation.
COMMAND_TIMEOUT = 120


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A port another process listens on."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        yield int(listener.getsockname()[1])


@pytest.mark.postgres
def test_postgres_start_refuses_a_port_another_process_holds_in_one_line(taken_port: int):
    if not glob.glob("/usr/lib/postgresql/*/bin"):
        service_missing("PostgreSQL is not installed (apt-get install postgresql)")
    # A new folder under /tmp, as scripts/test gives it: the server's user can reach it.
    folder = f"/tmp/streamloop-pg-test-{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "STREAMLOOP_PG_DIR": folder, "STREAMLOOP_PG_PORT": str(taken_port)}
    try:
        out = subprocess.run(
            [POSTGRES, "start"], env=env, capture_output=True, text=True, timeout=COMMAND_TIMEOUT
        )
    finally:
        subprocess.run([POSTGRES, "stop"], env=env, capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)
    assert (out.returncode, out.stdout) == (1, "")
    assert out.stderr.splitlines() == [
        f"scripts/postgres: 127.0.0.1:{taken_port} is taken by another process;"
        " set STREAMLOOP_PG_PORT to a free port"
    ]
