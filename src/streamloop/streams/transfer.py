"""Taking a project's labels out (``streamloop export``) and data in (``streamloop import``).

An import goes through a running service's API, as any producer's data would: its events are
scored, stored and routed by the live loop, and its labels are learned in the file's order as
production ground truth. Rows may be those of an export (``event_id``) or plain events
(``id``); a row with a ``label`` (in a multilabel project, ``labels``: a list, possibly empty)
is labelled data, one without waits for annotators.

An export has one row per label, in the order the model learned them, with the item, who gave
it, when, the model version that includes it, and what the model predicted just before
learning it. That prediction is not stored: the labels are replayed through a new model, which
the project's determinism makes the very model that learned them (restarts rely on the same).
A multilabel project's rows carry the set in ``labels`` (and ``label`` is null); its
``predicted`` is a set too. An overlapped item has a row per annotator; ``learned`` says which
label the model learned
(the others were recorded only), and a reviewer's outcome is a row of ``source`` ``review``.
After the labels come the gold items (``source`` ``gold``, ``label`` the known answer) and
every annotator's answer to them (``gold_answer``, with ``correct``). An import takes gold
items back as gold; gold answers, annotators' work in the service, are not imported.
"""

from __future__ import annotations

import csv
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
from streamloop.online import label_set, model_answer, predicted_answer
from streamloop.store import Store
from streamloop.streams.learner import new_model

__all__ = [
    "EXPORT_FIELDS",
    "EXPORT_FILE_MODE",
    "FORMULA_STARTS",
    "ImportRow",
    "checked_rows",
    "export_labels",
    "import_rows",
    "open_export",
    "read_rows",
    "spreadsheet_safe",
    "write_csv",
    "write_jsonl",
]

log = logging.getLogger(__name__)

#: The columns of an export, in order.
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


#: The mode of an export file this creates: its owner's alone, as it holds labelled data.
EXPORT_FILE_MODE = 0o600

