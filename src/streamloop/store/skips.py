"""The skips' part of the store: each item an annotator gave back, and the reason given."""

from __future__ import annotations

from collections import Counter
from datetime import UTC

from sqlalchemy import Engine, func, insert, select

from streamloop.store.records import SkipRecord
from streamloop.store.statements import SKIPS
from streamloop.store.tables import utcnow

__all__ = ["SkipStore"]


class SkipStore:
    """Skips in the database; `Store` is one (the methods run on its thread)."""

    engine: Engine

    def add_skip(
        self, project_id: int, event_id: str, annotator: str, reason: str | None
    ) -> SkipRecord:
        """Store that ``annotator`` skipped ``event_id`` (``reason`` None: they gave none)."""
        skip = SkipRecord(event_id, annotator, reason, utcnow())
        with self.engine.begin() as conn:
            conn.execute(
                insert(SKIPS).values(
                    project_id=project_id,
                    event_id=event_id,
                    annotator=annotator,
                    reason=reason,
                    skipped_at=skip.skipped_at,
                )
            )
        return skip

    def recent_skips(self, project_id: int, limit: int) -> list[SkipRecord]:
        """The project's latest ``limit`` skips, newest first."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(SKIPS.c.event_id, SKIPS.c.annotator, SKIPS.c.reason, SKIPS.c.skipped_at)
                .where(SKIPS.c.project_id == project_id)
                .order_by(SKIPS.c.id.desc())
                .limit(limit)
            )
            return [
                SkipRecord(
                    r.event_id,
                    r.annotator,
                    r.reason,
                    # SQLite gives back naive UTC.
                    r.skipped_at if r.skipped_at.tzinfo else r.skipped_at.replace(tzinfo=UTC),
                )
                for r in rows
            ]

    def skip_reasons(self, project_id: int) -> Counter[str]:
        """How many skips gave each reason (skips without one aside)."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(SKIPS.c.reason, func.count())
                .where(SKIPS.c.project_id == project_id, SKIPS.c.reason.is_not(None))
                .group_by(SKIPS.c.reason)
            )
            return Counter({str(reason): int(count) for reason, count in rows})

    def skips_by_annotator(self, project_id: int) -> Counter[str]:
        """How many items each annotator skipped, as the skips table has them."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(SKIPS.c.annotator, func.count())
                .where(SKIPS.c.project_id == project_id)
                .group_by(SKIPS.c.annotator)
            )
            return Counter({str(annotator): int(count) for annotator, count in rows})
