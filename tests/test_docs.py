"""The docs hold: the README documents every setting, and the code in the README and docs runs.

Each document's ```python and ```sh blocks run in order, as a reader following it runs them,
against a live service of the document's own: ``127.0.0.1:8000`` and ``localhost:8000`` become
its address, ``/var/lib/streamloop`` its data folder, ``/etc/streamloop`` and ``/backups``
temporary folders. The current folder is a temporary one; ``streamloop`` is this one, its data
in a temporary folder of its own. What a document takes as given (a project it never makes) is
made first (``GIVEN``); a transcript of the websockets client is replayed over a socket; a
block that runs until stopped is stopped once it has printed (``UNTIL_PRINTED``). A block that
cannot run here is in ``NOT_RUN``, with the reason. Any other block runs: a new one is run by
default. Every ``streamloop`` command in a shell block or a systemd unit, run or not, is parsed
by the CLI's own parser, and every option of a synopsis is in the command's help.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import itertools
import os
import re
import shlex
import shutil
import sys
import textwrap
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
from websockets.asyncio.client import connect

from streamloop.cli import _parser
from streamloop.config import Settings, setting_docs, settings_table
from support import RECEIVE_TIMEOUT, Service, Socket, running, service_missing, ticket

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
DOCUMENTS = ["README.md", *sorted(f"docs/{path.name}" for path in (ROOT / "docs").glob("*.md"))]

PYTHON = frozenset({"python"})
SHELL = frozenset({"sh", "bash"})
#: Blocks that are not code to run: diagrams, transcripts and synopses (no language), examples
#: of bodies (``json``, parsed by a test of their own) and other programs' configuration.
NOT_CODE = frozenset({"", "json", "ini", "nginx", "yaml", "toml"})

INSTALLS = "installs the package"
SERVES = "serves until stopped"
KAFKA = "Kafka and PostgreSQL (tests/streams run them)"
#: Blocks that do not run here, by (document, a text only that block of the document holds).
NOT_RUN = {
    ("README.md", "pip install . && streamloop demo"): f"{INSTALLS}, then {SERVES}",
    ("README.md", "scripts/test"): "the whole test suite, this test among it",
    ("README.md", "scripts/kafka/broker start"): KAFKA,
    ("README.md", "streamloop serve --allow-host"): SERVES,
    ("docs/client.md", "pip install ."): INSTALLS,
    ("docs/deployment.md", "python3 -m venv /opt/streamloop"): INSTALLS,
    ("docs/deployment.md", "streamloop serve --data-dir"): SERVES,
    ("docs/deployment.md", "sudo useradd"): "administers the machine: a user, a systemd unit",
    ("docs/deployment.md", "sudo -u streamloop"): "runs as the system user streamloop",
    ("docs/deployment.md", "STREAMLOOP_BROKER=kafka://"): KAFKA,
    ("docs/index.md", "pip install . && streamloop demo"): f"{INSTALLS}, then {SERVES}",
}
#: Blocks that run until stopped: stopped once they have printed this many lines.
UNTIL_PRINTED = {
    ("docs/client.md", 'annotator="keyword-bot"'): 1,  # one item, labelled or skipped
}
#: Programs the shell blocks call, besides sh, streamloop and python.
PROGRAMS = ("curl", "sqlite3")
#: A reader's ``curl`` fails on an error status, as the documented calls must not meet one.
CURL_FAILS = 'curl() { command curl --fail-with-body "$@"; }\n'
#: The websockets command-line client, replayed: ``>`` lines sent, ``<`` lines expected.
TRANSCRIPT = "python -m websockets "
#: ``"key": value`` in a documented message, where the value is written out.
DOCUMENTED_FIELD = re.compile(r'"(\w+)": ("(?:[^"\\]|\\.)*"|null|true|false|-?\d+(?:\.\d+)?)')
FENCE = re.compile(
    r"^(?P<indent> *)```(?P<language>\w*)\n(?P<code>.*?)^(?P=indent)```$", re.M | re.S
)


@dataclass(frozen=True)
class Block:
    document: str
    line: int
    language: str
    code: str

    def __str__(self) -> str:
        return f"{self.document}:{self.line}"

    def listed_in(self, listing: dict[tuple[str, str], Any]) -> tuple[str, str] | None:
        return next(
            (key for key in listing if key[0] == self.document and key[1] in self.code), None
        )

    @property
    def runs(self) -> bool:
        return self.language in PYTHON | SHELL and self.listed_in(NOT_RUN) is None


def blocks(document: str) -> list[Block]:
    text = (ROOT / document).read_text()
    return [
        Block(
            document,
            text.count("\n", 0, match.start()) + 1,
            match["language"],
            textwrap.dedent(match["code"]),
        )
        for match in FENCE.finditer(text)
    ]


def all_blocks() -> Iterator[Block]:
    for document in DOCUMENTS:
        yield from blocks(document)


def test_the_readme_has_the_generated_settings_table():
    # Out of date? Replace the README's table with `python -m streamloop.config`.
    assert settings_table() in README


def test_the_table_names_every_setting_and_its_variable():
    table = settings_table()
    for name, variable, _default, help_text in setting_docs():
        assert f"| `{variable}` |" in table, name
        assert help_text in table


# -- which blocks run ----------------------------------------------------------------------------


def test_every_block_is_code_to_run_or_of_a_kind_that_is_not():
    unknown = {str(b): b.language for b in all_blocks() if b.language not in PYTHON | SHELL}
    assert set(unknown.values()) <= NOT_CODE, unknown


@pytest.mark.parametrize("key", [*NOT_RUN, *UNTIL_PRINTED], ids=" ".join)
def test_each_block_listed_is_one_block_of_its_document(key):
    document, text = key
    found = [str(block) for block in blocks(document) if text in block.code]
    assert len(found) == 1, f"{text!r} is in {found or 'no block'} of {document}"


def test_the_json_examples_are_json():
    for block in all_blocks():
        if block.language == "json":
            try:
                orjson.loads(block.code)
            except orjson.JSONDecodeError as exc:
                pytest.fail(f"{block}: {exc}")


# -- streamloop commands, run or not -------------------------------------------------------------


def shell_lines(block: Block) -> Iterator[str]:
    """The shell lines of ``block``, joined where continued, without here-documents' bodies."""
    if block.language == "ini":  # a systemd unit: its commands
        for line in block.code.splitlines():
            if line.startswith("ExecStart="):
                yield line.removeprefix("ExecStart=")
        return
    if block.code.startswith(TRANSCRIPT):
        return
    heredoc_end = None
    for line in block.code.replace("\\\n", " ").splitlines():
        if heredoc_end is not None:
            heredoc_end = None if line.strip() == heredoc_end else heredoc_end
            continue
        if heredoc := re.search(r"<<-?\s*['\"]?(\w+)", line):
            heredoc_end = heredoc[1]
        yield line


