"""``streamloop serve`` on a port another program holds: one clear sentence, nothing made."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

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
