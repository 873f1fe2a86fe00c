"""One live service per database for the properties, and the checks every answer must pass.

The service runs in a thread of its own, so that the properties can drive it synchronously
(``httpx.Client``, :class:`support.SyncSocket`) from Hypothesis' ``@given`` tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import math
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from hypothesis import event, note

from streamloop.config import Settings
from support import (
    RECEIVE_TIMEOUT,
    SyncSocket,
    postgres_database,
    project_spec,
    running,
    sync_annotator,
    sync_dashboard,
)

#: Small limits, so that bodies, frames and batches over them are cheap to make.
MAX_BODY_BYTES = 16_384
MAX_FRAME_BYTES = 1_024
MAX_EVENTS = 20

SNAKE_CASE = re.compile(r"^[a-z][a-z0-9_]*$")
#: The statuses the contract gives errors (no auth here, so no 401/403).
ERROR_STATUSES = frozenset({400, 404, 409, 413, 422, 429, 503})


def encode(value: Any, ascii_only: bool = False) -> bytes:
    return json.dumps(value, ensure_ascii=ascii_only, allow_nan=False).encode()


# -- the service under test -------------------------------------------------------------------


class _ErrorLog(logging.Handler):
    """Every ERROR the server logs: an unexpected exception shows here even when it is hidden."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def take(self) -> list[str]:
        lines = [f"{r.name}: {r.getMessage()} {r.exc_info or ''}" for r in self.records]
        self.records.clear()
        return lines


class LiveService:
    """One streamloop in a thread of its own, and a model of what it acknowledged."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        #: Every project name whose creation was answered 201.
        self.projects: set[str] = set()
        self.errors = _ErrorLog()
        self._names = itertools.count(1)
        self._shared: dict[str, str] = {}
        self._started = threading.Event()
        self._failure: BaseException | None = None
        # A daemon: a service that would not stop must not keep pytest from exiting too.
        self._thread = threading.Thread(target=self._run, name="streamloop-under-test", daemon=True)
        self.base = ""

    def __enter__(self) -> LiveService:
        self._thread.start()
        assert self._started.wait(RECEIVE_TIMEOUT * 3), "the service did not start"
        if self._failure is not None:
            raise self._failure
        for name in ("", "uvicorn"):
            logging.getLogger(name).addHandler(self.errors)
        self.http = httpx.Client(base_url=self.base, timeout=RECEIVE_TIMEOUT)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.http.close()
        for name in ("", "uvicorn"):
            logging.getLogger(name).removeHandler(self.errors)
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(RECEIVE_TIMEOUT * 3)
        assert not self._thread.is_alive(), "the service did not stop"
        if self._failure is not None:
            raise self._failure

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # shown by __enter__ or __exit__, in the test's thread
            self._failure = exc
        finally:
            self._started.set()

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        async with running(self.settings) as service:
            self.base = service.base
            self._started.set()
            await self._stop.wait()

    # -- helpers the properties share --------------------------------------------------------

    def new_project(self, **overrides: Any) -> str:
        name = f"prop-{next(self._names)}"
        response = self.http.post("/api/projects", json=project_spec(name, **overrides))
        assert response.status_code == 201, response.text
        self.projects.add(name)
        return name

    def shared_project(self, key: str, **overrides: Any) -> str:
        """A project made once per service, for properties that leave no state behind."""
        if key not in self._shared:
            self._shared[key] = self.new_project(**overrides)
        return self._shared[key]

    def post(self, path: str, body: bytes) -> httpx.Response:
        response = self.http.post(path, content=body, headers={"content-type": "application/json"})
        assert response.status_code != 500, f"500 for {body[:300]!r}: {response.text}"
        return response

    def send_events(self, project: str, events: list[dict[str, Any]]) -> None:
        response = self.http.post(f"/api/projects/{project}/events", json={"events": events})
        assert response.status_code == 200, response.text

    def metrics(self, project: str) -> dict[str, Any]:
        response = self.http.get(f"/api/projects/{project}/metrics")
        assert response.status_code == 200, response.text
        metrics: dict[str, Any] = response.json()
        return metrics

    def annotator(
        self, project: str, **query: Any
    ) -> contextlib.AbstractContextManager[SyncSocket]:
        """An annotator, "prop", that holds the items it is sent while it does other things."""
        return sync_annotator(self.base, project, "prop", keep_items=True, **query)

    def dashboard(self, project: str) -> contextlib.AbstractContextManager[SyncSocket]:
        return sync_dashboard(self.base, project)

    def assert_no_server_errors(self) -> None:
        assert not (logged := self.errors.take()), f"the server logged errors: {logged}"


@contextlib.contextmanager
def live_service(database: str, tmp_dir: Path) -> Iterator[LiveService]:
    """A live service on ``database`` ("sqlite" or "postgresql"), its data under ``tmp_dir``."""
    with contextlib.ExitStack() as stack:
        url = None
        if database == "postgresql":
            url = stack.enter_context(postgres_database())
        settings = Settings.from_env(
            {},
            data_dir=tmp_dir / "data",
            port=0,
            database=url,
            max_body_bytes=MAX_BODY_BYTES,
            max_frame_bytes=MAX_FRAME_BYTES,
            max_events_per_request=MAX_EVENTS,
            metrics_interval_seconds=0.02,
        )
        yield stack.enter_context(LiveService(settings))


# -- what every answer must look like ---------------------------------------------------------


def assert_error_body(response: httpx.Response, statuses: frozenset[int] = ERROR_STATUSES) -> str:
    """The contract's error shape with an error status; returns the code."""
    assert response.status_code in statuses, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert isinstance(body, dict) and set(body) == {"error"}, body
    error = body["error"]
    # The contract may be extended with new fields, never fewer.
    assert isinstance(error, dict) and {"code", "message", "retryable"} <= set(error), body
    assert isinstance(error["code"], str) and SNAKE_CASE.match(error["code"]), body
    assert isinstance(error["message"], str) and error["message"].strip(), body
    # Back-pressure and "not ready" may pass if sent again unchanged; nothing else does.
    assert error["retryable"] is (response.status_code in {429, 503}), body
    return str(error["code"])


