"""Helpers shared by the tests: a live in-process server, clients for it, test data.

Every test that talks to an annotate or dashboard socket does it through :class:`Socket`
(asyncio) or :class:`SyncSocket` (a thread, for Hypothesis), which share their frame logic.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import importlib
import itertools
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, NoReturn

import httpx
import orjson
import pytest
import uvicorn
from hypothesis import strategies as st
from sqlalchemy import create_engine, text
from websockets.asyncio.client import ClientConnection, connect
from websockets.sync.client import ClientConnection as SyncClientConnection
from websockets.sync.client import connect as sync_connect
from websockets.typing import Origin

from streamloop.app import create_app
from streamloop.cli import server_config
from streamloop.config import Settings
from streamloop.store.database import sqlalchemy_url

#: Upper bound on waiting for one message: a safety net against hangs, not a timing assertion.
RECEIVE_TIMEOUT = 20.0

TICKET_WORDS = {
    "billing": ["invoice", "charged", "refund", "payment", "card", "price"],
    "bug": ["crash", "error", "broken", "blank", "exception", "freeze"],
    "other": ["hello", "question", "feedback", "thanks", "idea", "meeting"],
}


def ticket(label: str, n: int) -> dict[str, str]:
    words = TICKET_WORDS[label]
    return {"text": f"{words[n % len(words)]} {words[(n * 7 + 3) % len(words)]} number {n}"}


# Names that collide once one-hot encoded: "a_b" is a number field and "a" may be "b"; "a_b"
# may also be a string, giving "a_b_c" as "a" = "b_c" does. The last is always folded.
_TABULAR_NAMES = ["a", "a_b", "c", "d", "~hashed:number_0"]
_TABULAR_VALUES = st.one_of(
    st.floats(min_value=-1e6, max_value=1e6),
    st.integers(-5, 5),
    st.booleans(),
    st.sampled_from(["b", "b_c", "c", "red"]),
)


def tabular_rows(max_size: int) -> st.SearchStrategy[list[dict[str, Any]]]:
    """Lists of tabular rows of any shape: numbers, booleans and strings, fields missing."""
    return st.lists(
        st.dictionaries(st.sampled_from(_TABULAR_NAMES), _TABULAR_VALUES), max_size=max_size
    )


def same_predictions(many: Sequence[Any], ones: Sequence[Any]) -> None:
    """A batch's predictions (`predict_many`) against one at a time (`predict`), equal up to
    float rounding since a batch path sums in another order: the same decisions (a label, or
    a multilabel set) and versions, probabilities of the same labels, each a Python float (as
    JSON takes it) within 1e-12, and uncertainties within 1e-12."""

    def decided(prediction: Any) -> Any:
        return prediction.labels if hasattr(prediction, "labels") else prediction.label

    assert [decided(p) for p in many] == [decided(p) for p in ones]
    assert [p.model_version for p in many] == [p.model_version for p in ones]
    assert {type(p) for one in many for p in one.probabilities.values()} <= {float}
    for batch, one in zip(many, ones, strict=True):
        assert list(batch.probabilities) == list(one.probabilities)
        assert list(batch.probabilities.values()) == pytest.approx(
            list(one.probabilities.values()), abs=1e-12
        )
        assert batch.uncertainty == pytest.approx(one.uncertainty, abs=1e-12)


def predicted_as_one_matrix(model: Any, rows: Sequence[dict[str, Any]]) -> list[Any]:
    """``model.predict_many(rows)``, checked to have read the rows as one matrix of numbers
    (`LinearScorer.scores_numbers`), not through the row-by-row fallback."""
    from streamloop.online.linear import LinearScorer

    read = []
    scores_numbers = LinearScorer.scores_numbers

    def spy(self: LinearScorer, *args: Any) -> Any:
        read.append(found := scores_numbers(self, *args))
        return found

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(LinearScorer, "scores_numbers", spy)
        many: list[Any] = model.predict_many(rows)
    assert len(read) == 1 and read[0] is not None  # the matrix path, not the fallback
    return many


def service_missing(message: str) -> NoReturn:
    """A service a test needs is not there: a failure under CI, a skip elsewhere."""
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def make_project(store: Any, name: str = "tickets") -> Any:
    """A text project made in the store directly (the store's own tests)."""
    return store.create_project(
        name=name,
        labels=["a", "b"],
        input="text",
        model="logistic_regression",
        strategy="margin",
        exploration=0.05,
        lease_seconds=120.0,
    )


def project_spec(name: str = "tickets", **overrides: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {"name": name, "labels": list(TICKET_WORDS), "input": "text"}
    spec.update(overrides)
    return spec


class _Server(uvicorn.Server):
    """uvicorn that tells when it is listening, instead of being polled."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.listening = asyncio.Event()

    async def startup(self, sockets: Any = None) -> None:
        await super().startup(sockets)
        self.listening.set()


class Service:
    """A running streamloop: an HTTP client and annotator/dashboard sockets on it."""

    def __init__(self, base: str, http: httpx.AsyncClient, app: Any) -> None:
        self.base = base
        self.ws_base = ws_url(base)
        self.http = http
        self.app = app
        self._ids = itertools.count(1)

    @property
    def core(self) -> Any:
        """The app's `streamloop.streams.Service` (projects, store, journal)."""
        return self.app.state.service

    async def create_project(self, **overrides: Any) -> dict[str, Any]:
        response = await self.http.post("/api/projects", json=project_spec(**overrides))
        assert response.status_code == 201, response.text
        return response.json()

    async def send_events(self, project: str, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        response = await self.http.post(f"/api/projects/{project}/events", json={"events": events})
        assert response.status_code == 200, response.text
        return response.json()["results"]

    async def teach(self, project: str, count: int = 24) -> None:
        """``count`` production labels over HTTP (tickets ``e0``... of each label in turn),
        which every model of the project learns."""
        names = list(TICKET_WORDS)
        events = [{"id": f"e{n}", "data": ticket(names[n % 3], n)} for n in range(count)]
        await self.send_events(project, events)
        labels = [{"event_id": f"e{n}", "label": names[n % 3]} for n in range(count)]
        response = await self.http.post(f"/api/projects/{project}/labels", json={"labels": labels})
        assert response.status_code == 200, response.text

    async def metrics(self, project: str) -> dict[str, Any]:
        response = await self.http.get(f"/api/projects/{project}/metrics")
        assert response.status_code == 200, response.text
        return response.json()

    @contextlib.asynccontextmanager
    async def annotator(self, project: str, name: str, **query: Any) -> AsyncIterator[Socket]:
        async with annotator(self.base, project, name, **query) as socket:
            yield socket

    @contextlib.asynccontextmanager
    async def reviewer(self, project: str, name: str) -> AsyncIterator[Socket]:
        async with reviewer(self.base, project, name) as socket:
            yield socket

    @contextlib.asynccontextmanager
    async def dashboard(self, project: str) -> AsyncIterator[Socket]:
        async with dashboard(self.base, project) as socket:
            yield socket


# -- client sockets: the frame logic once, over asyncio and over threads ----------------------

#: What a socket passes over while it waits for another kind of message.
ANNOTATOR_NOTICES = frozenset({"hello", "idle"})
DASHBOARD_NOTICES = frozenset({"history", "metrics"})


def ws_url(base: str) -> str:
    """``base`` (``http://``, ``https://`` or already ``ws://``) as a WebSocket URL."""
    return base if base.startswith("ws") else "ws" + base.removeprefix("http")


def annotate_url(base: str, project: str, annotator: str | None, **query: Any) -> str:
    """The annotate socket of ``project`` on the service at ``base``.

    ``annotator`` None sends no name: with tokens on, the token names the annotator.
    """
    named = {} if annotator is None else {"annotator": annotator}
    params = httpx.QueryParams({**named, **query})
    return f"{ws_url(base)}/ws/projects/{project}/annotate?{params}"


def frame(message: dict[str, Any] | str | bytes) -> str | bytes:
    """A message as sent: a dict as JSON text, anything else as it is (junk on purpose)."""
    return orjson.dumps(message).decode() if isinstance(message, dict) else message


class Frames:
    """What a client socket was sent and holds: the logic both transports share.

    Waiting for some kinds of message, a socket passes over its notices only (an annotator's
    hello and idle, a dashboard's history and metrics); any other message fails the test.
    Items are kept instead while a label waits for its answer, and always on a socket made with
    ``keep_items`` (an annotator that holds what it is sent while it does something else).
    """

    def __init__(self, notices: frozenset[str], keep_items: bool = False) -> None:
        self.notices = notices
        self.keep_items = keep_items
        #: How long one message may take; a test that knows the server waits longer raises it.
        self.timeout = RECEIVE_TIMEOUT
        #: Item messages kept, oldest first, that :meth:`next_item` has not handed out.
        self.items: list[dict[str, Any]] = []
        #: Whether an idle notice came after the last item: nothing more is on its way.
        self.idle = False

    @property
    def held(self) -> list[str]:
        """The ids of the items kept."""
        return [message["item"]["id"] for message in self.items]

    def forget(self, item_id: str) -> None:
        """Stop holding a kept item the test has labelled or skipped."""
        self.items = [message for message in self.items if message["item"]["id"] != item_id]

    def _read(self, raw: str | bytes) -> dict[str, Any]:
        message: dict[str, Any] = orjson.loads(raw)
        if message["type"] in {"item", "idle"}:
            self.idle = message["type"] == "idle"
        return message

    def _settles(self, message: dict[str, Any], types: tuple[str, ...], keep_items: bool) -> bool:
        """Whether ``message`` ends a wait for ``types``; if not, keeps it or passes over it."""
        if message["type"] in types:
            return True
        if message["type"] == "item" and (keep_items or self.keep_items):
            self.items.append(message)
        else:
            assert message["type"] in self.notices, message
        return False

    @staticmethod
    def _label(item_id: str, label: str | list[Any], label_id: str) -> str | bytes:
        """A label message; a list is a multilabel project's label set (``labels``), or a
        spans project's spans when it holds objects (``spans``)."""
        field = "label"
        if isinstance(label, list):
            field = "spans" if any(isinstance(x, dict) for x in label) else "labels"
        return frame({"type": "label", "item_id": item_id, field: label, "label_id": label_id})


class Socket(Frames):
    """A client WebSocket on asyncio speaking the contract's JSON messages."""

    def __init__(
        self,
        ws: ClientConnection,
        notices: frozenset[str] = ANNOTATOR_NOTICES,
        keep_items: bool = False,
    ) -> None:
        super().__init__(notices, keep_items)
        self.ws = ws

    async def recv(self) -> dict[str, Any]:
        return self._read(await asyncio.wait_for(self.ws.recv(), self.timeout))

    async def expect(self, *types: str, keep_items: bool = False) -> dict[str, Any]:
        """The next message of one of ``types``, passing over notices (and keeping items)."""
        while not self._settles(message := await self.recv(), types, keep_items):
            pass
        return message

    async def next_item(self) -> dict[str, Any]:
        """The next item: one kept, or the next sent."""
        if self.items:
            return self.items.pop(0)
        return await self.expect("item")

    async def send(self, message: dict[str, Any] | str | bytes) -> None:
        await self.ws.send(frame(message))

    async def label(self, item_id: str, label: str | list[Any], label_id: str) -> dict[str, Any]:
        """Send a label; its ack (or error), keeping items that arrive meanwhile."""
        await self.ws.send(self._label(item_id, label, label_id))
        return await self.expect("ack", "error", keep_items=True)


class SyncSocket(Frames):
    """A client WebSocket on a thread (``websockets.sync``), for Hypothesis' ``@given`` tests."""

    def __init__(
        self,
        ws: SyncClientConnection,
        notices: frozenset[str] = ANNOTATOR_NOTICES,
        keep_items: bool = False,
    ) -> None:
        super().__init__(notices, keep_items)
        self.ws = ws

    def recv(self) -> dict[str, Any]:
        return self._read(self.ws.recv(timeout=self.timeout))

    def expect(self, *types: str, keep_items: bool = False) -> dict[str, Any]:
        """The next message of one of ``types``, passing over notices (and keeping items)."""
        while not self._settles(message := self.recv(), types, keep_items):
            pass
        return message

    def next_item(self) -> dict[str, Any]:
        """The next item: one kept, or the next sent."""
        if self.items:
            return self.items.pop(0)
        return self.expect("item")

    def held_item(self) -> str | None:
        """The first item kept, waiting for one if none is; None once the queue is idle."""
        while not self.items and not self.idle:
            if (message := self.expect("item", "idle"))["type"] == "item":
                self.items.append(message)
        return self.held[0] if self.items else None

    def send(self, message: dict[str, Any] | str | bytes) -> None:
        self.ws.send(frame(message))

    def label(self, item_id: str, label: str | list[Any], label_id: str) -> dict[str, Any]:
        """Send a label; its ack (or error), keeping items that arrive meanwhile."""
        self.ws.send(self._label(item_id, label, label_id))
        return self.expect("ack", "error", keep_items=True)


@contextlib.asynccontextmanager
async def annotator(
    base: str,
    project: str,
    name: str | None,
    *,
    additional_headers: dict[str, str] | None = None,
    origin: str | None = None,
    **query: Any,
) -> AsyncIterator[Socket]:
    """An annotator's socket on the service at ``base`` (a :class:`Service`'s or a process's).

    ``additional_headers`` and ``origin`` go into the handshake (a token, a page's origin).
    """
    async with connect(
        annotate_url(base, project, name, **query),
        additional_headers=additional_headers,
        origin=Origin(origin) if origin else None,
    ) as ws:
        yield Socket(ws)


@contextlib.asynccontextmanager
async def reviewer(
    base: str,
    project: str,
    name: str | None,
    *,
    additional_headers: dict[str, str] | None = None,
) -> AsyncIterator[Socket]:
    """A reviewer's socket on the service at ``base``; ``name`` None: the token names them."""
    named = "" if name is None else f"?{httpx.QueryParams({'reviewer': name})}"
    async with connect(
        f"{ws_url(base)}/ws/projects/{project}/review{named}",
        additional_headers=additional_headers,
    ) as ws:
        yield Socket(ws, ANNOTATOR_NOTICES)


@contextlib.asynccontextmanager
async def dashboard(
    base: str,
    project: str,
    *,
    additional_headers: dict[str, str] | None = None,
    origin: str | None = None,
) -> AsyncIterator[Socket]:
    """A dashboard's socket on the service at ``base``; the handshake as for :func:`annotator`."""
    async with connect(
        f"{ws_url(base)}/ws/projects/{project}/dashboard",
        additional_headers=additional_headers,
        origin=Origin(origin) if origin else None,
    ) as ws:
        yield Socket(ws, DASHBOARD_NOTICES)


@contextlib.contextmanager
def sync_annotator(
    base: str, project: str, name: str, keep_items: bool = False, **query: Any
) -> Iterator[SyncSocket]:
    """An annotator's socket on a thread; ``keep_items``: see :class:`Frames`."""
    with sync_connect(
        annotate_url(base, project, name, **query),
        open_timeout=RECEIVE_TIMEOUT,
        close_timeout=RECEIVE_TIMEOUT,
    ) as ws:
        yield SyncSocket(ws, keep_items=keep_items)


@contextlib.contextmanager
def sync_dashboard(base: str, project: str) -> Iterator[SyncSocket]:
    """A dashboard's socket on a thread."""
    with sync_connect(
        f"{ws_url(base)}/ws/projects/{project}/dashboard",
        open_timeout=RECEIVE_TIMEOUT,
        close_timeout=RECEIVE_TIMEOUT,
    ) as ws:
        yield SyncSocket(ws, DASHBOARD_NOTICES)


async def callbacks_run() -> None:
    """Let every callback the event loop has ready run, and those they schedule in turn (a
    few rounds): what a task can do without waiting on anything outside is done."""
    for _ in range(20):
        await asyncio.sleep(0)


@contextlib.asynccontextmanager
async def running(settings: Settings) -> AsyncIterator[Service]:
    app = create_app(settings)
    # Served as `streamloop serve` serves it, with its limits, on a free loopback port.
    config = server_config(
        app, dataclasses.replace(settings, host="127.0.0.1", port=0), log_level="warning"
    )
    server = _Server(config)
    task = asyncio.create_task(server.serve())
    await asyncio.wait_for(server.listening.wait(), RECEIVE_TIMEOUT)
    port = server.servers[0].sockets[0].getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    try:
        # The client lets an idle connection go well before the server's keep-alive
        # (`keep_alive_seconds`, 5 s) closes it: a request sent on a connection the server
        # is closing at that instant fails with a ReadError (a test that waits ~5 s on a
        # subprocess between two requests met exactly that).
        limits = httpx.Limits(keepalive_expiry=1.0)
        # httpx's own 5 s read timeout is too short for a request whose answer waits on work
        # run once per process (a model plugin's check, in a subprocess) on a loaded machine.
        async with httpx.AsyncClient(base_url=base, limits=limits, timeout=RECEIVE_TIMEOUT) as http:
            yield Service(base, http, app)
    finally:
        server.should_exit = True
        await task


def until(condition: Callable[[], bool], timeout: float = RECEIVE_TIMEOUT) -> None:
    """Check ``condition`` until it holds (state of another process or thread that nothing
    signals, such as a database session waiting for a lock), failing after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"still not so after {timeout} s: {condition}")
        time.sleep(0.01)  # between checks; the condition decides


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServeProcess:
    """``streamloop serve`` (or ``command``, as ``demo``) in a subprocess; ``ready()`` waits for
    its banner."""

    def __init__(
        self,
        args: list[str],
        env: dict[str, str] | None = None,
        port: int | None = None,
        command: str = "serve",
    ) -> None:
        self.port = port or free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        #: What it printed after the ready banner.
        self.output: list[str] = []
        self.process = subprocess.Popen(
            [sys.executable, "-m", "streamloop", command, "--port", str(self.port), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
        )

    def http(self) -> httpx.AsyncClient:
        """An HTTP client of this server. httpx's own 5 s read timeout is too short for a
        first request whose answer waits on imports (a project's first model) on a loaded
        machine."""
        return httpx.AsyncClient(base_url=self.base, timeout=RECEIVE_TIMEOUT)

    async def ready(self) -> list[str]:
        """Lines printed up to the ready banner (printed once it listens)."""
        lines: list[str] = []
        assert self.process.stdout is not None
        while True:
            line = await asyncio.wait_for(
                asyncio.to_thread(self.process.stdout.readline), RECEIVE_TIMEOUT
            )
            assert line, f"serve exited early: {''.join(lines)}"
            lines.append(line)
            if "annotate:" in line:
                # Keep reading: a pipe nobody empties would block the server once it is full.
                threading.Thread(target=self._drain, daemon=True).start()
                return lines

    def read_until(self, text: str) -> list[str]:
        """Lines printed up to and including the first that holds ``text`` (read here: for a
        server that may never print its banner)."""
        lines: list[str] = []
        assert self.process.stdout is not None
        while text not in (line := self.process.stdout.readline()):
            assert line, f"serve exited early: {''.join(lines)}"
            lines.append(line)
        return [*lines, line]

    def _drain(self) -> None:
        assert self.process.stdout is not None
        with contextlib.suppress(ValueError, OSError):
            for line in self.process.stdout:
                self.output.append(line)

    def kill(self, sig: int = signal.SIGTERM) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        code = self.process.wait(timeout=RECEIVE_TIMEOUT * 3)
        if self.process.stdout is not None:
            self.process.stdout.close()
        return code


class WorkerProcess:
    """``streamloop worker`` in a subprocess, its output in a file."""

    def __init__(
        self,
        args: list[str],
        log: Path,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.log = log
        self._out = log.open("w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "streamloop", "worker", *args],
            stdout=self._out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
            cwd=cwd,
        )

    def kill(self, sig: int = signal.SIGTERM) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        code = self.process.wait(timeout=RECEIVE_TIMEOUT * 3)
        self._out.close()
        return code


#: The server that scripts/postgres started; CI sets it, and there a PostgreSQL test that
#: cannot run is a failure, not a skip.
POSTGRES_ENV = "STREAMLOOP_TEST_POSTGRES"


@contextlib.contextmanager
def postgres_database() -> Iterator[str]:
    """A fresh, empty PostgreSQL database on the test server, dropped afterwards; its URL."""
    server = os.environ.get(POSTGRES_ENV)
    if not server:
        service_missing(
            f"{POSTGRES_ENV} is unset; `export {POSTGRES_ENV}=$(scripts/postgres start)`"
        )
    name = f"streamloop_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(sqlalchemy_url(server), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield server.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


# -- model plugins -----------------------------------------------------------------------------


#: A plugin module (`plugin_distribution`): ``words``, a sound text model, and
#: ``overconfident``, whose probabilities sum to more than 1 (refused: ``probabilities``).
ACME_PLUGINS = """
from river import linear_model, multiclass, naive_bayes, optim
from streamloop.online.features import OrderedTFIDF
from streamloop.online.plugins import model_plugin

class Overconfident(naive_bayes.MultinomialNB):
    def predict_proba_one(self, x):
        return {label: 0.9 for label in super().predict_proba_one(x)}

@model_plugin(input_kinds=["text"])
def words(*, labels, task, input_kind, seed):
    '''TF-IDF words, a logistic regression per label.'''
    head = linear_model.LogisticRegression(optimizer=optim.SGD(0.5))
    return OrderedTFIDF(on="text") | multiclass.OneVsRestClassifier(head)

@model_plugin(input_kinds=["text"])
def overconfident(*, labels, task, input_kind, seed):
    return OrderedTFIDF(on="text") | Overconfident()
"""


def plugin_distribution(
    root: Path, distribution: str, source: str, entry_points: dict[str, str]
) -> Path:
    """Install a model plugin's distribution by hand into ``root``: a module named after it
    (``source``) and the metadata naming ``entry_points`` in the ``streamloop.models`` group,
    as pip would lay them out. Put ``root`` on ``sys.path`` (and ``PYTHONPATH``, for the
    contract's check in a fresh process) and `importlib.metadata` finds it."""
    module = distribution.replace("-", "_")
    (root / f"{module}.py").write_text(textwrap.dedent(source))
    info = root / f"{module}-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {distribution}\nVersion: 0.1\n")
    lines = "".join(f"{name} = {module}:{target}\n" for name, target in entry_points.items())
    (info / "entry_points.txt").write_text(f"[streamloop.models]\n{lines}")
    # Another test's module of the same name may be imported already: this one is new.
    sys.modules.pop(module, None)
    importlib.invalidate_caches()
    return root
