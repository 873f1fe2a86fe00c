"""Start-up (issue 22): how soon the ``streamloop`` command answers, and what it loads to do so.

Every figure is taken in fresh processes, so nothing is cached in this one:

- ``import_cli``: ``import streamloop.cli`` in a fresh interpreter (seconds, timed inside it);
- ``help``: ``streamloop --help``, from process start to exit (wall seconds);
- ``serve_ready``: ``streamloop serve`` on a free loopback port with an empty ``--data-dir``,
  from process start to the first 200 of ``/healthz``, then of ``/readyz`` (wall seconds);
- ``heavy_modules``: which of the heavy libraries are in ``sys.modules`` after
  ``import streamloop.cli`` (each should be imported only by the command that uses it).

One JSON line per figure, after the machine line:

    python bench/startup.py
    python bench/startup.py --repeats 9
"""

from __future__ import annotations

import argparse
import http.client
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson
from server import machine_line

HEAVY = ("pandas", "faust", "aiokafka", "psycopg", "sqlalchemy", "sqlmodel", "river")
IMPORT_CLI = "import time;t=time.perf_counter();import streamloop.cli;print(time.perf_counter()-t)"
LOADED = f"import sys,streamloop.cli;print(' '.join(m for m in {HEAVY!r} if m in sys.modules))"
#: How often a starting server is asked whether it answers (s): small beside what is measured.
POLL = 0.005
#: A server that has not answered by then is broken, not slow.
GIVE_UP = 60.0


def streamloop_command() -> list[str]:
    """The installed ``streamloop`` script next to this interpreter, as a user runs it."""
    script = Path(sys.executable).parent / "streamloop"
    return [str(script)] if script.exists() else [sys.executable, "-m", "streamloop"]


def import_seconds() -> float:
    done = subprocess.run(
        [sys.executable, "-c", IMPORT_CLI], capture_output=True, text=True, check=True
    )
    return float(done.stdout)


def help_seconds() -> float:
    started = time.perf_counter()
    subprocess.run([*streamloop_command(), "--help"], capture_output=True, check=True)
    return time.perf_counter() - started


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def answers_200(port: int, path: str) -> bool:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
    try:
        connection.request("GET", path)
        return connection.getresponse().status == 200
    except OSError:
        return False
    finally:
        connection.close()


def serve_seconds() -> dict[str, float]:
    """Seconds from starting ``streamloop serve`` to the first 200 of /healthz and /readyz."""
    port = free_port()
    with tempfile.TemporaryDirectory() as folder:
        data_dir = Path(folder, "data")
        data_dir.mkdir(mode=0o700)
        started = time.perf_counter()
        process = subprocess.Popen(
            [
                *streamloop_command(),
                "serve",
                "--port",
                str(port),
                "--data-dir",
                str(data_dir),
                "--log-level",
                "warning",
            ],
            stdout=subprocess.DEVNULL,
        )
        try:
            seconds = {}
            for path in ("/healthz", "/readyz"):
                while not answers_200(port, path):
                    if process.poll() is not None or time.perf_counter() - started > GIVE_UP:
                        raise RuntimeError(f"streamloop serve never answered {path}")
                    time.sleep(POLL)
                seconds[path] = time.perf_counter() - started
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=60)
        return seconds


def summary(seconds: list[float]) -> dict[str, Any]:
    return {
        "repeats": len(seconds),
        "median_s": round(statistics.median(seconds), 4),
        "min_s": round(min(seconds), 4),
        "max_s": round(max(seconds), 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="fresh processes per figure")
    args = parser.parse_args()
    print(machine_line(), flush=True)
    imports = [import_seconds() for _ in range(args.repeats)]
    print(orjson.dumps({"figure": "import_cli", **summary(imports)}).decode(), flush=True)
    helps = [help_seconds() for _ in range(args.repeats)]
    print(orjson.dumps({"figure": "help", **summary(helps)}).decode(), flush=True)
    serves = [serve_seconds() for _ in range(args.repeats)]
    for path in ("/healthz", "/readyz"):
        figure = {"figure": "serve_ready", "path": path, **summary([s[path] for s in serves])}
        print(orjson.dumps(figure).decode(), flush=True)
    loaded = subprocess.run(
        [sys.executable, "-c", LOADED], capture_output=True, text=True, check=True
    ).stdout.split()
    heavy = {"figure": "heavy_modules", "after": "import streamloop.cli", "loaded": loaded}
    print(orjson.dumps({**heavy, "not_loaded": [m for m in HEAVY if m not in loaded]}).decode())


if __name__ == "__main__":
    main()
