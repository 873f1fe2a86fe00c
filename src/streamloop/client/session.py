"""What an annotate socket has said so far, kept without doing any I/O.

`SessionState` takes the server's messages one at a time (`SessionState.feed`) and keeps what a
scripted annotator needs: the items leased to it, in arrival order, including those that came
while it waited for an ack; the acks and errors by ``label_id``; whether the server is idle or
waits for a sign of life after an expired lease. `AnnotateSession` and `AsyncAnnotateSession`
wrap it with a socket each.
"""

from __future__ import annotations

import enum
import uuid
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from streamloop.client.calls import Answer, answer_fields
from streamloop.client.errors import StreamloopError, error_from_frame

__all__ = [
    "Item",
    "SessionState",
    "Signal",
    "correct_message",
    "label_message",
    "new_label_id",
    "recent_message",
    "resume_message",
    "skip_message",
]


class Signal(enum.Enum):
    """What waiting for an item may end with, other than an item."""

    #: The server has nothing for this session.
    IDLE = "idle"
    #: A lease expired and the server waits for a sign of life before sending more.
    RESUME = "resume"


#: Errors after which the item is no longer this session's to label.
_LOST = frozenset({"already_labelled", "lease_lost", "unknown_item"})


@dataclass(frozen=True, slots=True)
class Item:
    """An item leased to this annotator: label it, skip it, or let its lease run out.

    ``prediction`` is the model's label in a classify project; in a multilabel project it is
    None and ``labels`` is the model's label set (None before the model has learned any); in
    a spans project ``spans`` is the model's spans (``{"start", "end", "label", "score"}``,
    None before it has learned any) and ``tokens`` the ``[start, end]`` of each token of the
    text, the boundaries a span is grown to. ``message`` is the whole ``{"type": "item"}``
    message, with any field a newer server adds.
    """

    id: str
    data: dict[str, Any]
    prediction: str | None
    probabilities: dict[str, float]
    uncertainty: float
    model_version: int
    lease_expires_at: str
    message: dict[str, Any] = field(repr=False, compare=False)
    labels: list[str] | None = field(default=None, kw_only=True)
    spans: list[dict[str, Any]] | None = field(default=None, kw_only=True)
    tokens: list[list[int]] | None = field(default=None, kw_only=True, repr=False)

    @classmethod
    def from_message(cls, message: Mapping[str, Any]) -> Item:
        """Read an ``item`` message.

        >>> item = Item.from_message({"type": "item", "lease_expires_at": "2030-01-01T00:00:00Z",
        ...     "item": {"id": "e1", "data": {"text": "hi"}, "prediction": None,
        ...              "probabilities": {"a": 0.5, "b": 0.5}, "uncertainty": 1.0,
        ...              "model_version": 0}})
        >>> item.id, item.data, item.prediction
        ('e1', {'text': 'hi'}, None)
        >>> Item.from_message({"type": "item", "item": {"id": "e2", "data": {},
        ...     "labels": ["bug", "ui"]}}).labels
        ['bug', 'ui']
        >>> Item.from_message({"type": "item", "item": {"id": "e3", "data": {"text": "Hi Ada"},
        ...     "spans": [{"start": 3, "end": 6, "label": "PER", "score": 0.9}],
        ...     "tokens": [[0, 2], [3, 6]]}}).spans
        [{'start': 3, 'end': 6, 'label': 'PER', 'score': 0.9}]
        """
        body = message["item"]
        return cls(
            id=body["id"],
            data=body["data"],
            prediction=body.get("prediction"),
            labels=body.get("labels"),
            spans=body.get("spans"),
            tokens=body.get("tokens"),
            probabilities=body.get("probabilities", {}),
            uncertainty=body.get("uncertainty", 1.0),
            model_version=body.get("model_version", 0),
            lease_expires_at=message.get("lease_expires_at", ""),
            message=dict(message),
        )


def new_label_id() -> str:
    """A fresh ``label_id``: the key that makes sending a label again safe."""
    return str(uuid.uuid4())


def _dumps(message: dict[str, Any]) -> str:
    return orjson.dumps(message).decode()