def assert_error_frame(frame: dict[str, Any]) -> str:
    """The contract's error message on a socket; returns the code."""
    assert frame["type"] == "error", frame
    # Extensions add fields (the refused item_id or label_id): code and message are always there.
    assert {"code", "message", "retryable"} <= set(frame), frame
    assert isinstance(frame["code"], str) and SNAKE_CASE.match(frame["code"]), frame
    assert isinstance(frame["message"], str) and frame["message"].strip(), frame
    assert isinstance(frame["retryable"], bool), frame
    return str(frame["code"])


def assert_scored(scored: dict[str, Any], labels: list[str]) -> None:
    """A prediction as the contract shows it: probabilities over the labels, summing to 1."""
    probabilities = scored["probabilities"]
    assert set(probabilities) == set(labels), scored
    assert all(isinstance(p, float | int) and 0.0 <= p <= 1.0 for p in probabilities.values())
    assert math.isclose(sum(probabilities.values()), 1.0, abs_tol=1e-6), scored
    assert isinstance(scored["uncertainty"], float | int), scored
    assert 0.0 <= scored["uncertainty"] <= 1.0, scored
    assert scored["prediction"] is None or scored["prediction"] in labels, scored
    assert isinstance(scored["model_version"], int), scored


@dataclass(frozen=True)
class Request:
    """A body to send and what may answer it: ``statuses``, and ``code`` when one is known."""

    why: str
    body: bytes
    statuses: frozenset[int]
    code: str | None = None

    def check(self, response: httpx.Response) -> None:
        note(f"{self.why}: {self.body[:200]!r} -> {response.status_code} {response.text[:300]}")
        event(f"{self.why.split(',')[0]} -> {response.status_code}")
        assert response.status_code in self.statuses, (self.why, response.text)
        if response.status_code >= 400:
            code = assert_error_body(response)
            assert self.code is None or code == self.code, (self.why, code, self.code)
