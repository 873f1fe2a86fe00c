"""Taking a project's labels out (``streamloop export``) and data in (``streamloop import``).

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

An export has one row per label, in the order the model learned them, with the item, who gave
it, when, the model version that includes it, and what the model predicted just before
learning it. That prediction is not stored: the labels are replayed through a new model, which
the project's determinism makes the very model that learned them (restarts rely on the same).
A multilabel project's rows carry the set in ``labels`` (and ``label`` is null); its
``predicted`` is a set too. A spans project's rows have other columns (`export_fields`): the
item's ``text`` and its ``spans`` in place of ``label`` and ``labels``, so that each JSON line
is an example as Prodigy and spaCy users move them around, and ``predicted`` is spans too.
An overlapped item has a row per annotator; ``learned`` says which label the model learned
(the others were recorded only), and a reviewer's outcome is a row of ``source`` ``review``.
After the labels come the gold items (``source`` ``gold``, their answer the known one) and
every annotator's answer to them (``gold_answer``, with ``correct``). An import takes gold
items back as gold; gold answers, annotators' work in the service, are not imported.
"""

from __future__ import annotations

import csv
import hashlib
import io
import itertools
import json
import logging
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import orjson

from streamloop.client import Client
from streamloop.errors import InvalidInput
from streamloop.online import Span, SpanModel, Task, predicted_answer, span_set, task_of
from streamloop.online.tasks import AnswerError
from streamloop.store import ProjectRecord, Store
from streamloop.streams.learner import new_model

__all__ = [
    "EXPORT_FIELDS",
    "EXPORT_FILE_MODE",
    "FORMULA_STARTS",
    "SPAN_EXPORT_FIELDS",
    "Export",
    "ImportRow",
    "checked_rows",
    "export_fields",
    "export_labels",
    "import_rows",
    "open_export",
    "read_rows",
    "spreadsheet_safe",
    "text_id",
    "write_csv",
    "write_jsonl",
]

log = logging.getLogger(__name__)

#: The columns of a classify or multilabel project's export, in order.
EXPORT_FIELDS = (
    "label_id",
    "event_id",
    "data",
    "label",
    "source",
    "annotator",
    "corrects",
    "drawn_at_random",
    "labelled_at",
    "model_version",
    "predicted",
    "correct",
    "learned",
    # Last, so that a classify project's columns keep their places.
    "labels",
)

#: The columns of a spans project's export, in order: the item's ``text`` and its ``spans``
#: where the others have ``label``; ``labels`` there is none.
SPAN_EXPORT_FIELDS = (
    "label_id",
    "event_id",
    "data",
    "text",
    "spans",
    "source",
    "annotator",
    "corrects",
    "drawn_at_random",
    "labelled_at",
    "model_version",
    "predicted",
    "correct",
    "learned",
)

#: The mode of an export file this creates: its owner's alone, as it holds labelled data.
EXPORT_FILE_MODE = 0o600

#: First characters that make a spreadsheet read a cell as a formula (OWASP, "CSV injection").
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

#: What a span keeps on import: other keys (Prodigy's ``token_start``, ``token_end`` and
#: ``text``, a prediction's ``score``) are left out.
_SPAN_KEYS = ("start", "end", "label")


def export_fields(task: str) -> tuple[str, ...]:
    """The columns of an export of a project of ``task``, in order.

    >>> export_fields("spans")[:5]
    ('label_id', 'event_id', 'data', 'text', 'spans')
    >>> export_fields("multilabel") == EXPORT_FIELDS
    True
    """
    return SPAN_EXPORT_FIELDS if task_of(task).field == "spans" else EXPORT_FIELDS


@dataclass(frozen=True, slots=True)
class Export:
    """A project's export: its columns (`export_fields`) and its rows, read as they are
    iterated, once."""

    fields: tuple[str, ...]
    rows: Iterator[dict[str, Any]]

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return self.rows


def export_labels(store: Store, project: str) -> Export:
    """Every label of ``project``, in learning order, as export rows (see `export_fields`)."""
    record = store.project(project)
    return Export(export_fields(record.task), _export_rows(store, record))


