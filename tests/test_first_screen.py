"""The README's first screen, followed literally by a new user in an empty folder.

The first screen is the README above its first section (``## ``). Its shell blocks are read
from it here, never written out, so this test fails when the README drifts:

- The block that runs the demo (``streamloop demo``) runs as written, with ``sh``, in an empty
  temporary folder: it clones the repository, makes the venv, installs the package with pip
  (which may use its cache and PyPI) and starts the demo. Two things differ from a new user's
  machine, and only these. The clone URL, a public GitHub URL that cannot be reached here, is
  mapped to this repository's committed HEAD by git's own configuration
  (``url.<this repository>.insteadOf=<the README's URL>``, in ``GIT_CONFIG_*`` variables), so
  the clone command is the README's, untouched. The demo listens on a free port chosen here,
  through ``STREAMLOOP_PORT``, which ``streamloop demo`` reads (the README's 8000 may be
  taken). The shell starts with no venv active and no other ``STREAMLOOP_*`` setting.
- Once the demo prints its addresses, its health endpoint is polled until it answers; then the
  annotate page it prints for the first project is opened, and that project is checked to exist
  with the README's labels keys and to be receiving the demo's stream.
- The demo is stopped as a user stops it, with Ctrl-C (SIGINT to it, the foreground job), and
  must exit 0.
- The test block is not run (it runs the whole suite, this test among it); it must be the
  script CI runs (``.ci/run``), ``scripts/test``.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parent.parent
FENCE = re.compile(r"^```(?P<language>\w*)\n(?P<code>.*?)^```$", re.M | re.S)
#: How long the clone, the venv and pip may take before the demo says it is ready: a bound
#: against hangs (the install takes about two minutes on a 2-core machine with pip's cache).
INSTALL_DEADLINE = 600.0
#: How long a started demo may take to answer, to stream, and to stop.
SERVICE_DEADLINE = 30.0


def first_screen() -> str:
    readme = (ROOT / "README.md").read_text()
    return readme.split("\n## ", 1)[0]


def commands(block: str) -> Iterator[list[str]]:
    """Each command of a shell block, as words: lines, split at ``&&``."""
    for line in block.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            for command in line.split("&&"):
                yield shlex.split(command)


def shell_blocks() -> list[str]:
    blocks = [m["code"] for m in FENCE.finditer(first_screen())]
    assert blocks, "the README's first screen has no code block"
    return blocks


def is_demo(command: list[str]) -> bool:
    return command[:2] == ["streamloop", "demo"]


def demo_block() -> str:
    [block] = [b for b in shell_blocks() if any(map(is_demo, commands(b)))]
    return block


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def new_users_environment(clone_url: str, port: int) -> dict[str, str]:
    """This process's environment as a new user's shell would have it: no venv active, no
    streamloop settings but the port, and the clone URL leading to this repository."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("STREAMLOOP_", "PYTHON", "GIT_")) and key != "VIRTUAL_ENV"
    }
    venv_bin = str(Path(sys.prefix) / "bin")
    env["PATH"] = os.pathsep.join(p for p in env["PATH"].split(os.pathsep) if p != venv_bin)
    env["STREAMLOOP_PORT"] = str(port)
    env["GIT_TERMINAL_PROMPT"] = "0"  # an unmapped URL fails instead of asking for a password
    env["GIT_CONFIG_COUNT"] = "1"
    env["GIT_CONFIG_KEY_0"] = f"url.{ROOT}.insteadOf"
    env["GIT_CONFIG_VALUE_0"] = clone_url
    return env


