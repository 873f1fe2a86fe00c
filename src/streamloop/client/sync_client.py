"""`Client`: the HTTP API and scripted annotators for plain, blocking code (httpx, websockets).

The same requests, answers and session state as `AsyncClient` (`streamloop.client.calls`,
`streamloop.client.session`); only the waiting blocks instead of awaiting.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from types import MappingProxyType, TracebackType
from typing import Any, Self, TypeVar

import httpx
from websockets.exceptions import ConnectionClosed, WebSocketException
from websockets.sync.client import ClientConnection, connect

from streamloop.client.calls import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_MAX_BODY_BYTES,
    MODELS_CALL,
    Answer,
    Call,
    Event,
    Gold,
    Label,
    annotate_url,
    annotator_call,
    create_project_call,
    event_calls,
    get_call,
    gold_calls,
    gold_needs_task,
    headers,
    json_list,
    json_object,
    label_calls,
    labels_need_task,
    parse_response,
    patch_project_call,
    predict_call,
    promote_call,
    retry_delay,
    review_call,
    skips_call,
)
from streamloop.client.errors import StreamloopError, closed_error
from streamloop.client.session import (
    Item,
    SessionState,
    Signal,
    correct_message,
    label_message,
    new_label_id,
    recent_message,
    resume_message,
    skip_message,
)

__all__ = ["AnnotateSession", "Client"]

T = TypeVar("T")


class Client:
    """A streamloop service, for blocking code; the same methods as `AsyncClient`.

    Parameters are `AsyncClient`'s.

    Examples
    --------
    ::

        with Client("http://127.0.0.1:8000", token="sl_...") as client:
            client.create_project("tickets", ["billing", "bug", "other"])
            results = client.send_events("tickets", [("evt-1", {"text": "I was charged twice"})])
            with client.annotate("tickets", annotator="bot") as session:
                item = session.next_item()
                session.label(item.id, "billing")
    """

    def __init__(
        self,
        base_url: str,
        token: str | None = None,
        *,
        timeout: float = 30.0,
        retries: int = 5,
        backoff: float = 0.5,
        batch_size: int = DEFAULT_BATCH_SIZE,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    ) -> None:
        self.base_url = base_url
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.batch_size = batch_size
        self.max_body_bytes = max_body_bytes
        self._headers = headers(token)
        self._http = httpx.Client(base_url=base_url, headers=self._headers, timeout=timeout)
        #: Each project's task, by name, from the project records read: it never changes.
        self._tasks: dict[str, str] = {}

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the HTTP connections (annotate sessions close on their own)."""
        self._http.close()

    def create_project(self, name: str, labels: Iterable[str], **options: Any) -> dict[str, Any]:
        """Create a project; ``options`` are the contract's optional fields. Needs ``admin``."""
        return self._known(json_object(self._send(create_project_call(name, labels, options))))

    def models(self) -> list[dict[str, Any]]:
        """The models a project may name (``model``): the presets, then the installed
        plugins, each with ``usable`` and, when its contract check failed, ``refused``
        (``{"check", "why"}``)."""
        return json_list(self._send(MODELS_CALL), "models")

    def projects(self) -> list[dict[str, Any]]:
        """Every project, as stored."""
        return [self._known(p) for p in json_list(self._send(get_call()), "projects")]

    def project(self, name: str) -> dict[str, Any]:
        """One project; `StreamloopError` ``unknown_project`` (404) if there is none."""
        return self._known(json_object(self._send(get_call(name))))

    def send_events(self, project: str, events: Iterable[Event]) -> list[dict[str, Any]]:
        """Score events, split into requests that fit; see `AsyncClient.send_events`."""
        results: list[dict[str, Any]] = []
        for call in event_calls(
            project, events, batch_size=self.batch_size, max_body_bytes=self.max_body_bytes
        ):
            results.extend(json_list(self._send(call), "results"))
        return results

    def predict(self, project: str, data: Mapping[str, Any]) -> dict[str, Any]:
        """Score one item without storing it."""
        return json_object(self._send(predict_call(project, data)))

    def add_gold(self, project: str, items: Iterable[Gold]) -> dict[str, int]:
        """Store gold items, their answers labels, label sets or spans; see
        `AsyncClient.add_gold`."""
        items = list(items)
        task = self._task(project) if gold_needs_task(items) else None
        counts = {"stored": 0, "duplicates": 0}
        for call in gold_calls(
            project,
            items,
            task=task,
            batch_size=self.batch_size,
            max_body_bytes=self.max_body_bytes,
        ):
            body = json_object(self._send(call))
            for key in counts:
                counts[key] += int(body[key])
        return counts

    def quarantine(self, project: str, annotator: str) -> dict[str, Any]:
        """Take an annotator's labels out of the model; see `AsyncClient.quarantine`."""
        return json_object(self._send(annotator_call(project, annotator, "quarantine")))

    def release(self, project: str, annotator: str) -> dict[str, Any]:
        """Count an annotator's labels again; see `AsyncClient.release`."""
        return json_object(self._send(annotator_call(project, annotator, "release")))

    def promote(self, project: str, model: str) -> dict[str, Any]:
        """Serve production with a challenger; see `AsyncClient.promote`."""
        return json_object(self._send(promote_call(project, model)))

    def send_labels(self, project: str, labels: Iterable[Label]) -> list[dict[str, Any]]:
        """Teach ground truth from production, labels, label sets or spans; see
        `AsyncClient.send_labels`."""
        labels = list(labels)
        task = self._task(project) if labels_need_task(labels) else None
        results: list[dict[str, Any]] = []
        for call in label_calls(
            project,
            labels,
            task=task,
            batch_size=self.batch_size,
            max_body_bytes=self.max_body_bytes,
        ):
            results.extend(json_list(self._send(call), "results"))
        return results

    def flag_for_review(self, project: str, event_id: str) -> dict[str, Any]:
        """Send a labelled item to review; see `AsyncClient.flag_for_review`."""
        return json_object(self._send(review_call(project, event_id)))

    def metrics(self, project: str) -> dict[str, Any]:
        """The project's figures: model version, prequential accuracy, queue depth, ..."""
        return json_object(self._send(get_call(project, "metrics")))

    def update_project(self, name: str, **changes: Any) -> dict[str, Any]:
        """Change what a project's annotators are shown; see `AsyncClient.update_project`."""
        return self._known(json_object(self._send(patch_project_call(name, changes))))

    def skips(self, project: str, limit: int = 100) -> list[dict[str, Any]]:
        """The latest items annotators skipped; see `AsyncClient.skips`."""
        return json_list(self._send(skips_call(project, limit)), "skips")

    def history(self, project: str) -> dict[str, Any]:
        """The accuracy curve so far."""
        return json_object(self._send(get_call(project, "history")))

    def annotate(
        self, project: str, annotator: str | None = None, prefetch: int = 1
    ) -> AnnotateSession:
        """An annotate socket for a scripted annotator; use it with ``with``.

        ::

            with client.annotate("tickets", annotator="bot", prefetch=2) as session:
                for item in session.items(until_idle=True):
                    session.label(item.id, guess(item.data))
        """
        return AnnotateSession(
            annotate_url(self.base_url, project, annotator, prefetch),
            self._headers,
            open_timeout=self.timeout,
            retries=self.retries,
            backoff=self.backoff,
        )

    def _known(self, record: dict[str, Any]) -> dict[str, Any]:
        """A project record, its task remembered."""
        self._tasks[str(record.get("name"))] = str(record.get("task", "classify"))
        return record

    def _task(self, project: str) -> str:
        """The project's task: as read before, or read now."""
        if project not in self._tasks:
            self.project(project)
        return self._tasks[project]

    def _send(self, call: Call) -> Any:
        attempt = 0
        while True:
            try:
                response = self._http.request(
                    call.method, call.path, content=call.content, headers=call.headers
                )
            except httpx.HTTPError as exc:
                raise StreamloopError(
                    "connection_failed", str(exc) or repr(exc), retryable=True
                ) from exc
            try:
                return parse_response(response.status_code, response.headers, response.content)
            except StreamloopError as error:
                retries = self.retries if call.idempotent else 0
                delay = retry_delay(error, attempt, retries, self.backoff)
                if delay is None:
                    raise
            attempt += 1
            time.sleep(delay)


