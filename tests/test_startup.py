"""Start-up (issue 22): the command line loads no heavy library; each command imports its own."""

from __future__ import annotations

import contextlib
import io
import subprocess
import sys

import pytest

from streamloop.cli import main
from streamloop.store.tokens import ROLES

#: Libraries that take tenths of a second to import (Kafka's, PostgreSQL's, the ORM, River and
#: what it imports, the web server): only the commands that use them may import them.
HEAVY = frozenset(
    {
        "aiokafka",
        "faust",
        "pandas",
        "psycopg",
        "river",
        "scipy",
        "sklearn",
        "sqlalchemy",
        "sqlmodel",
        "uvicorn",
    }
)
#: An embedded app on an empty data folder, started, with a client: ``client``.
EMPTY_APP = (
    "import pathlib, tempfile; from starlette.testclient import TestClient;"
    " from streamloop.app import create_app; from streamloop.config import Settings;"
    " app = create_app(Settings.from_env({}, data_dir=pathlib.Path(tempfile.mkdtemp())));"
    " client = TestClient(app, base_url='http://127.0.0.1').__enter__();"
)


def heavy_loaded(code: str) -> set[str]:
    """The heavy libraries in ``sys.modules`` after ``code`` runs in a fresh interpreter."""
    script = (
        f"import sys\ntry:\n    {code}\nexcept SystemExit:\n    pass\nprint()\nprint(*sys.modules)"
    )
    run = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    # The last line: whatever the code printed (a command's help) comes before it.
    return {name.split(".")[0] for name in run.stdout.splitlines()[-1].split()} & HEAVY


def test_importing_the_cli_imports_no_heavy_library() -> None:
    assert heavy_loaded("import streamloop.cli") == set()


@pytest.mark.parametrize(
    "argv", [["--help"], ["token", "--help"], ["topics", "--help"], ["key", "create", "--help"]]
)
def test_help_imports_no_heavy_library(argv: list[str]) -> None:
    assert heavy_loaded(f"from streamloop.cli import main; main({argv!r})") == set()


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["token", "create", "--help"], f"--role {{{','.join(ROLES)}}}"),
        (["topics", "create", "--help"], "--partitions PARTITIONS"),
        (["dead-letters", "replay", "--help"], "--reason CODE"),
    ],
)
def test_options_imported_when_their_command_runs_are_in_its_help(
    argv: list[str], said: str
) -> None:
    """Options that need the store or Kafka's modules are added when their command is parsed:
    its help still lists them, with the choices those modules give."""
    shown = io.StringIO()
    with contextlib.redirect_stdout(shown), pytest.raises(SystemExit) as exit:
        main(argv)
    assert exit.value.code == 0
    assert said in shown.getvalue()
    assert "--broker" in shown.getvalue() or "--data-dir" in shown.getvalue()


def test_the_web_app_without_a_broker_imports_no_kafka_library() -> None:
    # Readiness and metrics ask whether the service has a Kafka bridge: without a broker,
    # that question must not import one.
    code = (
        f"{EMPTY_APP} assert client.get('/readyz').status_code == 200;"
        " assert client.get('/metrics').status_code == 200"
    )
    assert heavy_loaded(code) & {"aiokafka", "faust"} == set()


def test_serving_with_no_project_imports_no_model_library() -> None:
    # Issue 22: with no project there is no model, and River with what it imports (scipy,
    # sklearn, pandas) was about a second of serve's start. Checked again after the first
    # snapshot check (every second), which has no learner to ask either.
    code = (
        f"{EMPTY_APP} assert client.get('/readyz').status_code == 200;"
        " assert client.get('/metrics').status_code == 200;"
        " import time; time.sleep(1.5);"
        " assert client.get('/readyz').status_code == 200"
    )
    assert heavy_loaded(code) & {"pandas", "river", "scipy", "sklearn"} == set()
