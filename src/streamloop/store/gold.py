"""The gold items' part of the store: items with known answers, and the answers they got."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import Engine, case, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from streamloop.errors import Conflict, InvalidInput, NotFound
from streamloop.store.records import ExportGoldAnswer, GoldAnswer, GoldRecord, NewGold
from streamloop.store.statements import GOLD_ANSWERS, GOLD_ITEMS, chunks
from streamloop.store.tables import utcnow

__all__ = ["GoldStore"]

#: How often `GoldStore.add_gold` tries when other processes store the same ids at once.
_ATTEMPTS = 3


class GoldStore:
    """Gold items in the database; `Store` is one (the methods run on its thread)."""

    engine: Engine

    def add_gold(self, project_id: int, items: Sequence[NewGold]) -> tuple[int, int]:
        """Store gold items in one transaction; returns (stored, duplicates).

        A ``gold_id`` the project already has, or one earlier in the batch, is a duplicate and
        changes nothing.
        """
        for _ in range(_ATTEMPTS - 1):
            try:
                return self._add_gold(project_id, items)
            except IntegrityError:
                # Another process stored some of these ids since the look-up: the next
                # attempt sees them as duplicates.
                continue
        return self._add_gold(project_id, items)

    def _add_gold(self, project_id: int, items: Sequence[NewGold]) -> tuple[int, int]:
        with self.engine.begin() as conn:
            stored = {
                gold_id
                for chunk in chunks(list({item.gold_id for item in items}))
                for gold_id in conn.execute(
                    select(GOLD_ITEMS.c.gold_id).where(
                        GOLD_ITEMS.c.project_id == project_id, GOLD_ITEMS.c.gold_id.in_(chunk)
                    )
                ).scalars()
            }
            fresh: dict[str, NewGold] = {}
            for item in items:
                if item.gold_id not in stored and item.gold_id not in fresh:
                    fresh[item.gold_id] = item
            if fresh:
                now = utcnow()
                conn.execute(
                    insert(GOLD_ITEMS),
                    [
                        {
                            "project_id": project_id,
                            "gold_id": item.gold_id,
                            "data": item.data,
                            "label": item.label,
                            "created_at": now,
                        }
                        for item in fresh.values()
                    ],
                )
        return len(fresh), len(items) - len(fresh)

    def gold_items(self, project_id: int) -> list[GoldRecord]:
        """The project's gold items, oldest first."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(GOLD_ITEMS.c.id, GOLD_ITEMS.c.gold_id, GOLD_ITEMS.c.data, GOLD_ITEMS.c.label)
                .where(GOLD_ITEMS.c.project_id == project_id)
                .order_by(GOLD_ITEMS.c.id)
            )
            return [GoldRecord(r.id, r.gold_id, r.data, r.label) for r in rows]

    def answer_gold(
        self,
        project_id: int,
        gold_item_id: int,
        annotator: str,
        label: str,
        label_id: str,
        comment: str | None = None,
    ) -> GoldAnswer:
        """Store an annotator's answer to a gold item: correct if it is the item's label.

        A ``label_id`` the project has stored before is a duplicate: nothing is written and
        the stored outcome is returned, also when a retry races its first attempt.
        """
        stored = self._gold_answer(project_id, label_id)
        if stored is not None:
            return stored
        try:
            self._refuse_second_answer(gold_item_id, annotator)
        except Conflict:
            # Unless the answer found is this very one, stored by a racing first attempt.
            stored = self._gold_answer(project_id, label_id)
            if stored is None:
                raise
            return stored
        try:
            with self.engine.begin() as conn:
                known = conn.execute(
                    select(GOLD_ITEMS.c.label).where(
                        GOLD_ITEMS.c.project_id == project_id, GOLD_ITEMS.c.id == gold_item_id
                    )
                ).scalar_one_or_none()
                if known is None:
                    raise NotFound(
                        f"no gold item {gold_item_id} in this project", code="unknown_gold_item"
                    )
                correct = label == known
                conn.execute(
                    insert(GOLD_ANSWERS).values(
                        project_id=project_id,
                        gold_item_id=gold_item_id,
                        annotator=annotator,
                        label=label,
                        correct=correct,
                        label_id=label_id,
                        answered_at=utcnow(),
                        comment=comment,
                    )
                )
        except IntegrityError:
            # The same label_id, or another answer of theirs, committed since the look-ups.
            stored = self._gold_answer(project_id, label_id)
            if stored is None:
                self._refuse_second_answer(gold_item_id, annotator)
                raise
            return stored
        return GoldAnswer(correct=correct, duplicate=False)

    def _refuse_second_answer(self, gold_item_id: int, annotator: str) -> None:
        """An annotator answers a gold item once, as any item is labelled once (a correction
        changes the answer: `correct_gold`)."""
        with self.engine.connect() as conn:
            answered = conn.execute(
                select(GOLD_ANSWERS.c.id).where(
                    GOLD_ANSWERS.c.gold_item_id == gold_item_id,
                    GOLD_ANSWERS.c.annotator == annotator,
                )
            ).first()
        if answered is not None:
            raise Conflict("this item is already labelled", code="already_labelled")

    def correct_gold(
        self,
        project_id: int,
        corrects: str,
        annotator: str,
        label: str,
        fit: Callable[[str, Mapping[str, Any]], str] | None = None,
        comment: str | None = None,
        label_id: str | None = None,
    ) -> tuple[int, bool, bool] | None:
        """An annotator corrects their answer to a gold item (``corrects``: its label_id, or
        that of its latest correction): (gold item id, correct before, correct now), or None
        if ``corrects`` is no gold answer. A correction of someone else's answer is refused
        (409 ``not_your_label``), as one that does not fit the item's data (``fit``, as
        `commit_labels` takes it: 422); the answer kept is what ``fit`` gives, with
        ``comment``, and ``label_id`` (the correction's) names it from now on too."""
        with self.engine.begin() as conn:
            row = conn.execute(
                select(
                    GOLD_ANSWERS.c.id,
                    GOLD_ANSWERS.c.gold_item_id,
                    GOLD_ANSWERS.c.annotator,
                    GOLD_ANSWERS.c.correct,
                    GOLD_ITEMS.c.label,
                    GOLD_ITEMS.c.data,
                )
                .join(GOLD_ITEMS, GOLD_ITEMS.c.id == GOLD_ANSWERS.c.gold_item_id)
                .where(
                    GOLD_ANSWERS.c.project_id == project_id,
                    (GOLD_ANSWERS.c.label_id == corrects)
                    | (GOLD_ANSWERS.c.latest_label_id == corrects),
                )
            ).first()
            if row is None:
                return None
            if row.annotator != annotator:
                raise Conflict(
                    f"label {corrects!r} was not given by {annotator!r}", code="not_your_label"
                )
            if fit is not None:
                try:
                    label = fit(label, row.data)
                except ValueError as exc:
                    raise InvalidInput(str(exc), code="invalid_input") from None
            correct = label == row.label
            conn.execute(
                update(GOLD_ANSWERS)
                .where(GOLD_ANSWERS.c.id == row.id)
                .values(
                    label=label,
                    correct=correct,
                    answered_at=utcnow(),
                    comment=comment,
                    latest_label_id=label_id,
                )
            )
        return row.gold_item_id, bool(row.correct), correct

    def _gold_answer(self, project_id: int, label_id: str) -> GoldAnswer | None:
        with self.engine.connect() as conn:
            correct = conn.execute(
                select(GOLD_ANSWERS.c.correct).where(
                    GOLD_ANSWERS.c.project_id == project_id, GOLD_ANSWERS.c.label_id == label_id
                )
            ).scalar_one_or_none()
        return None if correct is None else GoldAnswer(correct=bool(correct), duplicate=True)

    def gold_scores(self, project_id: int) -> dict[str, tuple[int, int]]:
        """(answered, correct) per annotator: one answer per gold item they answered (as last
        corrected)."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(
                    GOLD_ANSWERS.c.annotator,
                    func.count(),
                    func.sum(case((GOLD_ANSWERS.c.correct, 1), else_=0)),
                )
                .where(GOLD_ANSWERS.c.project_id == project_id)
                .group_by(GOLD_ANSWERS.c.annotator)
            )
            return {str(name): (int(answered), int(correct)) for name, answered, correct in rows}

    def gold_answer_labels(self, project_id: int) -> list[tuple[int, str, str]]:
        """(gold item id, annotator, answer as last corrected) of every gold answer."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(GOLD_ANSWERS.c.gold_item_id, GOLD_ANSWERS.c.annotator, GOLD_ANSWERS.c.label)
                .where(GOLD_ANSWERS.c.project_id == project_id)
                .order_by(GOLD_ANSWERS.c.id)
            )
            return [(int(r.gold_item_id), str(r.annotator), str(r.label)) for r in rows]

    def gold_answers_to_export(self, project_id: int) -> list[ExportGoldAnswer]:
        """Every answer to the project's gold items, in the order they were given."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(
                    GOLD_ANSWERS.c.label_id,
                    GOLD_ANSWERS.c.gold_item_id,
                    GOLD_ANSWERS.c.annotator,
                    GOLD_ANSWERS.c.label,
                    GOLD_ANSWERS.c.correct,
                    GOLD_ANSWERS.c.answered_at,
                    GOLD_ANSWERS.c.comment,
                )
                .where(GOLD_ANSWERS.c.project_id == project_id)
                .order_by(GOLD_ANSWERS.c.id)
            )
            return [
                ExportGoldAnswer(
                    r.label_id,
                    r.gold_item_id,
                    r.annotator,
                    r.label,
                    bool(r.correct),
                    r.answered_at,
                    comment=r.comment,
                )
                for r in rows
            ]

    def gold_answered(self, project_id: int) -> list[tuple[int, str]]:
        """The (gold item id, annotator) pairs answered, each once, in that order."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(GOLD_ANSWERS.c.gold_item_id, GOLD_ANSWERS.c.annotator)
                .where(GOLD_ANSWERS.c.project_id == project_id)
                .distinct()
                .order_by(GOLD_ANSWERS.c.gold_item_id, GOLD_ANSWERS.c.annotator)
            )
            return [(int(r.gold_item_id), str(r.annotator)) for r in rows]