class AnnotateSession:
    """One annotate socket, blocking; the same behaviour as `AsyncAnnotateSession`.

    Use it from one thread at a time (give each thread a session of its own).
    """

    def __init__(
        self,
        url: str,
        request_headers: Mapping[str, str],
        *,
        open_timeout: float,
        retries: int,
        backoff: float,
    ) -> None:
        self.url = url
        self.retries = retries
        self.backoff = backoff
        self._headers = dict(request_headers)
        self._open_timeout = open_timeout
        self._state = SessionState()
        self._stack = contextlib.ExitStack()
        self._ws: ClientConnection | None = None

    def __enter__(self) -> Self:
        self.open()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def open(self) -> None:
        """Connect and read the ``hello``; a refusal (auth, unknown project) is raised."""
        try:
            self._ws = self._stack.enter_context(
                connect(
                    self.url,
                    additional_headers=self._headers,
                    open_timeout=self._open_timeout,
                    compression=None,
                    max_size=None,
                )
            )
        except (OSError, TimeoutError, WebSocketException) as exc:
            raise StreamloopError(
                "connection_failed", str(exc) or repr(exc), retryable=True
            ) from exc
        try:
            self._until(self._state.hello_ready, self._open_timeout)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Close the socket; the server returns the items it still leased to it."""
        self._stack.close()
        self._ws = None

    @property
    def annotator(self) -> str:
        """Who the server says this is (with auth on, the token's name)."""
        return str(self._hello_message()["annotator"])

    @property
    def project(self) -> dict[str, Any]:
        """The project, as the ``hello`` described it."""
        project: dict[str, Any] = self._hello_message()["project"]
        return project

    @property
    def held(self) -> Mapping[str, Item]:
        """Items leased to this socket, by id: handed out, or waiting to be."""
        return MappingProxyType(self._state.held)

    @property
    def idle(self) -> bool:
        """Whether the server last said it has nothing for this socket."""
        return self._state.idle

    def next_item(self, timeout: float | None = None) -> Item:
        """The next item, waiting for one if need be (`TimeoutError` after ``timeout`` s)."""
        item = self._next(until_idle=False, timeout=timeout)
        assert item is not None
        return item

    def items(self, *, until_idle: bool = False) -> Iterator[Item]:
        """Every item as it comes; with ``until_idle``, stop when the server has none left."""
        while (item := self._next(until_idle)) is not None:
            yield item

    def label(
        self,
        item_id: str,
        label: Answer,
        label_id: str | None = None,
        *,
        comment: str | None = None,
    ) -> dict[str, Any]:
        """Label an item with a label, a label set (a list, tuple or set of labels) or spans
        (a list of ``{"start", "end", "label"}``), and an optional ``comment``, as
        `AsyncAnnotateSession.label` does; returns the ack. Retried like it."""
        label_id = label_id or new_label_id()
        message = label_message(item_id, label, label_id, self._state.task, comment)
        return self._settle(item_id, label_id, message)

    def correct(
        self, label_id: str, label: Answer, *, comment: str | None = None
    ) -> dict[str, Any]:
        """Replace an earlier label of this annotator's (by its ``label_id``, as `recent`
        gives them too) with a label, a label set or spans; returns the ack."""
        new_id = new_label_id()
        message = correct_message(label_id, label, new_id, self._state.task, comment)
        return self._settle("", new_id, message)

    def skip(self, item_id: str, reason: str | None = None) -> None:
        """Give an item back, with an optional ``reason``; a refusal is raised by the next
        `next_item`."""
        self._state.forget(item_id)
        self._write(skip_message(item_id, reason))

    def recent(self, limit: int = 20) -> list[dict[str, Any]]:
        """This annotator's latest answers, newest first; see `AsyncAnnotateSession.recent`."""
        self._write(recent_message(limit))
        return self._until(self._state.recent_ready)

    @property
    def labelled(self) -> int:
        """How many labels this annotator had given in the project when the session opened."""
        return int(self._hello_message().get("labelled", 0))

    def _settle(self, item_id: str, label_id: str, message: str) -> dict[str, Any]:
        attempt = 0
        while True:
            self._write(message, label_id)
            try:
                return self._until(lambda: self._state.take_reply(item_id, label_id))
            except StreamloopError as error:
                error.label_id = label_id
                delay = retry_delay(error, attempt, self.retries, self.backoff)
                if delay is None:
                    raise
            attempt += 1
            time.sleep(delay)

    def _next(self, until_idle: bool, timeout: float | None = None) -> Item | None:
        ready = self._state.item_ready(until_idle)
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            remaining = None if deadline is None else deadline - time.monotonic()
            result = self._until(ready, remaining)
            if isinstance(result, Item):
                return result
            if result is Signal.IDLE:
                return None
            self._write(resume_message())  # the sign of life a stalled server waits for

    def _hello_message(self) -> dict[str, Any]:
        if self._state.hello is None:
            raise RuntimeError("the session is not open: use it in 'with'")
        return self._state.hello

    def _until(self, ready: Callable[[], T | None], timeout: float | None = None) -> T:
        """Read messages until ``ready()`` has something, for at most ``timeout`` seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while (value := ready()) is None:
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                raw = self._socket().recv(timeout=remaining)
            except ConnectionClosed as exc:
                raise closed_error(exc) from exc
            self._state.feed(raw)
        return value

    def _write(self, message: str, label_id: str | None = None) -> None:
        try:
            self._socket().send(message)
        except ConnectionClosed as exc:
            raise closed_error(exc, label_id) from exc

    def _socket(self) -> ClientConnection:
        if self._ws is None:
            raise RuntimeError("the session is not open: use it in 'with'")
        return self._ws
