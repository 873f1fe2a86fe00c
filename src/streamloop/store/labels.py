"""The labels' part of the store: the group commit, replay, export, and looking a label up."""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from typing import Any

from sqlalchemy import Engine, func, select

from streamloop.errors import Conflict, NotFound
from streamloop.store.annotators import counted_labels
from streamloop.store.records import (
    ExportLabel,
    ItemRecord,
    LabelOutcome,
    NewLabel,
    ReplayLabel,
)
from streamloop.store.statements import (
    INSERT_LABELS,
    ITEMS,
    ITEMS_BY_EVENT,
    ITEMS_BY_ID,
    LABELS,
    MARK_LABELLED,
    PROJECTS,
    STORED_LABELS,
    chunks,
    item_record,
)
from streamloop.store.tables import utcnow

__all__ = ["LabelStore"]


class LabelStore:
    """Labels in the database; `Store` is one (the methods run on its thread)."""

    engine: Engine

    def commit_labels(
        self,
        project_id: int,
        labels: Sequence[NewLabel],
        base_version: int,
        *,
        after_label_id: int | None = None,
    ) -> list[LabelOutcome]:
        """Store a batch of labels in one transaction (a group commit).

        Each new label gets the next model version after ``base_version``, in order. A
        ``label_id`` already stored (or earlier in the batch) is a duplicate and keeps its
        stored version. A label for an unknown item, or for an item already labelled (an item
        is learned once, so accuracy is never measured on data the model has learned), is
        refused. Nothing in the batch is visible until the commit returns.

        ``after_label_id`` fences a learner that may have been replaced: the batch is refused
        (``Conflict``, code ``stale_learner``) unless the project's newest stored label is that
        one, checked under a lock on the project's row.
        """
        outcomes = [LabelOutcome(label=label) for label in labels]
        with self.engine.begin() as conn:
            if after_label_id is not None:
                conn.execute(
                    select(PROJECTS.c.id).where(PROJECTS.c.id == project_id).with_for_update()
                )
                newest = conn.execute(
                    select(func.max(LABELS.c.id)).where(LABELS.c.project_id == project_id)
                ).scalar_one()
                if (newest or 0) != after_label_id:
                    raise Conflict(
                        f"labels after {after_label_id} were stored by another learner",
                        code="stale_learner",
                    )
            stored = {
                r.label_id: r
                for chunk in chunks(list({lb.label_id for lb in labels}))
                for r in conn.execute(STORED_LABELS, {"project": project_id, "keys": chunk})
            }
            items = self._items_for(conn, project_id, labels)
            version = base_version
            seen: dict[str, LabelOutcome] = {}
            new_rows: list[dict[str, Any]] = []
            fresh: list[LabelOutcome] = []
            newly_labelled: set[int] = set()
            now = utcnow()
            for outcome in outcomes:
                label = outcome.label
                if label.label_id in stored:
                    row = stored[label.label_id]
                    outcome.duplicate, outcome.row_id = True, row.id
                    outcome.model_version, outcome.item_id = row.model_version, row.item_id
                    continue
                if label.label_id in seen:
                    first = seen[label.label_id]
                    outcome.duplicate, outcome.error = True, first.error
                    outcome.model_version, outcome.item_id = first.model_version, first.item_id
                    continue
                seen[label.label_id] = outcome
                item = items.get(label.item_id if label.item_id is not None else label.event_id)
                if item is None:
                    outcome.error = NotFound(
                        f"no item {label.event_id or label.item_id!r} in this project",
                        code="unknown_item",
                    )
                    continue
                already = item.status == "labelled" or item.id in newly_labelled
                if already and label.corrects is None:
                    outcome.error = Conflict(
                        f"item {item.event_id!r} is already labelled", code="already_labelled"
                    )
                    continue
                version += 1
                newly_labelled.add(item.id)
                outcome.item_id, outcome.event_id, outcome.data = item.id, item.event_id, item.data
                outcome.model_version = version
                fresh.append(outcome)
                new_rows.append(
                    {
                        "project_id": project_id,
                        "label_id": label.label_id,
                        "item_id": item.id,
                        "label": label.label,
                        "annotator": label.annotator,
                        "source": label.source,
                        "drawn_at_random": label.drawn_at_random,
                        "corrects": label.corrects,
                        "model_version": version,
                        "created_at": now,
                    }
                )
            if new_rows:
                result = conn.execute(INSERT_LABELS, new_rows)
                for outcome, (row_id,) in zip(fresh, result, strict=True):
                    outcome.row_id = row_id
                for chunk in chunks(list(newly_labelled)):
                    conn.execute(MARK_LABELLED, {"keys": chunk})
        return outcomes

    def _items_for(
        self, conn: Any, project_id: int, labels: Sequence[NewLabel]
    ) -> dict[int | str | None, ItemRecord]:
        by_id = list({lb.item_id for lb in labels if lb.item_id is not None})
        by_event = list({lb.event_id for lb in labels if lb.item_id is None and lb.event_id})
        found: dict[int | str | None, ItemRecord] = {}
        for statement, keys in ((ITEMS_BY_ID, by_id), (ITEMS_BY_EVENT, by_event)):
            for chunk in chunks(keys):
                for r in conn.execute(statement, {"project": project_id, "keys": chunk}):
                    found[r.id if statement is ITEMS_BY_ID else r.event_id] = item_record(r)
        return found

    def labels_after(
        self, project_id: int, last_label_id: int, excluded: Collection[str] = ()
    ) -> Iterator[ReplayLabel]:
        """Labels learned after ``last_label_id``, in learning order, with their items' data;
        only those that count with ``excluded`` quarantined (`counted_labels`)."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(
                    LABELS.c.id,
                    ITEMS.c.data,
                    LABELS.c.label,
                    LABELS.c.model_version,
                    LABELS.c.drawn_at_random,
                    LABELS.c.annotator,
                    LABELS.c.corrects,
                )
                .join(ITEMS, ITEMS.c.id == LABELS.c.item_id)
                .where(
                    LABELS.c.project_id == project_id,
                    LABELS.c.id > last_label_id,
                    *counted_labels(excluded),
                )
                .order_by(LABELS.c.id)
            )
            for r in rows:
                yield ReplayLabel(
                    r.id,
                    r.data,
                    r.label,
                    r.model_version,
                    r.drawn_at_random,
                    annotator=r.annotator,
                    correction=r.corrects is not None,
                )

    def labels_to_export(self, project_id: int) -> Iterator[ExportLabel]:
        """Every label of the project with its item, in learning order, read in pages.

        The connection stays open while the caller iterates: consume it on one thread.
        """
        query = (
            select(
                LABELS.c.label_id,
                ITEMS.c.event_id,
                ITEMS.c.data,
                LABELS.c.label,
                LABELS.c.source,
                LABELS.c.annotator,
                LABELS.c.corrects,
                LABELS.c.drawn_at_random,
                LABELS.c.created_at,
            )
            .join(ITEMS, ITEMS.c.id == LABELS.c.item_id)
            .where(LABELS.c.project_id == project_id)
            .order_by(LABELS.c.id)
        )
        with self.engine.connect() as conn:
            for r in conn.execution_options(yield_per=1000).execute(query):
                yield ExportLabel(
                    label_id=r.label_id,
                    event_id=r.event_id,
                    data=r.data,
                    label=r.label,
                    source=r.source,
                    annotator=r.annotator,
                    corrects=r.corrects,
                    drawn_at_random=bool(r.drawn_at_random),
                    labelled_at=r.created_at,
                )

    def label_of(self, project_id: int, label_id: str) -> tuple[int, str, str | None] | None:
        """(item id, event id, annotator) of a stored label, by its ``label_id``."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(LABELS.c.item_id, ITEMS.c.event_id, LABELS.c.annotator)
                .join(ITEMS, ITEMS.c.id == LABELS.c.item_id)
                .where(LABELS.c.project_id == project_id, LABELS.c.label_id == label_id)
            ).first()
        return None if row is None else (int(row.item_id), str(row.event_id), row.annotator)

    def replay_labels(
        self, project_id: int, last_label_id: int, excluded: Collection[str] = ()
    ) -> list[ReplayLabel]:
        return list(self.labels_after(project_id, last_label_id, excluded))