def _export_rows(store: Store, record: ProjectRecord) -> Iterator[dict[str, Any]]:
    task = task_of(record.task)
    fields = export_fields(record.task)
    model = new_model(record)
    # Not `learn_replayed`: each row needs the prediction the model made before learning it.
    quarantined = store.quarantined(record.id)
    for row in store.labels_to_export(record.id, quarantined):
        if row.learned:
            learned = model.learn(
                row.data,
                task.model_answer(row.label),
                drawn_at_random=row.drawn_at_random,
                annotator=row.annotator if row.source != "production" else None,
                correction=row.corrects is not None or row.source == "review",
            )
            version, predicted = learned.model_version, _shown(learned.predicted)
        else:  # not learned: an overlapped item's later label, or one that does not count
            version, predicted = model.version, predicted_answer(model.predict(row.data))
        yield {
            "label_id": row.label_id,
            "event_id": row.event_id,
            "data": row.data,
            **_answer(task, row.label, row.data),
            "source": row.source,
            "annotator": row.annotator,
            "corrects": row.corrects,
            "drawn_at_random": row.drawn_at_random,
            "labelled_at": _iso(row.labelled_at),
            "model_version": version,
            "predicted": predicted,
            "correct": None,
            "learned": row.learned,
        }
    gold = {item.id: item for item in store.gold_items(record.id)}
    for item in gold.values():
        known = _answer(task, item.label, item.data)
        yield _row(fields, item.gold_id, item.gold_id, item.data, known, "gold")
    for answer in store.gold_answers_to_export(record.id):
        item = gold[answer.gold_item_id]
        yield _row(
            fields,
            answer.label_id,
            item.gold_id,
            item.data,
            _answer(task, answer.label, item.data),
            "gold_answer",
            annotator=answer.annotator,
            labelled_at=_iso(answer.answered_at),
            correct=answer.correct,
        )


def _iso(moment: datetime) -> str:
    """A stored moment as the contract writes timestamps: UTC, ending in ``Z``."""
    if moment.tzinfo is None:  # SQLite gives back naive UTC
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _answer(task: Task, stored: str, data: Mapping[str, Any]) -> dict[str, Any]:
    """A stored answer's cells: ``label`` (one label) or ``labels`` (a list), the other null;
    in a spans project, the item's ``text`` and its ``spans``."""
    if task.field == "spans":
        return {"text": data.get("text"), "spans": task.shown(stored)}
    return dict.fromkeys(("label", "labels")) | {task.field: task.shown(stored)}


def _shown(predicted: str | tuple[str, ...] | tuple[Span, ...] | None) -> Any:
    """What a model predicted before learning, as the contract shows answers: a label, a list
    of labels, or a list of spans."""
    if predicted is None or isinstance(predicted, str):
        return predicted
    return [one.as_json() if isinstance(one, Span) else one for one in predicted]


def _row(
    fields: tuple[str, ...],
    label_id: str,
    event_id: str,
    data: Any,
    answer: dict[str, Any],
    source: str,
    **more: Any,
) -> dict[str, Any]:
    """An export row that is no learned label (gold): the columns a label has are empty."""
    row = dict.fromkeys(fields)
    row.update(label_id=label_id, event_id=event_id, data=data, source=source, **answer)
    row["drawn_at_random"] = False
    row["learned"] = False
    row.update(more)
    return row


def open_export(path: Path) -> IO[bytes]:
    """Open ``path`` to write an export into, creating it readable by its owner alone.

    An export holds every labelled item of a project, so a new file gets `EXPORT_FILE_MODE`
    from the start, whatever the umask. A file that exists already keeps the mode its owner
    gave it, and is truncated.
    """
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, EXPORT_FILE_MODE)
    except FileExistsError:
        # Possibly not a file at all (``-o /dev/stdout``): never change its mode.
        descriptor = os.open(path, os.O_WRONLY | os.O_TRUNC)
    else:
        os.fchmod(descriptor, EXPORT_FILE_MODE)  # exactly, whatever the umask took off
    return os.fdopen(descriptor, "wb")


