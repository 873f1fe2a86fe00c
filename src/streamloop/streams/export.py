"""Taking a project's labels out: ``streamloop export``.

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
``comment`` is the note its annotator or reviewer gave with a label (null when none).
After the labels come the gold items (``source`` ``gold``, their answer the known one) and
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
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import orjson

from streamloop.online import Span, Task, predicted_answer, task_of
from streamloop.store import ProjectRecord, Store
from streamloop.streams.learner import new_model

__all__ = [
    "EXPORT_FIELDS",
    "EXPORT_FILE_MODE",
    "FORMULA_STARTS",
    "SPAN_EXPORT_FIELDS",
    "Export",
    "export_fields",
    "export_labels",
    "open_export",
    "spreadsheet_safe",
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
    # Added later, so that a classify project's columns keep their places.
    "labels",
    "comment",
    "model",
)

#: The columns of a spans project's export, in order: the item's ``text`` and its ``spans``
#: where the others have ``label``; ``labels`` there is none.
SPAN_EXPORT_FIELDS = (
    *EXPORT_FIELDS[: EXPORT_FIELDS.index("label")],
    "text",
    "spans",
    *EXPORT_FIELDS[EXPORT_FIELDS.index("label") + 1 : EXPORT_FIELDS.index("labels")],
    "comment",
    "model",
)

#: The mode of an export file this creates: its owner's alone, as it holds labelled data.
EXPORT_FILE_MODE = 0o600

#: First characters that make a spreadsheet read a cell as a formula (OWASP, "CSV injection").
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


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
    promotions = list(record.promotions)
    for row in store.labels_to_export(record.id, quarantined):
        while promotions and row.row_id > promotions[0]["after_label"]:
            # Each promotion served a version of its own, which no label carries.
            model.advance_to(max(model.version + 1, int(promotions.pop(0)["model_version"])))
        # The model that served when the label came (a challenger, before its promotion, has
        # learned every label too: its prediction is the one production had then).
        serving = record.served_by(row.row_id)
        server: Any = model.challengers.get(serving, model)
        if row.learned:
            before = server.predict(row.data) if server is not model else None
            learned = model.learn(
                row.data,
                task.model_answer(row.label),
                drawn_at_random=row.drawn_at_random,
                annotator=row.annotator if row.source != "production" else None,
                correction=row.corrects is not None or row.source == "review",
            )
            version = learned.model_version
            predicted = _shown(learned.predicted) if before is None else predicted_answer(before)
        else:  # not learned: an overlapped item's later label, or one that does not count
            version, predicted = model.version, predicted_answer(server.predict(row.data))
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
            "comment": row.comment,
            "model": serving,
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
            comment=answer.comment,
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
