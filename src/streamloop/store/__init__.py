"""The store: projects, items, labels and model snapshots in SQL (SQLite by default)."""

from __future__ import annotations

from streamloop.store.records import (
    ExportLabel,
    ItemRecord,
    LabelOutcome,
    NewEvent,
    NewLabel,
    ProjectRecord,
    ReplayLabel,
)
from streamloop.store.repository import Store

__all__ = [
    "ExportLabel",
    "ItemRecord",
    "LabelOutcome",
    "NewEvent",
    "NewLabel",
    "ProjectRecord",
    "ReplayLabel",
    "Store",
]
