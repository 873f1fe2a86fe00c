"""Taking data in: ``streamloop import``.

An import goes through a running service's API, as any producer's data would: its events are
scored, stored and routed by the live loop, and its labels are learned in the file's order as
production ground truth. A row's answer is in its project's task's field: ``label`` (one
label), ``labels`` (a multilabel project's set: a list, possibly empty) or ``spans`` (a spans
project's: a list of ``{"start", "end", "label"}``, character offsets into ``data["text"]``,
possibly empty); a row without one waits for annotators. Rows may be those of an export
(``event_id``), plain events (``id`` and ``data``), or examples as Prodigy and spaCy users
keep them, ``{"text": ..., "spans": [...]}``: a row without ``data`` is the item
``{"text": text}``, and without an id it gets one from its text (`text_id`), so that the same
text imports as the same event. Spans keep only their ``start``, ``end`` and ``label``
(Prodigy's ``token_start``, ``token_end`` and ``text``, a prediction's ``score``, are left
out); a Prodigy example answered ``reject`` or ``ignore`` is not imported. The whole file is
checked against the project before anything is sent (`checked_rows`).
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from streamloop.client import Client
from streamloop.errors import InvalidInput
from streamloop.online import SpanModel, span_set, task_of
from streamloop.online.tasks import AnswerError

__all__ = ["ImportRow", "checked_rows", "import_rows", "read_rows", "text_id"]

#: What a span keeps on import: other keys (Prodigy's ``token_start``, ``token_end`` and
#: ``text``, a prediction's ``score``) are left out.
_SPAN_KEYS = ("start", "end", "label")


@dataclass(frozen=True, slots=True)
class ImportRow:
    event_id: str
    data: dict[str, Any]
    #: The row's label (a classify project's); None when it has none, or another answer.
    label: str | None
    #: A gold item (an export's ``source: gold`` row): stored as gold, its answer the known one.
    gold: bool = False
    #: The row's label set (a multilabel project's, possibly empty), in place of ``label``.
    labels: tuple[str, ...] | None = None
    #: Its line in the file (1 is the first), for errors.
    line: int = 0
    #: The row's spans (a spans project's, possibly empty), each of ``start``, ``end`` and
    #: ``label`` alone, in place of ``label``.
    spans: tuple[dict[str, Any], ...] | None = None

    @property
    def field(self) -> str | None:
        """The field the row's answer is in (``label``, ``labels`` or ``spans``), or None
        when it has none."""
        if self.spans is not None:
            return "spans"
        if self.labels is not None:
            return "labels"
        return None if self.label is None else "label"

    @property
    def answer(self) -> str | tuple[str, ...] | tuple[dict[str, Any], ...] | None:
        """What the row answers: its label, its label set, its spans, or None (unlabelled)."""
        if self.spans is not None:
            return self.spans
        return self.label if self.labels is None else self.labels


def text_id(text: str) -> str:
    """The event id of a row that has only a text: ``text-`` and the first 16 hex digits of
    the text's SHA-256, so that the same text is the same event, whichever file it is in.

    Prodigy's ``_input_hash`` is not used: it is Prodigy's own 32-bit hash, and a file without
    it would give the same text another id.

    >>> text_id("Ada moved to Paris")
    'text-e033c457acc3ae34'
    """
    return "text-" + hashlib.sha256(text.encode()).hexdigest()[:16]


def read_rows(lines: Iterable[bytes]) -> Iterator[ImportRow]:
    """Rows of a JSON lines file, blank lines skipped: ``{"id" or "event_id", "data",
    "label"? or "labels"? or "spans"?}``, or ``{"text", "spans"?}`` (see the module's
    docstring). ``labels`` is a multilabel project's label set, a list of labels (possibly
    empty); ``spans`` a list of ``{"start", "end", "label"}`` objects (possibly empty). A
    classify or multilabel export has both ``label`` and ``labels``, one of them null.

    >>> [r.label for r in read_rows([b'{"id": "a", "data": {"text": "x"}, "label": "bug"}'])]
    ['bug']
    >>> [r.answer for r in read_rows([b'{"id": "a", "data": {}, "label": null, "labels": ["ui"]}'])]
    [('ui',)]
    >>> [(r.event_id, r.data, r.answer) for r in read_rows([b'{"text": "Hi Ada", "spans": '
    ...     b'[{"start": 3, "end": 6, "label": "PER", "token_start": 1, "token_end": 1}]}'])]
    [('text-dc96a6c73e16bba9', {'text': 'Hi Ada'}, ({'start': 3, 'end': 6, 'label': 'PER'},))]
    """
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"line {number}"
        try:
            row = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise InvalidInput(f"{where}: not a row of an import ({exc})") from exc
        if not isinstance(row, dict):
            raise InvalidInput(f"{where}: not a row of an import: a {type(row).__name__}")
        source = row.get("source")
        if source == "gold_answer":
            continue  # an annotator's answer: their work in the service, not data to import
        if row.get("learned") is False and source != "gold":
            continue  # recorded, not learned (an overlapped item's): its learned row imports
        if row.get("answer") in ("reject", "ignore"):
            continue  # a Prodigy example its annotator rejected or passed over
        event_id, data = _item(row, where)
        label, labels, spans = row.get("label"), row.get("labels"), _spans(row, where)
        if label is not None and not isinstance(label, str):
            raise InvalidInput(f"{where}: label must be a string")
        if labels is not None and (
            not isinstance(labels, list) or not all(isinstance(one, str) for one in labels)
        ):
            raise InvalidInput(f"{where}: labels must be a list of strings")
        given = [
            name
            for name, value in (("label", label), ("labels", labels), ("spans", spans))
            if value is not None
        ]
        if len(given) > 1:
            raise InvalidInput(
                f"{where}: a row has a label, labels (a label set) or spans, not both "
                f"{given[0]} and {given[1]}"
            )
        if source == "gold" and not given:
            raise InvalidInput(f"{where}: a gold item needs its answer: label, labels or spans")
        yield ImportRow(
            event_id,
            data,
            label,
            gold=source == "gold",
            labels=None if labels is None else tuple(labels),
            line=number,
            spans=spans,
        )


def _item(row: dict[str, Any], where: str) -> tuple[str, dict[str, Any]]:
    """A row's event id and data; a row with a text and no data is the item of that text."""
    text, data = row.get("text"), row.get("data")
    event_id = row.get("id", row.get("event_id"))
    if data is None and isinstance(text, str):  # a Prodigy or spaCy example
        data = {"text": text}
        if event_id is None:
            event_id = text_id(text)
    if not isinstance(event_id, str) or not isinstance(data, dict):
        raise InvalidInput(f"{where}: needs a string id and a data object (or a text alone)")
    return event_id, data


