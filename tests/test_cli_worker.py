"""``streamloop worker`` as an operator meets it before any broker: its options and ports."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
from pathlib import Path

from support import RECEIVE_TIMEOUT, WorkerProcess

WORKER = [sys.executable, "-m", "streamloop", "worker"]


def test_worker_help_offers_only_what_a_worker_uses():
    shown = subprocess.run(
        [sys.executable, "-m", "streamloop", "worker", "--help"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "--port" in shown and "--broker" in shown and "--database" in shown
    for unused in ("--open", "--data-dir", "--allow-origin"):
        assert unused not in shown


async def test_a_worker_whose_port_is_taken_says_so_and_exits_1(tmp_path: Path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        key = tmp_path / "key"
        key.write_text("k" * 40)
        key.chmod(0o600)
        worker = WorkerProcess(
            ["--broker", "kafka://127.0.0.1:9", "--port", str(port)],
            tmp_path / "worker.log",
            {"STREAMLOOP_SECRET_KEY_FILE": str(key), "STREAMLOOP_SECRET_KEY": ""},
        )
        code = await asyncio.to_thread(worker.process.wait, RECEIVE_TIMEOUT)
        worker.kill()  # gone already: closes its log
    assert code == 1
    said = (tmp_path / "worker.log").read_text().strip()
    assert f"cannot listen on 127.0.0.1:{port}" in said and len(said.splitlines()) == 1


def test_a_worker_port_out_of_range_is_refused_before_anything_starts(tmp_path: Path):
    key = tmp_path / "key"
    key.write_text("k" * 40)
    key.chmod(0o600)
    said = subprocess.run(
        [*WORKER, "--broker", "kafka://127.0.0.1:9", "--port", "70000"],
        capture_output=True,
        text=True,
        env={"PATH": "", "STREAMLOOP_SECRET_KEY_FILE": str(key)},
        timeout=RECEIVE_TIMEOUT * 3,
    )
    assert said.returncode == 2
    assert "--port must be 1 to 65535, not 70000" in said.stderr
