"""The tables as SQLAlchemy Core sees them, and the statements the hot paths build once."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sqlalchemy import bindparam, insert, select, update

from streamloop.store.records import ItemRecord
from streamloop.store.tables import (
    AnnotatorStateRow,
    GoldAnswerRow,
    GoldItemRow,
    ItemRow,
    LabelRow,
    LeaseRow,
    ProjectRow,
    SkipRow,
    SnapshotRow,
)

__all__ = [
    "ANNOTATOR_STATES",
    "GOLD_ANSWERS",
    "GOLD_ITEMS",
    "INSERT_LABELS",
    "ITEMS",
    "ITEMS_BY_EVENT",
    "ITEMS_BY_ID",
    "ITEM_COLUMNS",
    "LABELS",
    "LABELS_ON_ITEMS",
    "LEASES",
    "PROJECTS",
    "SET_STATUS",
    "SET_WANTED",
    "SKIPS",
    "SNAPSHOTS",
    "STORED_LABELS",
    "chunks",
    "item_record",
]

ITEMS = ItemRow.__table__  # type: ignore[attr-defined]
LABELS = LabelRow.__table__  # type: ignore[attr-defined]
SNAPSHOTS = SnapshotRow.__table__  # type: ignore[attr-defined]
LEASES = LeaseRow.__table__  # type: ignore[attr-defined]
PROJECTS = ProjectRow.__table__  # type: ignore[attr-defined]
GOLD_ITEMS = GoldItemRow.__table__  # type: ignore[attr-defined]
GOLD_ANSWERS = GoldAnswerRow.__table__  # type: ignore[attr-defined]
ANNOTATOR_STATES = AnnotatorStateRow.__table__  # type: ignore[attr-defined]
SKIPS = SkipRow.__table__  # type: ignore[attr-defined]
ITEM_COLUMNS = (
    ITEMS.c.id,
    ITEMS.c.event_id,
    ITEMS.c.data,
    ITEMS.c.status,
    ITEMS.c.uncertainty,
    ITEMS.c.drawn_at_random,
    ITEMS.c.wanted,
)

# Statements of the label path, built once: building one costs more than running it on SQLite.
STORED_LABELS = select(
    LABELS.c.id, LABELS.c.label_id, LABELS.c.model_version, LABELS.c.item_id
).where(
    LABELS.c.project_id == bindparam("project"),
    LABELS.c.label_id.in_(bindparam("keys", expanding=True)),
)
ITEMS_BY_ID = select(*ITEM_COLUMNS).where(
    ITEMS.c.project_id == bindparam("project"), ITEMS.c.id.in_(bindparam("keys", expanding=True))
)
ITEMS_BY_EVENT = select(*ITEM_COLUMNS).where(
    ITEMS.c.project_id == bindparam("project"),
    ITEMS.c.event_id.in_(bindparam("keys", expanding=True)),
)

INSERT_LABELS = insert(LABELS).returning(LABELS.c.id, sort_by_parameter_order=True)
SET_STATUS = (
    update(ITEMS)
    .where(ITEMS.c.id.in_(bindparam("keys", expanding=True)))
    .values(status=bindparam("status"))
)
SET_WANTED = update(ITEMS).where(ITEMS.c.id == bindparam("item")).values(wanted=bindparam("wanted"))
LABELS_ON_ITEMS = (
    select(
        LABELS.c.item_id,
        LABELS.c.label_id,
        LABELS.c.annotator,
        LABELS.c.label,
        LABELS.c.learned,
        LABELS.c.source,
        LABELS.c.comment,
    )
    .where(LABELS.c.item_id.in_(bindparam("keys", expanding=True)))
    .order_by(LABELS.c.id)
)


def item_record(row: Any, duplicate: bool = False) -> ItemRecord:
    return ItemRecord(
        row.id,
        row.event_id,
        row.data,
        row.status,
        row.uncertainty,
        duplicate=duplicate,
        drawn_at_random=row.drawn_at_random,
        wanted=row.wanted,
    )


def chunks(values: list[Any], size: int = 500) -> Iterator[list[Any]]:
    # SQLite caps bound parameters per statement; chunked IN lists stay under it.
    for start in range(0, len(values), size):
        yield values[start : start + size]