def _spans(row: dict[str, Any], where: str) -> tuple[dict[str, Any], ...] | None:
    """A row's spans, each of its start, end and label alone; None when it has none."""
    spans = row.get("spans")
    if spans is None:
        return None
    if not isinstance(spans, list) or not all(isinstance(span, dict) for span in spans):
        raise InvalidInput(f'{where}: spans must be a list of {{"start", "end", "label"}} objects')
    return tuple({key: span[key] for key in _SPAN_KEYS if key in span} for span in spans)


def checked_rows(rows: Iterable[ImportRow], project: Mapping[str, Any]) -> list[ImportRow]:
    """Every row, once each is checked against ``project`` (as the API gives it): its answer
    in the field its task wants (``label``, ``labels`` or ``spans``), of labels it knows, none
    repeated, spans that do not overlap; in a spans project, an item with a text that its
    spans fit (`SpanModel.aligned`). A bad row is refused naming its line before anything is
    sent, so a failed import stores nothing.

    >>> project = {"task": "multilabel", "labels": ["bug", "ui"]}
    >>> rows = [ImportRow("a", {}, "bug", line=3)]
    >>> try:
    ...     checked_rows(rows, project)
    ... except InvalidInput as error:
    ...     print(error.message[:39])
    line 3: this is a multilabel project: a
    >>> rows = [ImportRow("b", {"text": "Hi Ada"}, None, spans=({"start": 3, "end": 9,
    ...     "label": "PER"},), line=4)]
    >>> try:
    ...     checked_rows(rows, {"task": "spans", "labels": ["PER"]})
    ... except InvalidInput as error:
    ...     print(error.message)
    line 4: spans: span [3, 9) PER is outside the text, whose offsets run 0 to 6
    """
    task = task_of(project.get("task", "classify"))
    labels = list(project["labels"])
    # Spans are checked against their text as the service's model checks them; it reads only
    # its labels for that.
    tagger = SpanModel(labels=labels) if task.field == "spans" else None
    found = []
    for row in rows:
        where = f"line {row.line}"
        stored = None
        if row.field is not None:
            if row.field != task.field:
                raise InvalidInput(
                    f"{where}: this is a {task.name} project: a row's answer is "
                    f"`{task.field}`, {task.sent_as}, not `{row.field}`"
                )
            try:
                stored = task.stored(row.answer, labels)
            except AnswerError as error:
                raise InvalidInput(f"{where}: {task.field}{error.where}: {error.why}") from None
        if tagger is not None:
            # An unlabelled item's text too: the service refuses an event of a spans project
            # without one, and the import would stop half done.
            try:
                tagger.aligned(row.data, () if stored is None else span_set(stored))
            except ValueError as exc:
                raise InvalidInput(f"{where}: {'' if stored is None else 'spans: '}{exc}") from None
        found.append(row)
    return found


def import_rows(
    client: Client,
    project: str,
    rows: Iterable[ImportRow],
    *,
    batch: int = 500,
    progress: Callable[[int, int], None] = lambda rows, labels: None,
) -> tuple[int, int]:
    """Send ``rows`` to ``project`` in batches: each batch's events, then its labels, so labels
    are learned in the file's order. Returns (rows, labels learned now); ``progress`` hears of
    each batch.

    Each answer is sent in the row's own field (``label``, ``labels`` or ``spans``). Sending
    the same file again is harmless: events and labels are idempotent by id, and a label sent
    before (a duplicate) or whose item was labelled since is not counted as learned.
    """
    sent = labelled = 0
    iterator = iter(rows)
    while chunk := list(itertools.islice(iterator, batch)):
        gold = [
            {"id": row.event_id, "data": row.data, row.field: row.answer}
            for row in chunk
            if row.gold and row.field is not None
        ]
        if gold:
            client.add_gold(project, gold)
        events = [row for row in chunk if not row.gold]
        if events:
            client.send_events(project, [(row.event_id, row.data) for row in events])
        labels = [
            {"event_id": row.event_id, row.field: row.answer}
            for row in events
            if row.field is not None
        ]
        if labels:
            for result in client.send_labels(project, labels):
                error = result.get("error")
                if error and error["code"] != "already_labelled":  # labelled since: kept
                    raise InvalidInput(f"{result['event_id']}: {error['message']}")
                labelled += not error and not result.get("duplicate")
        sent += len(chunk)
        progress(sent, labelled)
    return sent, labelled