def streamloop_argv(command: list[str]) -> list[str] | None:
    """The arguments ``command`` gives streamloop, if it runs streamloop."""
    while command and re.fullmatch(r"\w+=.*", command[0]):  # VAR=value before the command
        command = command[1:]
    if command[:1] == ["sudo"]:
        command = command[1:]
        while command and command[0].startswith("-"):
            command = command[2:] if command[0] in {"-u", "-g"} else command[1:]
    if command and Path(command[0]).name == "streamloop":
        return command[1:]
    if command[1:3] == ["-m", "streamloop"] and command[0] in {"python", "python3"}:
        return command[3:]
    return None


def streamloop_commands(block: Block) -> Iterator[list[str]]:
    pending = ""  # lines of one command whose quotes are still open
    for line in shell_lines(block):
        pending += line + "\n"
        lexer = shlex.shlex(pending, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        try:
            tokens = [*lexer, ";"]
        except ValueError:  # a quoted string goes on to the next line
            continue
        pending = ""
        command: list[str] = []
        for token in tokens:
            if set(token) <= set("();<>|&"):  # the end of a command
                if (argv := streamloop_argv(command)) is not None:
                    yield argv
                command = []
            else:
                command.append(token)
    assert not pending, f"{block}: a quote is never closed"


def cli_refusal(argv: list[str]) -> str | None:
    """What the CLI's parser says when it refuses ``argv``; None when it takes it."""
    said = io.StringIO()
    with contextlib.redirect_stdout(said), contextlib.redirect_stderr(said):
        try:
            _parser().parse_args(argv)
        except SystemExit as exit:  # --help and --version exit 0
            return None if exit.code == 0 else said.getvalue().strip()
    return None


def test_every_streamloop_command_in_the_docs_is_one_the_cli_takes():
    commands = [
        (block, argv)
        for block in all_blocks()
        if block.language in SHELL | {"ini"}
        for argv in streamloop_commands(block)
    ]
    # The extraction finds them (a test that finds nothing would pass).
    assert {argv[0] for _, argv in commands} >= {"demo", "serve", "worker", "token", "key"}
    refused = {
        f"{block}: streamloop {shlex.join(argv)}": refusal
        for block, argv in commands
        if (refusal := cli_refusal(argv))
    }
    assert not refused, refused


def test_every_option_of_the_cli_synopses_exists():
    """The synopses (``streamloop serve [--port 8000] ...``) name options the CLI has."""
    synopses = [
        line
        for block in all_blocks()
        if block.language == ""
        for line in re.sub(r"\n\s+", " ", block.code).splitlines()
        if line.startswith("streamloop ")
    ]
    assert len(synopses) >= 6
    for synopsis in synopses:
        words = synopsis.split()[1:]
        command = list(itertools.takewhile(lambda word: re.fullmatch(r"[a-z][a-z-]*", word), words))
        said = io.StringIO()
        with contextlib.redirect_stdout(said), pytest.raises(SystemExit):
            _parser().parse_args([*command, "--help"])
        for option in re.findall(r"(?<![\w-])(--?[a-z][\w-]*)", synopsis):
            assert re.search(rf"(?<![\w-]){option}\b", said.getvalue()), (synopsis, option)


# -- running the blocks --------------------------------------------------------------------------


async def teach_41_labels(service: Service, project: str) -> None:
    """A new text project, ``project``, that has learned 41 labels: its model is version 41."""
    await service.create_project(name=project)
    labels = ["billing", "bug"]
    events = [{"id": f"given-{n}", "data": ticket(labels[n % 2], n)} for n in range(41)]
    await service.send_events(project, events)
    taught = [{"event_id": e["id"], "label": labels[n % 2]} for n, e in enumerate(events)]
    response = await service.http.post(f"/api/projects/{project}/labels", json={"labels": taught})
    assert response.status_code == 200, response.text


async def a_downloaded_model(service: Service, folder: Path) -> None:
    """``tickets-v41.pkl`` in the current folder: a model downloaded at version 41."""
    await teach_41_labels(service, "given")
    response = await service.http.get("/api/projects/given/model")
    assert response.status_code == 200, response.text
    (folder / "tickets-v41.pkl").write_bytes(response.content)


async def a_tickets_project_at_version_41(service: Service, folder: Path) -> None:
    await teach_41_labels(service, "tickets")


#: What a document takes as given, made before its blocks run.
GIVEN: dict[str, Callable[[Service, Path], Awaitable[None]]] = {
    "README.md": a_downloaded_model,
    "docs/reference.md": a_tickets_project_at_version_41,
}


class Reader:
    """Someone following one document: its blocks run in order, in folders of their own."""

    def __init__(self, service: Service, settings: Settings, tmp_path: Path) -> None:
        self.service = service
        self.folder = tmp_path / "reader"
        address = service.base.removeprefix("http://")
        self.places = {
            "localhost:8000": address,
            "127.0.0.1:8000": address,
            "/var/lib/streamloop": str(settings.data_dir),
            "/etc/streamloop": str(tmp_path / "etc"),
            "/backups": str(tmp_path / "backups"),
        }
        for folder in (self.folder, tmp_path / "etc", tmp_path / "backups"):
            folder.mkdir()
        environment = {k: v for k, v in os.environ.items() if not k.startswith("STREAMLOOP_")}
        self.environment = {
            **environment,
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{environment.get('PATH', '')}",
            "PYTHONUNBUFFERED": "1",
            # The streamloop commands' own database, apart from the service's.
            "STREAMLOOP_DATA_DIR": str(tmp_path / "cli"),
            # Tokens a reader is told to have; the service runs without auth, so any will do.
            "STREAMLOOP_TOKEN": "sl_documented",
            "SUPERVISOR_TOKEN": "sl_documented",
        }

    def here(self, code: str) -> str:
        for documented, here in self.places.items():
            code = code.replace(documented, here)
        return code

    async def run(self, block: Block) -> None:
        code = self.here(block.code)
        if block.language in PYTHON:
            script = self.folder / f"{Path(block.document).stem}_{block.line}.py"
            script.write_text(code)
            argv = [sys.executable, script.name]
        elif code.startswith(TRANSCRIPT):
            await self.replay(block, code)
            return
        else:
            argv = ["sh", "-e", "-c", CURL_FAILS + code]
        if key := block.listed_in(UNTIL_PRINTED):
            await self.run_until_printed(block, argv, UNTIL_PRINTED[key])
            return
        process = await asyncio.create_subprocess_exec(
            *argv,
            cwd=self.folder,
            env=self.environment,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        output, _ = await asyncio.wait_for(process.communicate(), RECEIVE_TIMEOUT * 3)
        assert process.returncode == 0, f"{block} exited {process.returncode}:\n{output.decode()}"

    async def run_until_printed(self, block: Block, argv: list[str], lines: int) -> None:
        errors = self.folder / f"{block.line}.stderr"
        with errors.open("wb") as stderr:
            process = await asyncio.create_subprocess_exec(
                *argv,
                cwd=self.folder,
                env=self.environment,
                stdout=asyncio.subprocess.PIPE,
                stderr=stderr,
            )
        assert process.stdout is not None
        try:
            for _ in range(lines):
                line = await asyncio.wait_for(process.stdout.readline(), RECEIVE_TIMEOUT)
                assert line, f"{block} ended before printing:\n{errors.read_text()}"
        finally:
            if process.returncode is None:
                process.terminate()
            await process.wait()

    async def replay(self, block: Block, code: str) -> None:
        """The websockets client's session: ``>`` lines sent, ``<`` lines received in turn,
        each of the documented type and with every field the document writes out."""
        command, *lines = code.splitlines()
        async with connect(shlex.split(command)[-1]) as ws:
            socket = Socket(ws)
            for line in lines:
                direction, documented = line[:2], line[2:]
                if direction == "> ":
                    await socket.send(documented)
                    continue
                assert direction == "< ", f"{block}: {line!r}"
                kind = re.search(r'"type": "(\w+)"', documented)
                assert kind, f"{block}: {line!r} has no type"
                message = await (
                    socket.next_item()
                    if kind[1] == "item"
                    else socket.expect(kind[1], keep_items=True)
                )
                received = fields(message)
                for key, value in DOCUMENTED_FIELD.findall(documented):
                    assert orjson.loads(value) in received.get(key, []), (str(block), line, message)


def fields(value: Any) -> dict[str, list[Any]]:
    """Every key in a JSON value, at any depth, with the values it has."""
    found: dict[str, list[Any]] = {}
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            for key, item in node.items():
                found.setdefault(key, []).append(item)
                stack.append(item)
        elif isinstance(node, list):
            stack.extend(node)
    return found


@pytest.mark.slow
@pytest.mark.parametrize(
    "document", [d for d in DOCUMENTS if any(block.runs for block in blocks(d))]
)
async def test_the_code_blocks_run_in_order_against_a_live_service(document, tmp_path):
    runs = [block for block in blocks(document) if block.runs]
    for program in PROGRAMS:
        if not shutil.which(program) and any(re.search(rf"\b{program} ", b.code) for b in runs):
            service_missing(f"{program} is not installed; {document} calls it")
    settings = Settings.from_env({}, data_dir=tmp_path / "service", port=0)
    async with running(settings) as service:
        reader = Reader(service, settings, tmp_path)
        if given := GIVEN.get(document):
            await given(service, reader.folder)
        for block in runs:
            await reader.run(block)