def write_jsonl(rows: Iterable[dict[str, Any]], out: IO[bytes]) -> int:
    """One JSON object per line; returns how many.

    A row orjson cannot write (data nested deeper than its limit of 254 levels, which it
    stored before event data had a depth limit) is written by the standard library's encoder
    instead; a row neither can write is left out with an error in the log naming it, and the
    export goes on.
    """
    count = 0
    for row in rows:
        line = _json(row)
        if line is None:
            _left_out(row)
            continue
        out.write(line + b"\n")
        count += 1
    return count


def write_csv(rows: Iterable[dict[str, Any]], out: IO[bytes]) -> int:
    """A header, then a row per label; ``data``, and lists (label sets, spans), as JSON text.
    Returns how many.

    The columns are those of the export (`Export.fields`); rows given otherwise have a spans
    project's columns when the first carries ``spans``, else `EXPORT_FIELDS`.

    Spreadsheet-safe: a text cell that begins with one of `FORMULA_STARTS` gets a ``'`` in
    front (see `spreadsheet_safe`), so that a spreadsheet shows it as text instead of running
    it as a formula, whoever wrote it: labels, ids, annotators' names and event data all come
    from users. Values this writes as numbers or booleans (``model_version``,
    ``drawn_at_random``) are data, not text someone typed, and are left as they are. The JSON
    lines export is exact; prefer it when a program reads the export.

    Data that cannot be written as JSON is handled as by `write_jsonl`.
    """
    rows, fields = _columns(rows)
    text = io.TextIOWrapper(out, encoding="utf-8", newline="", write_through=True)
    writer = csv.DictWriter(text, fieldnames=fields)
    writer.writeheader()
    count = 0
    for row in rows:
        data = _json(row["data"])
        if data is None:
            _left_out(row)
            continue
        # Lists (a multilabel project's sets, a spans project's spans) as JSON text, as
        # ``data`` is.
        cells = {
            **row,
            **{
                key: orjson.dumps(value).decode()
                for key, value in row.items()
                if isinstance(value, list)
            },
            "data": data.decode(),
        }
        writer.writerow({name: spreadsheet_safe(value) for name, value in cells.items()})
        count += 1
    text.detach()
    return count


def _columns(
    rows: Iterable[dict[str, Any]],
) -> tuple[Iterable[dict[str, Any]], tuple[str, ...]]:
    """The rows, and the columns they are written in (see `write_csv`)."""
    if isinstance(rows, Export):
        return rows, rows.fields
    iterator = iter(rows)
    first = next(iterator, None)
    if first is None:
        return (), EXPORT_FIELDS
    return itertools.chain(
        [first], iterator
    ), SPAN_EXPORT_FIELDS if "spans" in first else EXPORT_FIELDS


def spreadsheet_safe(value: Any) -> Any:
    """``value``, with a ``'`` in front when it is text a spreadsheet would run as a formula.

    >>> spreadsheet_safe("=SUM(A1:A9)")
    "'=SUM(A1:A9)"
    >>> spreadsheet_safe("-1"), spreadsheet_safe(-1), spreadsheet_safe("billing")
    ("'-1", -1, 'billing')
    """
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def _json(value: Any) -> bytes | None:
    try:
        return orjson.dumps(value)
    except orjson.JSONEncodeError:
        pass
    try:
        # The standard library's encoder nests as deep as Python's recursion limit allows.
        return json.dumps(
            value, ensure_ascii=False, separators=(",", ":"), allow_nan=False
        ).encode()
    except (TypeError, ValueError, RecursionError):  # UnicodeEncodeError is a ValueError
        return None


def _left_out(row: dict[str, Any]) -> None:
    log.error(
        "label %r of event %r left out of the export: its data cannot be written as JSON",
        row.get("label_id"),
        row.get("event_id"),
    )


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
    are learned in the file's order. Returns (rows, labels); ``progress`` hears of each batch.

    Each answer is sent in the row's own field (``label``, ``labels`` or ``spans``). Sending
    the same file again is harmless: events and labels are idempotent by id.
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
        sent += len(chunk)
        labelled += len(labels)
        progress(sent, labelled)
    return sent, labelled
