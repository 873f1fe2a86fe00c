"""Annotators taken out of a project's model (quarantined) and put back (released), and which
stored labels count: the rule every replay of a project's labels follows.

A label counts unless its annotator is quarantined, or it is *superseded*: a later label (not a
correction) of its item was given by someone else. That happens only to an item whose
annotator was quarantined, so that it went back to the queue and another annotator labelled it;
releasing the first annotator then leaves that item as the other labelled it, so no item is
ever learned twice.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Engine,
    Select,
    and_,
    delete,
    exists,
    func,
    not_,
    or_,
    select,
    update,
)
from sqlalchemy.orm import aliased

from streamloop.store.records import ItemRecord
from streamloop.store.statements import (
    ANNOTATOR_STATES,
    GOLD_ANSWERS,
    ITEM_COLUMNS,
    ITEMS,
    LABELS,
    SNAPSHOTS,
    chunks,
    item_record,
)
from streamloop.store.tables import utcnow

__all__ = ["AnnotatorStateStore", "counted_labels"]

_LATER = aliased(LABELS, name="later")


def _superseded() -> ColumnElement[bool]:
    """A later first label (not a correction) of the same item by someone else exists."""
    return exists().where(
        _LATER.c.item_id == LABELS.c.item_id,
        _LATER.c.id > LABELS.c.id,
        _LATER.c.corrects.is_(None),
        # Learned, and not a review's outcome: an overlapped item's later labels and a review
        # are given on top of the first label, not instead of it.
        _LATER.c.learned.is_(True),
        _LATER.c.source != "review",
        func.coalesce(_LATER.c.annotator, "") != func.coalesce(LABELS.c.annotator, ""),
    )


def counted_labels(excluded: Collection[str] = ()) -> list[ColumnElement[bool]]:
    """Conditions on ``labels`` rows: the label counts (see the module's docstring) when
    ``excluded`` are the quarantined annotators."""
    conditions: list[ColumnElement[bool]] = [not_(_superseded())]
    if excluded:
        # An annotator's labels: a reviewer's outcome under the same name is a review's.
        conditions.append(
            or_(
                LABELS.c.source != "annotator",
                func.coalesce(LABELS.c.annotator, "").not_in(sorted(excluded)),
            )
        )
    return conditions


class AnnotatorStateStore:
    """Annotators' states in the database; `Store` is one (the methods run on its thread)."""

    engine: Engine

    def quarantined(self, project_id: int) -> set[str]:
        """The project's annotators whose labels do not count now."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(ANNOTATOR_STATES.c.annotator).where(
                    ANNOTATOR_STATES.c.project_id == project_id,
                    ANNOTATOR_STATES.c.state == "quarantined",
                )
            )
            return {str(r.annotator) for r in rows}

    def annotator_known(self, project_id: int, annotator: str) -> bool:
        """Whether ``annotator`` gave the project a label (as an annotator) or a gold answer,
        or has a stored state."""
        with self.engine.connect() as conn:
            for query in (
                select(LABELS.c.id).where(
                    LABELS.c.project_id == project_id,
                    LABELS.c.annotator == annotator,
                    LABELS.c.source == "annotator",
                ),
                select(GOLD_ANSWERS.c.id).where(
                    GOLD_ANSWERS.c.project_id == project_id, GOLD_ANSWERS.c.annotator == annotator
                ),
                select(ANNOTATOR_STATES.c.annotator).where(
                    ANNOTATOR_STATES.c.project_id == project_id,
                    ANNOTATOR_STATES.c.annotator == annotator,
                ),
            ):
                if conn.execute(query.limit(1)).first() is not None:
                    return True
        return False

    def newest_version(self, project_id: int) -> int:
        """The highest model version a stored label of the project was given (0: none)."""
        with self.engine.connect() as conn:
            newest = conn.execute(
                select(func.max(LABELS.c.model_version)).where(LABELS.c.project_id == project_id)
            ).scalar_one()
        return int(newest or 0)

    def items_of(self, project_id: int, ids: Sequence[int]) -> list[ItemRecord]:
        """The project's items ``ids``, as stored."""
        with self.engine.connect() as conn:
            return [
                item_record(r)
                for chunk in chunks(list(ids))
                for r in conn.execute(
                    select(*ITEM_COLUMNS)
                    .where(ITEMS.c.project_id == project_id, ITEMS.c.id.in_(chunk))
                    .order_by(ITEMS.c.id)
                )
            ]

    def set_annotator_state(
        self, project_id: int, annotator: str, state: str
    ) -> tuple[list[ItemRecord], list[int]]:
        """Quarantine (``state`` "quarantined") or release ("active") ``annotator``, in one
        transaction with what follows from it; (items back in the queue, items labelled again).

        The project's snapshots are deleted (they hold the labels that now count differently),
        so that a restart before the rebuilt model's snapshot replays every label that counts.
        Quarantining sends the items their labels were counted for back to the queue, or, if
        other annotators labelled them too (overlapped), to review (unless a reviewer settled
        them already: that stands);
        releasing takes those of them nobody labelled meanwhile out of it again.
        """
        with self.engine.begin() as conn:
            changed = conn.execute(
                update(ANNOTATOR_STATES)
                .where(
                    ANNOTATOR_STATES.c.project_id == project_id,
                    ANNOTATOR_STATES.c.annotator == annotator,
                )
                .values(state=state, changed_at=utcnow())
            )
            if not changed.rowcount:
                conn.execute(
                    ANNOTATOR_STATES.insert().values(
                        project_id=project_id, annotator=annotator, state=state, changed_at=utcnow()
                    )
                )
            conn.execute(delete(SNAPSHOTS).where(SNAPSHOTS.c.project_id == project_id))
            theirs = _their_items(project_id, annotator)
            if state == "quarantined":
                # Items someone else labelled too (overlapped) or a reviewer settled: what
                # the others said stands; without a review yet, a reviewer decides.
                seconded = {
                    int(r.item_id)
                    for r in conn.execute(
                        select(LABELS.c.item_id)
                        .where(
                            LABELS.c.item_id.in_(theirs),
                            or_(
                                LABELS.c.source == "review",
                                func.coalesce(LABELS.c.annotator, "") != annotator,
                            ),
                        )
                        .distinct()
                    )
                }
                # A review that was learned stands; one that agreed with their label (recorded
                # only) stood on it, and is asked again.
                reviewed = {
                    int(r.item_id)
                    for r in conn.execute(
                        select(LABELS.c.item_id)
                        .where(
                            LABELS.c.item_id.in_(theirs),
                            LABELS.c.source == "review",
                            LABELS.c.learned.is_(True),
                        )
                        .distinct()
                    )
                }
                to_review = sorted(seconded - reviewed)
                for chunk in chunks(to_review):
                    conn.execute(
                        update(ITEMS)
                        .where(
                            ITEMS.c.id.in_(chunk),
                            ITEMS.c.status.in_(("labelled", "overlap", "review")),
                        )
                        .values(status="review", lease_id=None, lease_until=None)
                    )
                rows = [
                    item_record(r)
                    for r in conn.execute(
                        select(*ITEM_COLUMNS)
                        .where(ITEMS.c.id.in_(theirs), ITEMS.c.status == "labelled")
                        .order_by(ITEMS.c.id)
                    )
                    if r.id not in seconded
                ]
                back = [r.id for r in rows]
                for chunk in chunks(back):
                    conn.execute(update(ITEMS).where(ITEMS.c.id.in_(chunk)).values(status="queued"))
                return [_queued(r) for r in rows], []
            again = [
                int(r.id)
                for r in conn.execute(
                    select(ITEMS.c.id).where(ITEMS.c.id.in_(theirs), ITEMS.c.status == "queued")
                )
            ]
            if again:
                conn.execute(
                    update(ITEMS)
                    .where(ITEMS.c.id.in_(again))
                    .values(status="labelled", lease_id=None, lease_until=None)
                )
            return [], again


def _their_items(project_id: int, annotator: str) -> Select[Any]:
    """The items ``annotator`` labelled first and nobody else labelled after them."""
    return select(LABELS.c.item_id).where(
        and_(
            LABELS.c.project_id == project_id,
            LABELS.c.annotator == annotator,
            LABELS.c.corrects.is_(None),
            LABELS.c.learned.is_(True),
            *counted_labels(),
        )
    )


def _queued(item: ItemRecord) -> ItemRecord:
    return ItemRecord(
        item.id,
        item.event_id,
        item.data,
        "queued",
        item.uncertainty,
        drawn_at_random=item.drawn_at_random,
    )
