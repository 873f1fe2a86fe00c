"""The store: projects, items, labels, gold items and model snapshots in SQL (SQLite by default)."""

from __future__ import annotations

from streamloop.store.records import (
    ExportGoldAnswer,
    ExportLabel,
    GoldAnswer,
    GoldRecord,
    ItemRecord,
    LabelOutcome,
    NewEvent,
    NewGold,
    NewLabel,
    ProjectRecord,
    RecentAnswer,
    ReplayLabel,
    ReviewRecord,
    SkipRecord,
)
from streamloop.store.repository import Store

__all__ = [
    "ExportGoldAnswer",
    "ExportLabel",
    "GoldAnswer",
    "GoldRecord",
    "ItemRecord",
    "LabelOutcome",
    "NewEvent",
    "NewGold",
    "NewLabel",
    "ProjectRecord",
    "RecentAnswer",
    "ReplayLabel",
    "ReviewRecord",
    "SkipRecord",
    "Store",
]