#: First characters that make a spreadsheet read a cell as a formula (OWASP, "CSV injection").
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def export_labels(store: Store, project: str) -> Iterator[dict[str, Any]]:
    """Every label of ``project``, in learning order, as export rows (see `EXPORT_FIELDS`)."""
    record = store.project(project)
    model = new_model(record)
    sets = record.task == "multilabel"
    # Not `learn_replayed`: each row needs the prediction the model made before learning it.
    quarantined = store.quarantined(record.id)
    for row in store.labels_to_export(record.id, quarantined):
        if row.learned:
            learned = model.learn(
                row.data,
                model_answer(model, row.label),
                drawn_at_random=row.drawn_at_random,
                annotator=row.annotator if row.source != "production" else None,
                correction=row.corrects is not None or row.source == "review",
            )
            version = learned.model_version
            predicted = (
                learned.predicted
                if learned.predicted is None or not sets
                else list(learned.predicted)
            )
        else:  # not learned: an overlapped item's later label, or one that does not count
            version, predicted = model.version, predicted_answer(model.predict(row.data))
        yield {
            "label_id": row.label_id,
            "event_id": row.event_id,
            "data": row.data,
            **_answer(row.label, sets),
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
        yield _row(item.gold_id, item.gold_id, item.data, _answer(item.label, sets), "gold")
    for answer in store.gold_answers_to_export(record.id):
        item = gold[answer.gold_item_id]
        yield _row(
            answer.label_id,
            item.gold_id,
            item.data,
            _answer(answer.label, sets),
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


def _answer(stored: str, sets: bool) -> dict[str, Any]:
    """A stored answer's two columns: ``label`` (one label) or ``labels`` (a list)."""
    if sets:
        return {"label": None, "labels": list(label_set(stored))}
    return {"label": stored, "labels": None}


def _row(
    label_id: str, event_id: str, data: Any, answer: dict[str, Any], source: str, **more: Any
) -> dict[str, Any]:
    """An export row that is no learned label (gold): the columns a label has are empty."""
    row = dict.fromkeys(EXPORT_FIELDS)
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
    """A header, then a row per label; ``data`` as JSON text. Returns how many.

    Spreadsheet-safe: a text cell that begins with one of `FORMULA_STARTS` gets a ``'`` in
    front (see `spreadsheet_safe`), so that a spreadsheet shows it as text instead of running
    it as a formula, whoever wrote it: labels, ids, annotators' names and event data all come
    from users. Values this writes as numbers or booleans (``model_version``,
    ``drawn_at_random``) are data, not text someone typed, and are left as they are. The JSON
    lines export is exact; prefer it when a program reads the export.

    Data that cannot be written as JSON is handled as by `write_jsonl`.
    """
    text = io.TextIOWrapper(out, encoding="utf-8", newline="", write_through=True)
    writer = csv.DictWriter(text, fieldnames=EXPORT_FIELDS)
    writer.writeheader()
    count = 0
    for row in rows:
        data = _json(row["data"])
        if data is None:
            _left_out(row)
            continue
        # Lists (a multilabel project's sets) as JSON text, as ``data`` is.
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
    #: The row's label (a classify project's); None when it has none, or a label set.
    label: str | None
    #: A gold item (an export's ``source: gold`` row): stored as gold, its answer the known one.
    gold: bool = False
    #: The row's label set (a multilabel project's, possibly empty), in place of ``label``.
    labels: tuple[str, ...] | None = None
    #: Its line in the file (1 is the first), for errors.
    line: int = 0

    @property
    def answer(self) -> str | tuple[str, ...] | None:
        """What the row answers: its label, its label set, or None (unlabelled)."""
        return self.label if self.labels is None else self.labels


def read_rows(lines: Iterable[bytes]) -> Iterator[ImportRow]:
    """Rows of a JSON lines file: ``{"id" or "event_id", "data", "label"? or "labels"?}``;
    blank lines skipped. ``labels`` is a multilabel project's label set, a list of labels
    (possibly empty); an export has both columns, one of them null.

    >>> [r.label for r in read_rows([b'{"id": "a", "data": {"text": "x"}, "label": "bug"}'])]
    ['bug']
    >>> [r.answer for r in read_rows([b'{"id": "a", "data": {}, "label": null, "labels": ["ui"]}'])]
    [('ui',)]
    """
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = orjson.loads(line)
            event_id = row.get("id", row.get("event_id"))
            data, label, labels = row["data"], row.get("label"), row.get("labels")
        except (orjson.JSONDecodeError, AttributeError, KeyError) as exc:
            raise InvalidInput(f"line {number}: not a row of an import ({exc})") from exc
        if not isinstance(event_id, str) or not isinstance(data, dict):
            raise InvalidInput(f"line {number}: needs a string id and a data object")
        if label is not None and not isinstance(label, str):
            raise InvalidInput(f"line {number}: label must be a string")
        if labels is not None and (
            not isinstance(labels, list) or not all(isinstance(one, str) for one in labels)
        ):
            raise InvalidInput(f"line {number}: labels must be a list of strings")
        if label is not None and labels is not None:
            raise InvalidInput(
                f"line {number}: a row has a label or labels (a label set), not both"
            )
        source = row.get("source")
        if source == "gold_answer":
            continue  # an annotator's answer: their work in the service, not data to import
        if row.get("learned") is False and source != "gold":
            continue  # recorded, not learned (an overlapped item's): its learned row imports
        if source == "gold" and label is None and labels is None:
            raise InvalidInput(f"line {number}: a gold item needs its label (or labels)")
        answered = None if labels is None else tuple(labels)
        yield ImportRow(event_id, data, label, gold=source == "gold", labels=answered, line=number)


def checked_rows(rows: Iterable[ImportRow], project: Mapping[str, Any]) -> list[ImportRow]:
    """Every row, once each answer is checked against ``project`` (as the API gives it): the
    field its task wants (``label`` or ``labels``), labels it knows, none repeated. A bad row is
    refused naming its line before anything is sent, so a failed import stores nothing.

    >>> project = {"task": "multilabel", "labels": ["bug", "ui"]}
    >>> rows = [ImportRow("a", {}, "bug", line=3)]
    >>> try:
    ...     checked_rows(rows, project)
    ... except InvalidInput as error:
    ...     print(error.message[:39])
    line 3: this is a multilabel project: a
    """
    sets = project.get("task") == "multilabel"
    known = set(project["labels"])
    found = []
    for row in rows:
        where = f"line {row.line}"
        if sets and row.label is not None:
            raise InvalidInput(
                f"{where}: this is a multilabel project: a row's answer is `labels`, a list, "
                f"not `label`"
            )
        if not sets and row.labels is not None:
            raise InvalidInput(
                f"{where}: this is a classify project: a row's answer is `label`, not `labels`"
            )
        given = list(row.labels or ()) + ([row.label] if row.label is not None else [])
        unknown = [label for label in given if label not in known]
        if unknown:
            raise InvalidInput(
                f"{where}: {unknown[0]!r} is not one of the project's labels "
                f"{list(project['labels'])}"
            )
        if len(set(given)) != len(given):
            raise InvalidInput(f"{where}: labels must not repeat, got {given}")
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

    Sending the same file again is harmless: events and labels are idempotent by id.
    """
    sent = labelled = 0
    iterator = iter(rows)
    while chunk := list(itertools.islice(iterator, batch)):
        gold = [(r.event_id, r.data, r.answer) for r in chunk if r.gold and r.answer is not None]
        if gold:
            client.add_gold(project, gold)
        events = [row for row in chunk if not row.gold]
        if events:
            client.send_events(project, [(row.event_id, row.data) for row in events])
        labels = [(row.event_id, row.answer) for row in events if row.answer is not None]
        if labels:
            for result in client.send_labels(project, labels):
                error = result.get("error")
                if error and error["code"] != "already_labelled":  # labelled since: kept
                    raise InvalidInput(f"{result['event_id']}: {error['message']}")
        sent += len(chunk)
        labelled += len(labels)
        progress(sent, labelled)
    return sent, labelled
