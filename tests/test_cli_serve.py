"""``streamloop serve`` as it starts and stops: a taken port, a broker not up yet, a stop while
projects open, a setting out of range; each said plainly."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

from streamloop import __version__
from streamloop.store import Store
from support import ServeProcess, free_port, make_project

COMMAND = [sys.executable, "-m", "streamloop", "serve"]


def test_a_taken_port_is_said_plainly_with_the_way_out_and_no_database_is_made(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        result = subprocess.run(
            [*COMMAND, "--port", str(port), "--data-dir", str(data)],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 1  # as the reference says: could not start
    assert result.stderr.startswith(
        f"streamloop: cannot listen on 127.0.0.1:{port}: Address already in use."
    )
    assert "--port 8001  (STREAMLOOP_PORT=8001)" in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.splitlines()) == 3
    assert not data.exists()


def test_serve_started_before_its_broker_waits_saying_so_and_stops_on_sigterm(
    tmp_path: Path,
) -> None:
    broker = f"kafka://127.0.0.1:{free_port()}"  # nothing listens there: the broker is not up
    key = tmp_path / "key"
    key.write_text("k" * 40)
    key.chmod(0o600)
    serve = ServeProcess(
        ["--data-dir", str(tmp_path), "--broker", broker],
        env={"STREAMLOOP_SECRET_KEY_FILE": str(key), "STREAMLOOP_SECRET_KEY": ""},
    )
    try:
        serve.read_until("waiting: cannot create the topics")
        serve.process.send_signal(signal.SIGTERM)
        assert serve.process.wait(timeout=60) == 0  # a wait for the broker is stopped by a signal
    finally:
        serve.kill(signal.SIGKILL)


def test_serve_stopped_while_it_opens_its_projects_stops_cleanly(tmp_path: Path) -> None:
    # Opening a project imports its model's libraries and loads their compiled steps (a
    # second or more in a fresh process): a stop then ends the start, with no banner.
    store = Store(f"sqlite:///{tmp_path / 'streamloop.db'}")
    make_project(store)
    store.close()
    serve = ServeProcess(["--data-dir", str(tmp_path), "--log-level", "info"])
    try:
        said = serve.read_until("Waiting for application startup.")
        serve.process.send_signal(signal.SIGTERM)
        code = serve.process.wait(timeout=60)
        assert serve.process.stdout is not None
        output = "".join([*said, serve.process.stdout.read()])
        assert code == 0, output
        assert "Traceback" not in output and "ERROR" not in output, output
        assert f"streamloop {__version__} ready" not in output  # stopped before ready
        assert "Application shutdown complete." in output  # the service stopped in order
    finally:
        serve.kill(signal.SIGKILL)


def test_a_setting_out_of_range_is_refused_before_anything_starts(tmp_path: Path) -> None:
    data = tmp_path / "data"
    result = subprocess.run(
        [*COMMAND, "--port", "0", "--data-dir", str(data)],
        env={**os.environ, "STREAMLOOP_RESCORE_VERSIONS": "0"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2  # argparse's usage error
    assert "STREAMLOOP_RESCORE_VERSIONS must be 1 or more, not 0" in result.stderr
    assert "Traceback" not in result.stderr
    assert not data.exists()
