"""How far a project and its annotators have come: labelled items, each annotator's answers
and their latest ones (the history an annotator reviews and corrects)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, func, select

from streamloop.store.records import RecentAnswer
from streamloop.store.statements import GOLD_ANSWERS, GOLD_ITEMS, ITEMS, LABELS

__all__ = ["ProgressStore"]


class ProgressStore:
    """Progress in the database; `Store` is one (the methods run on its thread)."""

    engine: Engine

    def labelled_items(self, project_id: int) -> int:
        """How many of the project's items have a stored label (an annotator's, a reviewer's
        or production's; an item with several counts once; gold answers are not labels)."""
        with self.engine.connect() as conn:
            return int(
                conn.execute(
                    select(func.count(func.distinct(LABELS.c.item_id))).where(
                        LABELS.c.project_id == project_id
                    )
                ).scalar_one()
            )

    def answers_given(self, project_id: int, annotator: str) -> int:
        """How many items ``annotator`` answered in the project: their labels and their
        answers to gold items (which look like any item to them), corrections aside."""
        with self.engine.connect() as conn:
            labels = conn.execute(
                select(func.count()).where(
                    LABELS.c.project_id == project_id,
                    LABELS.c.annotator == annotator,
                    LABELS.c.source == "annotator",
                    LABELS.c.corrects.is_(None),
                )
            ).scalar_one()
            gold = conn.execute(
                select(func.count()).where(
                    GOLD_ANSWERS.c.project_id == project_id, GOLD_ANSWERS.c.annotator == annotator
                )
            ).scalar_one()
        return int(labels) + int(gold)

    def recent_answers(self, project_id: int, annotator: str, limit: int) -> list[RecentAnswer]:
        """``annotator``'s latest ``limit`` answers in the project, newest first, one per item:
        the latest of each item's (a correction replaces what it corrects), with its item.
        Answers to gold items are among them, named by the label_id that corrects them."""
        latest = (
            select(func.max(LABELS.c.id))
            .where(
                LABELS.c.project_id == project_id,
                LABELS.c.annotator == annotator,
                LABELS.c.source == "annotator",
            )
            .group_by(LABELS.c.item_id)
        )
        with self.engine.connect() as conn:
            labels = conn.execute(
                select(
                    LABELS.c.label_id,
                    ITEMS.c.event_id,
                    ITEMS.c.data,
                    LABELS.c.label,
                    LABELS.c.comment,
                    LABELS.c.created_at,
                    LABELS.c.model_version,
                )
                .join(ITEMS, ITEMS.c.id == LABELS.c.item_id)
                .where(LABELS.c.id.in_(latest.scalar_subquery()))
                .order_by(LABELS.c.id.desc())
                .limit(limit)
            )
            found = [_answer(r, r.created_at, r.model_version) for r in labels]
            gold = conn.execute(
                select(
                    func.coalesce(GOLD_ANSWERS.c.latest_label_id, GOLD_ANSWERS.c.label_id).label(
                        "label_id"
                    ),
                    GOLD_ITEMS.c.gold_id.label("event_id"),
                    GOLD_ITEMS.c.data,
                    GOLD_ANSWERS.c.label,
                    GOLD_ANSWERS.c.comment,
                    GOLD_ANSWERS.c.answered_at,
                )
                .join(GOLD_ITEMS, GOLD_ITEMS.c.id == GOLD_ANSWERS.c.gold_item_id)
                .where(
                    GOLD_ANSWERS.c.project_id == project_id, GOLD_ANSWERS.c.annotator == annotator
                )
                .order_by(GOLD_ANSWERS.c.answered_at.desc(), GOLD_ANSWERS.c.id.desc())
                .limit(limit)
            )
            found += [_answer(r, r.answered_at, None) for r in gold]
        found.sort(key=lambda answer: answer.labelled_at, reverse=True)
        return found[:limit]


def _answer(row: Any, at: datetime, model_version: int | None) -> RecentAnswer:
    return RecentAnswer(
        label_id=str(row.label_id),
        event_id=str(row.event_id),
        data=row.data,
        label=str(row.label),
        comment=row.comment,
        # SQLite gives back naive UTC.
        labelled_at=at if at.tzinfo else at.replace(tzinfo=UTC),
        model_version=None if model_version is None else int(model_version),
    )