class Transcript:
    """What the shell prints, line by line, read in a thread so that nothing blocks on it."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        self._process = process
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._read, args=(process,), daemon=True)
        self._reader.start()

    def _read(self, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            with self._changed:
                self.lines.append(line.rstrip("\n"))
                self._changed.notify_all()
        with self._changed:
            self.lines.append("")  # end of output: a waiter stops waiting
            self._changed.notify_all()

    def close(self) -> None:
        """Once the shell has ended: the rest of its output read, the pipe closed."""
        self._reader.join(SERVICE_DEADLINE)
        assert self._process.stdout is not None
        self._process.stdout.close()

    def wait_for(self, pattern: str, deadline: float) -> re.Match[str]:
        """The first printed line matching ``pattern``, waiting until ``deadline``
        (`time.monotonic`) at most."""
        compiled = re.compile(pattern)
        seen = 0
        with self._changed:
            while True:
                for line in self.lines[seen:]:
                    match = compiled.search(line)
                    if match:
                        return match
                seen = len(self.lines)
                ended = self.lines and self.lines[-1] == "" and not self._reader.is_alive()
                remaining = deadline - time.monotonic()
                if ended or remaining <= 0:
                    pytest.fail(f"never printed {pattern!r}:\n{self}")
                self._changed.wait(remaining)

    def __str__(self) -> str:
        return "\n".join(self.lines[-60:])


def the_demo_process(shell: subprocess.Popen[str]) -> int:
    """The pid of ``streamloop demo`` among the shell's session (the foreground job)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if os.getsid(int(entry.name)) != shell.pid:
                continue
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except (OSError, ProcessLookupError):
            continue  # gone meanwhile
        words = [Path(w.decode()).name for w in argv if w]
        if "streamloop" in words and "demo" in words:
            return int(entry.name)
    pytest.fail("no streamloop demo process in the shell's session")


def poll(url: str, deadline: float) -> httpx.Response:
    """GET ``url`` until it answers 200, or fail at ``deadline``."""
    while True:
        try:
            response = httpx.get(url, timeout=5.0)
            if response.status_code == 200:
                return response
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            pytest.fail(f"{url} never answered 200")
        time.sleep(0.2)  # between polls; the deadline decides


def test_the_test_command_is_the_script_ci_runs():
    tests = [b for b in shell_blocks() if b != demo_block()]
    assert [list(commands(b)) for b in tests] == [[["scripts/test"]]]
    ci = (ROOT / ".ci" / "run").read_text()
    assert [line for line in ci.splitlines() if line.strip() == "scripts/test"]
    assert (ROOT / "scripts" / "test").stat().st_mode & 0o111  # runs as written


@pytest.mark.slow
def test_the_first_screen_installs_and_runs_the_demo_from_an_empty_folder(tmp_path: Path):
    if not (ROOT / ".git").exists() or shutil.which("git") is None:
        pytest.fail("the README's first screen clones the repository: run this in a git clone")
    block = demo_block()
    [clone] = [c for c in commands(block) if c[:2] == ["git", "clone"]]
    url = clone[2]
    assert url.startswith("https://github.com/"), url
    [demo] = [c for c in commands(block) if is_demo(c)]
    assert "--port" not in demo  # STREAMLOOP_PORT would not choose the port then
    port = free_port()
    started = time.monotonic()
    shell = subprocess.Popen(
        ["sh", "-e", "-c", block],
        cwd=tmp_path,
        env=new_users_environment(url, port),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # the user's terminal: its own process group
    )
    transcript = Transcript(shell)
    try:
        transcript.wait_for(r"streamloop \S+ ready", started + INSTALL_DEADLINE)
        # Shown with -s: the time the first screen costs a new user, most of it pip's.
        print(f"cloned, installed and started in {time.monotonic() - started:.0f} s")
        deadline = time.monotonic() + SERVICE_DEADLINE
        annotate = transcript.wait_for(
            r"demo:\s+(http://\S+/static/annotate\.html\?project=\S+)", deadline
        )[1]
        base = annotate.split("/static/", 1)[0]
        assert base == f"http://127.0.0.1:{port}"
        assert poll(f"{base}/healthz", deadline).json() == {"status": "ok"}

        page = poll(annotate, deadline)
        assert page.headers["content-type"].startswith("text/html")
        assert "<title>Annotate · streamloop</title>" in page.text
        project = annotate.rsplit("project=", 1)[1]
        assert f"/static/annotate.html?project={project}" in first_screen()
        record = poll(f"{base}/api/projects/{project}", deadline).json()
        assert record["name"] == project
        keys = re.search(r"Press <kbd>1</kbd>\u2013<kbd>(\d)</kbd> to label", first_screen())
        assert keys, "the first screen says which keys label"
        assert len(record["labels"]) == int(keys[1])
        while poll(f"{base}/api/projects/{project}/metrics", deadline).json()["events_total"] == 0:
            assert time.monotonic() < deadline, "the demo streams no events"
            time.sleep(0.2)

        os.kill(the_demo_process(shell), signal.SIGINT)  # Ctrl-C
        assert shell.wait(SERVICE_DEADLINE) == 0, transcript
    finally:
        if shell.poll() is None:
            os.killpg(shell.pid, signal.SIGKILL)
            shell.wait()
        transcript.close()
