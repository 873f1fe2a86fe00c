"""`AsyncClient`: the HTTP API and scripted annotators for asyncio code (httpx, websockets)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from types import MappingProxyType, TracebackType
from typing import Any, Self, TypeVar

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, WebSocketException

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

__all__ = ["AsyncAnnotateSession", "AsyncClient"]

T = TypeVar("T")


class AsyncClient:
    """A streamloop service, for asyncio code.

    Parameters
    ----------
    base_url
        Where the service listens, e.g. ``"http://127.0.0.1:8000"``.
    token
        An API token (``streamloop token create``), sent as ``Authorization: Bearer``; None
        while the service runs without auth.
    timeout
        Seconds to wait for an HTTP answer or for a socket to open.
    retries
        How many times a request refused with 429 or 503 (or a label refused for a passing
        reason) is sent again before its `StreamloopError` is raised.
    backoff
        First wait between retries when the service names none (``Retry-After``); it doubles.
    batch_size, max_body_bytes
        The service's limits per request: `send_events` and `send_labels` split to fit.

    An answer (`send_labels`, `add_gold`, `AsyncAnnotateSession.label`) is sent in the field
    its shape says: a str as ``label``, a list of str as ``labels``, a list of spans as
    ``spans``. An empty list is no label of a set, or no span: it goes in the field of the
    project's task, which the client reads from the project (once, and only for an empty
    answer; the projects it created or read are known already), and a session from its
    ``hello``.

    Examples
    --------
    ::

        async with AsyncClient("http://127.0.0.1:8000", token="sl_...") as client:
            await client.create_project("tickets", ["billing", "bug", "other"])
            results = await client.send_events(
                "tickets", [("evt-1", {"text": "I was charged twice"})]
            )
            print(results[0]["prediction"], results[0]["uncertainty"])
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
        self._http = httpx.AsyncClient(base_url=base_url, headers=self._headers, timeout=timeout)
        #: Each project's task, by name, from the project records read: it never changes.
        self._tasks: dict[str, str] = {}

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the HTTP connections (annotate sessions close on their own)."""
        await self._http.aclose()

    async def create_project(
        self, name: str, labels: Iterable[str], **options: Any
    ) -> dict[str, Any]:
        """Create a project; ``options`` are the contract's optional fields. Needs ``admin``.

        ::

            await client.create_project("tickets", ["billing", "bug"], input="text", seed=7)
        """
        return self._known(
            json_object(await self._send(create_project_call(name, labels, options)))
        )

    async def models(self) -> list[dict[str, Any]]:
        """The models a project may name (``model``): the presets, then the installed
        plugins, each with ``usable`` and, when its contract check failed, ``refused``
        (``{"check", "why"}``)."""
        return json_list(await self._send(MODELS_CALL), "models")

    async def projects(self) -> list[dict[str, Any]]:
        """Every project, as stored."""
        return [self._known(p) for p in json_list(await self._send(get_call()), "projects")]

    async def project(self, name: str) -> dict[str, Any]:
        """One project; `StreamloopError` ``unknown_project`` (404) if there is none."""
        return self._known(json_object(await self._send(get_call(name))))

    async def send_events(self, project: str, events: Iterable[Event]) -> list[dict[str, Any]]:
        """Score production events and route them to annotators; one result per event, in order.

        ``events`` are ``{"id", "data"}`` dicts or ``(id, data)`` pairs, as many as you like:
        they go in requests of at most ``batch_size``. An id sent before is not stored again
        (its result says ``"duplicate": true``), so sending a batch again after an error is safe.

        ::

            results = await client.send_events("tickets", [("evt-1", {"text": "refund"})])
        """
        results: list[dict[str, Any]] = []
        for call in event_calls(
            project, events, batch_size=self.batch_size, max_body_bytes=self.max_body_bytes
        ):
            results.extend(json_list(await self._send(call), "results"))
        return results

    async def predict(self, project: str, data: Mapping[str, Any]) -> dict[str, Any]:
        """Score one item without storing it: prediction, probabilities, uncertainty, version."""
        return json_object(await self._send(predict_call(project, data)))

    async def add_gold(self, project: str, items: Iterable[Gold]) -> dict[str, int]:
        """Store gold items (known answers), mixed into annotators' items unmarked; their
        answers score the annotators and are never learned. Returns the counts of items
        ``stored`` and ``duplicates`` (ids stored before). An item is ``(id, data, answer)``
        or a dict with keys ``id``, ``data`` and ``label`` (or ``labels``, or ``spans``); the
        answer is a label, a label set or spans, as for `send_labels`. Needs a supervisor or
        admin token.

        ::

            await client.add_gold("tickets", [("gold-1", {"text": "refund me"}, "billing")])
            await client.add_gold("topics", [("gold-2", {"text": "pay crash"}, ["bug", "billing"])])
            ada = [{"start": 0, "end": 3, "label": "PER"}]
            await client.add_gold("names", [("gold-3", {"text": "Ada moved to Paris"}, ada)])
        """
        items = list(items)
        task = await self._task(project) if gold_needs_task(items) else None
        counts = {"stored": 0, "duplicates": 0}
        for call in gold_calls(
            project,
            items,
            task=task,
            batch_size=self.batch_size,
            max_body_bytes=self.max_body_bytes,
        ):
            body = json_object(await self._send(call))
            for key in counts:
                counts[key] += int(body[key])
        return counts

    async def quarantine(self, project: str, annotator: str) -> dict[str, Any]:
        """Take ``annotator``'s labels out of the model: it is rebuilt without them and served
        as a new version; their items go back to the queue and their labels are refused.
        Answers ``{"annotator", "state", "model_version"}`` once the rebuilt model serves;
        needs a supervisor or admin token.

        ::

            await client.quarantine("tickets", "alice")
        """
        return json_object(await self._send(annotator_call(project, annotator, "quarantine")))

    async def release(self, project: str, annotator: str) -> dict[str, Any]:
        """Count ``annotator``'s labels again (the model is rebuilt with them); see
        `quarantine`."""
        return json_object(await self._send(annotator_call(project, annotator, "release")))

    async def promote(self, project: str, model: str) -> dict[str, Any]:
        """Serve ``project``'s production traffic with its challenger ``model`` from the next
        request (the model serving becomes a challenger). Answers ``{"model",
        "model_version", "challengers"}`` once it serves; needs a supervisor or admin token.

        ::

            await client.promote("tickets", "naive_bayes")
        """
        return json_object(await self._send(promote_call(project, model)))

    async def send_labels(self, project: str, labels: Iterable[Label]) -> list[dict[str, Any]]:
        """Teach the model ground truth from production; one result per label, in order.

        A label is ``(event_id, answer)``, ``(event_id, answer, label_id)`` or a dict with keys
        ``event_id``, ``label`` (or ``labels``, or ``spans``) and ``label_id`` (optional: by
        default ``event:<event_id>``, so a repeat is learned once). The answer is a label
        (str); in a multilabel project a label set: a list, tuple or set of labels, sent as
        ``labels``; in a spans project the item's spans: a list of ``{"start", "end",
        "label"}`` dicts (other keys, such as a prediction's ``score``, are left out) or
        objects with those attributes, character offsets into ``data["text"]``, sent as
        ``spans``. An empty list goes in the project's task's field (see the class). A label
        refused alone (``already_labelled``, spans outside the text) has an ``"error"`` in its
        result.

        ::

            await client.send_labels("tickets", [("evt-1", "billing")])
            await client.send_labels("topics", [("evt-2", ["bug", "ui"]), ("evt-3", [])])
            await client.send_labels("names", [("evt-4", [{"start": 0, "end": 3, "label": "PER"}])])
        """
        labels = list(labels)
        task = await self._task(project) if labels_need_task(labels) else None
        results: list[dict[str, Any]] = []
        for call in label_calls(
            project,
            labels,
            task=task,
            batch_size=self.batch_size,
            max_body_bytes=self.max_body_bytes,
        ):
            results.extend(json_list(await self._send(call), "results"))
        return results

    async def flag_for_review(self, project: str, event_id: str) -> dict[str, Any]:
        """Send a labelled item to review, where a reviewer settles what the model learns from
        it; ``{"item_id", "status": "review", "reason": "flagged"}``. Needs a supervisor or
        admin token; `StreamloopError` ``not_labelled`` (409) for an item not labelled yet."""
        return json_object(await self._send(review_call(project, event_id)))

    async def metrics(self, project: str) -> dict[str, Any]:
        """The project's figures: model version, prequential accuracy, queue depth, ..."""
        return json_object(await self._send(get_call(project, "metrics")))

    async def update_project(self, name: str, **changes: Any) -> dict[str, Any]:
        """Change what a project's annotators are shown: ``guidelines``,
        ``label_descriptions``, ``hide_suggestion``, ``target`` (the other fields cannot
        change); returns the project. Needs ``admin``. Annotators connected are sent it."""
        return self._known(json_object(await self._send(patch_project_call(name, changes))))

    async def skips(self, project: str, limit: int = 100) -> list[dict[str, Any]]:
        """The latest items annotators skipped (``limit``, 1 to 1000), newest first, each
        ``{"event_id", "annotator", "reason", "skipped_at"}``."""
        return json_list(await self._send(skips_call(project, limit)), "skips")

    async def history(self, project: str) -> dict[str, Any]:
        """The accuracy curve so far: ``{"model_version", "accuracy", "unbiased"}``."""
        return json_object(await self._send(get_call(project, "history")))

    def annotate(
        self, project: str, annotator: str | None = None, prefetch: int = 1
    ) -> AsyncAnnotateSession:
        """An annotate socket for a scripted annotator; use it with ``async with``.

        ``annotator`` names it while auth is off (with auth on, the token's name is used);
        ``prefetch`` is how many items the server keeps leased to it.

        ::

            async with client.annotate("tickets", annotator="bot", prefetch=2) as session:
                async for item in session.items():
                    await session.label(item.id, guess(item.data))
        """
        return AsyncAnnotateSession(
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

    async def _task(self, project: str) -> str:
        """The project's task: as read before, or read now."""
        if project not in self._tasks:
            await self.project(project)
        return self._tasks[project]

    async def _send(self, call: Call) -> Any:
        attempt = 0
        while True:
            try:
                response = await self._http.request(
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
            await asyncio.sleep(delay)


class AsyncAnnotateSession:
    """One annotate socket: items in, labels out, acks back. Made by `AsyncClient.annotate`.

    Items are handed out in the order they came, including those that arrived while a label
    waited for its ack, so none is lost with ``prefetch`` above 1. `held` is every item leased
    to this socket; one whose lease expires or is revoked (production labelled it) leaves it.
    Closing the socket gives back every item still held.

    Examples
    --------
    ::

        async with client.annotate("tickets", prefetch=2) as session:
            item = await session.next_item()
            ack = await session.label(item.id, "bug")
            print(ack["model_version"])
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
        self._receiving = asyncio.Lock()
        self._stack = contextlib.AsyncExitStack()
        self._ws: ClientConnection | None = None

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    async def open(self) -> None:
        """Connect and read the ``hello``; a refusal (auth, unknown project) is raised."""
        try:
            self._ws = await self._stack.enter_async_context(
                connect(
                    self.url,
                    additional_headers=self._headers,
                    open_timeout=self._open_timeout,
                    # Frames are small JSON: compressing them costs more than it saves.
                    compression=None,
                    max_size=None,  # items are as large as the service accepted them
                )
            )
        except (OSError, TimeoutError, WebSocketException) as exc:
            raise StreamloopError(
                "connection_failed", str(exc) or repr(exc), retryable=True
            ) from exc
        try:
            async with asyncio.timeout(self._open_timeout):
                await self._until(self._state.hello_ready)
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        """Close the socket; the server returns the items it still leased to it."""
        await self._stack.aclose()
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

    async def next_item(self) -> Item:
        """The next item, waiting for one if need be (bound the wait with `asyncio.timeout`).

        An error the server sent that named no label (a refused skip) is raised here.
        """
        item = await self._next(until_idle=False)
        assert item is not None
        return item

    async def items(self, *, until_idle: bool = False) -> AsyncIterator[Item]:
        """Every item as it comes; with ``until_idle``, stop when the server has none left.

        ::

            async for item in session.items(until_idle=True):
                await session.label(item.id, "other")
        """
        while (item := await self._next(until_idle)) is not None:
            yield item

    async def label(
        self,
        item_id: str,
        label: Answer,
        label_id: str | None = None,
        *,
        comment: str | None = None,
    ) -> dict[str, Any]:
        """Label an item; returns the ack, once the label is stored and learned.

        ``label`` is one label (a str); in a multilabel project the item's label set (a
        list, tuple or set of labels; empty when none applies), sent as ``labels``; in a
        spans project its spans (a list of ``{"start", "end", "label"}`` dicts or objects,
        character offsets into ``item.data["text"]``; empty when there is none), sent as
        ``spans``. An empty list goes in the field of the project's task, as the ``hello``
        said it.
        A refusal for a passing reason (``rate_limited``, ``learner_busy``, ...) is retried
        with backoff under the same ``label_id`` (a new uuid4 if none is given), which the
        server learns once: a label already taken is acked with ``"duplicate": true``.
        ``comment`` (at most 2,000 characters) is stored with it, exported and shown to
        reviewers.
        """
        label_id = label_id or new_label_id()
        message = label_message(item_id, label, label_id, self._state.task, comment)
        return await self._settle(item_id, label_id, message)

    async def correct(
        self, label_id: str, label: Answer, *, comment: str | None = None
    ) -> dict[str, Any]:
        """Replace an earlier label of this annotator's (by its ``label_id``, as `recent`
        gives them too) with ``label``, a label, a label set or spans as for `label`, and an
        optional ``comment``; returns the ack."""
        new_id = new_label_id()
        message = correct_message(label_id, label, new_id, self._state.task, comment)
        return await self._settle("", new_id, message)

    async def skip(self, item_id: str, reason: str | None = None) -> None:
        """Give an item back; it is not sent to this annotator again. ``reason`` (at most 500
        characters) is stored and counted in the metrics' ``skip_reasons``.

        The server does not confirm a skip; if it refuses one (``not_leased``), the error is
        raised by the next `next_item`.
        """
        self._state.forget(item_id)
        await self._write(skip_message(item_id, reason))

    async def recent(self, limit: int = 20) -> list[dict[str, Any]]:
        """This annotator's latest ``limit`` answers (1 to 100) in the project, newest first,
        one per item: ``{"label_id", "item", "label" | "labels" | "spans", "comment",
        "labelled_at", "model_version"}``; `correct` takes each ``label_id``."""
        await self._write(recent_message(limit))
        return await self._until(self._state.recent_ready)

    @property
    def labelled(self) -> int:
        """How many labels this annotator had given in the project when the session opened."""
        return int(self._hello_message().get("labelled", 0))

    async def _settle(self, item_id: str, label_id: str, message: str) -> dict[str, Any]:
        attempt = 0
        while True:
            await self._write(message, label_id)
            try:
                return await self._until(lambda: self._state.take_reply(item_id, label_id))
            except StreamloopError as error:
                error.label_id = label_id
                delay = retry_delay(error, attempt, self.retries, self.backoff)
                if delay is None:
                    raise
            attempt += 1
            await asyncio.sleep(delay)

    async def _next(self, until_idle: bool) -> Item | None:
        ready = self._state.item_ready(until_idle)
        while True:
            result = await self._until(ready)
            if isinstance(result, Item):
                return result
            if result is Signal.IDLE:
                return None
            await self._write(resume_message())  # the sign of life a stalled server waits for

    def _hello_message(self) -> dict[str, Any]:
        if self._state.hello is None:
            raise RuntimeError("the session is not open: use it in 'async with'")
        return self._state.hello

    async def _until(self, ready: Callable[[], T | None]) -> T:
        """Read messages until ``ready()`` has something; one reader at a time."""
        while (value := ready()) is None:
            async with self._receiving:
                if (value := ready()) is not None:
                    return value
                ws = self._socket()
                try:
                    raw = await ws.recv()
                except ConnectionClosed as exc:
                    raise closed_error(exc) from exc
                self._state.feed(raw)
        return value

    async def _write(self, message: str, label_id: str | None = None) -> None:
        try:
            await self._socket().send(message)
        except ConnectionClosed as exc:
            raise closed_error(exc, label_id) from exc

    def _socket(self) -> ClientConnection:
        if self._ws is None:
            raise RuntimeError("the session is not open: use it in 'async with'")
        return self._ws