def label_message(
    item_id: str,
    label: Answer,
    label_id: str,
    task: str | None = None,
    comment: str | None = None,
) -> str:
    """A ``label`` message: one label, a label set or spans, an empty one sent in the field of
    ``task``, the project's (`streamloop.client.calls.answer_fields`); a ``comment`` if given.

    >>> label_message("e1", "bug", "l-1")
    '{"type":"label","item_id":"e1","label":"bug","label_id":"l-1"}'
    >>> label_message("e1", ["bug", "ui"], "l-2")
    '{"type":"label","item_id":"e1","labels":["bug","ui"],"label_id":"l-2"}'
    >>> label_message("e1", [{"start": 3, "end": 6, "label": "PER"}], "l-3")
    '{"type":"label","item_id":"e1","spans":[{"start":3,"end":6,"label":"PER"}],"label_id":"l-3"}'
    >>> label_message("e1", "bug", "l-4", comment="see the logs")
    '{"type":"label","item_id":"e1","label":"bug","label_id":"l-4","comment":"see the logs"}'
    """
    answer = answer_fields(label, task)
    message = {"type": "label", "item_id": item_id, **answer, "label_id": label_id}
    return _dumps(_commented(message, comment))


def correct_message(
    corrects: str,
    label: Answer,
    label_id: str,
    task: str | None = None,
    comment: str | None = None,
) -> str:
    """A ``correct`` message, replacing the answer ``corrects`` names with ``label``.

    >>> correct_message("l-1", set(), "l-3")
    '{"type":"correct","corrects":"l-1","labels":[],"label_id":"l-3"}'
    >>> correct_message("l-1", [], "l-4", task="spans")
    '{"type":"correct","corrects":"l-1","spans":[],"label_id":"l-4"}'
    """
    answer = answer_fields(label, task)
    message = {"type": "correct", "corrects": corrects, **answer, "label_id": label_id}
    return _dumps(_commented(message, comment))


def _commented(message: dict[str, Any], comment: str | None) -> dict[str, Any]:
    return message if comment is None else {**message, "comment": comment}


def skip_message(item_id: str, reason: str | None = None) -> str:
    """A ``skip`` message, with the annotator's reason if given.

    >>> skip_message("e1", "unclear")
    '{"type":"skip","item_id":"e1","reason":"unclear"}'
    """
    message = {"type": "skip", "item_id": item_id}
    return _dumps(message if reason is None else {**message, "reason": reason})


def recent_message(limit: int = 20) -> str:
    """Ask for this annotator's latest ``limit`` answers (1 to 100).

    >>> recent_message(5)
    '{"type":"recent","limit":5}'
    """
    if not 1 <= limit <= 100:
        raise ValueError("limit must be from 1 to 100")
    return _dumps({"type": "recent", "limit": limit})


def resume_message() -> str:
    return _dumps({"type": "resume"})


