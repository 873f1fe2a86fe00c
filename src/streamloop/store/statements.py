"""The tables as SQLAlchemy Core sees them, and the statements the hot paths build once."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sqlalchemy import bindparam, select, update

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
    "ITEMS",
    "ITEMS_BY_EVENT",
    "ITEM_COLUMNS",
    "LABELS",
    "LEASES",
    "PROJECTS",
    "SET_STATUS",
    "SKIPS",
    "SNAPSHOTS",
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

# Built once: building a statement costs more than running it on SQLite. (The label path's
# own statements run at the driver: `streamloop.store.driver`.)
ITEMS_BY_EVENT = select(*ITEM_COLUMNS).where(
    ITEMS.c.project_id == bindparam("project"),
    ITEMS.c.event_id.in_(bindparam("keys", expanding=True)),
)

SET_STATUS = (
    update(ITEMS)
    .where(ITEMS.c.id.in_(bindparam("keys", expanding=True)))
    .values(status=bindparam("status"))
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