class SessionState:
    """The state of one annotate connection, fed the server's messages in order.

    >>> state = SessionState()
    >>> state.feed('{"type": "hello", "annotator": "bot", "project": {"name": "t"}}')
    >>> state.feed('{"type": "item", "item": {"id": "e1", "data": {}}}')
    >>> state.feed('{"type": "item", "item": {"id": "e2", "data": {}}}')
    >>> state.take_item().id, sorted(state.held)
    ('e1', ['e1', 'e2'])
    >>> state.feed('{"type": "lease_revoked", "item_id": "e2", "reason": "labelled"}')
    >>> state.take_item() is None, sorted(state.held)
    (True, ['e1'])
    >>> state.feed('{"type": "ack", "item_id": "e1", "label_id": "l-1", "duplicate": false}')
    >>> state.take_reply("e1", "l-1")["type"], state.held
    ('ack', {})
    """

    def __init__(self) -> None:
        #: The ``hello`` message (project, annotator, prefetch), once it came.
        self.hello: dict[str, Any] | None = None
        #: Items leased to this connection by id: handed out or still waiting in the buffer.
        self.held: dict[str, Item] = {}
        #: The server said it has nothing for this connection (reset by the next item).
        self.idle = False
        #: A lease expired: the server sends nothing more until this connection speaks.
        self.stalled = False
        #: How many leases ended without a label from here (expired, or revoked by production).
        self.lost = 0
        self._items: deque[Item] = deque()
        self._replies: dict[str, dict[str, Any]] = {}
        self._errors: deque[StreamloopError] = deque()
        self._recent: deque[list[dict[str, Any]]] = deque()

    def feed(self, raw: str | bytes) -> None:
        """Take in one message from the server."""
        message: Any = orjson.loads(raw)
        if not isinstance(message, dict):
            return
        kind = message.get("type")
        if kind == "item":
            item = Item.from_message(message)
            self._items.append(item)
            self.held[item.id] = item
            self.idle = False
        elif kind == "ack":
            self._replies[str(message.get("label_id"))] = message
            self._drop(str(message.get("item_id")))
        elif kind == "error":
            if isinstance(message.get("label_id"), str):
                self._replies[message["label_id"]] = message
            else:
                self._errors.append(error_from_frame(message))
        elif kind == "idle":
            self.idle = True
        elif kind in ("lease_expired", "lease_revoked"):
            item_id = str(message.get("item_id"))
            if item_id in self.held:
                self.lost += 1
            self._drop(item_id)
            self.stalled = self.stalled or kind == "lease_expired"
        elif kind == "hello":
            self.hello = message
        elif kind == "project" and self.hello is not None:
            # What annotators are shown changed (PATCH): the project as it is now.
            self.hello = {**self.hello, "project": message.get("project")}
        elif kind == "recent":
            labels = message.get("labels")
            self._recent.append(labels if isinstance(labels, list) else [])
        # Other types are from a newer server: nothing here depends on them.

    @property
    def task(self) -> str | None:
        """The project's task, as the ``hello`` said (None before it came)."""
        if self.hello is None:
            return None
        project = self.hello.get("project")
        task = project.get("task", "classify") if isinstance(project, dict) else None
        return task if isinstance(task, str) else None

    def take_item(self) -> Item | None:
        """The oldest item not handed out yet, if one came."""
        return self._items.popleft() if self._items else None

    def recent_ready(self) -> list[dict[str, Any]] | None:
        """The answers of the oldest ``recent`` reply not taken yet (None: none came); an
        error that named no label (a refused ``recent``) is raised instead."""
        error = self.take_error()
        if error is not None:
            raise error
        return self._recent.popleft() if self._recent else None

    def take_error(self) -> StreamloopError | None:
        """An error that named no label (a refused skip, say), oldest first."""
        return self._errors.popleft() if self._errors else None

    def take_reply(self, item_id: str, label_id: str) -> dict[str, Any] | None:
        """The ack for ``label_id``, if it came; its error is raised instead.

        An error that means the item is gone (labelled by someone else, leased to another)
        drops it from `held` too.
        """
        reply = self._replies.pop(label_id, None)
        if reply is None or reply.get("type") == "ack":
            return reply
        error = error_from_frame(reply)
        if error.code in _LOST:
            self._drop(item_id)
        raise error

    def hello_ready(self) -> dict[str, Any] | None:
        """The ``hello`` once it came; the refusal the server sent instead is raised."""
        error = self.take_error()
        if error is not None:
            raise error
        return self.hello

    def item_ready(self, until_idle: bool) -> Callable[[], Item | Signal | None]:
        """A check for the next item (None: read on), for a session's reading loop.

        An error that named no label is raised; a session seeing `Signal.RESUME` sends
        ``resume`` and reads on, and `Signal.IDLE` (only ``until_idle``) ends its wait.
        """

        def ready() -> Item | Signal | None:
            error = self.take_error()
            if error is not None:
                raise error
            item = self.take_item()
            if item is not None:
                return item
            if self.stalled:
                self.stalled = False
                return Signal.RESUME
            return Signal.IDLE if until_idle and self.idle else None

        return ready

    def forget(self, item_id: str) -> None:
        """The item is given back (skipped): no longer this connection's."""
        self._drop(item_id)

    def _drop(self, item_id: str) -> None:
        if self.held.pop(item_id, None) is not None:
            self._items = deque(item for item in self._items if item.id != item_id)
