"""The store: every read and write of projects, items, labels, gold items and snapshots.

Methods are synchronous and run on one dedicated thread (:meth:`Store.run`), so writes to
SQLite never contend and the event loop never waits on disk.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import timedelta
from typing import Any, ParamSpec, TypeVar, assert_never

from sqlalchemy import Engine, bindparam, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlmodel import Session, col

from streamloop.errors import Conflict, NotFound, NotReady
from streamloop.store.annotators import AnnotatorStateStore
from streamloop.store.database import open_database
from streamloop.store.driver import LabelStatements
from streamloop.store.events import insert_items
from streamloop.store.gold import GoldStore
from streamloop.store.labels import LabelStore
from streamloop.store.progress import ProgressStore
from streamloop.store.records import (
    ItemRecord,
    ItemsShed,
    JournalEntry,
    LeaseEnded,
    LeaseStarted,
    NewEvent,
    ProjectRecord,
)
from streamloop.store.skips import SkipStore
from streamloop.store.statements import (
    ITEM_COLUMNS,
    ITEMS,
    LEASES,
    SKIPS,
    SNAPSHOTS,
    chunks,
    item_record,
)
from streamloop.store.tables import ProjectRow, utcnow
from streamloop.store.tokens import Tokens

__all__ = ["Store"]

P = ParamSpec("P")
T = TypeVar("T")

#: How many snapshots of each project are kept; older ones are pruned.
SNAPSHOTS_KEPT = 3


class Store(LabelStore, GoldStore, AnnotatorStateStore, SkipStore, ProgressStore):
    """Projects, items, labels, gold items and snapshots in one SQL database."""

    def __init__(self, url: str, *, busy_timeout: float = 5.0) -> None:
        self.url = url
        self.engine: Engine = open_database(url, busy_timeout=busy_timeout)
        #: Several processes may share this database (PostgreSQL): leases are claimed in it.
        self.shared = self.engine.dialect.name == "postgresql"
        self.tokens = Tokens(self.engine)
        #: Calls waiting for or running on the store's thread: how far behind it is.
        self.backlog = 0
        #: Requests admitted and not yet answered (see `admitting`).
        self._admitted = 0
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="streamloop-store")

    @property
    def in_flight(self) -> int:
        """Work the store has taken on: calls on its thread (`backlog`) plus requests admitted
        whose writes are still to come. A caller caps this to bound memory."""
        return self.backlog + self._admitted

    @contextlib.contextmanager
    def admitting(self) -> Iterator[None]:
        """Count one request in `in_flight` from before its body is read until it is answered."""
        self._admitted += 1
        try:
            yield
        finally:
            self._admitted -= 1

    async def run(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run a store method on the store's thread and wait for it."""
        loop = asyncio.get_running_loop()
        self.backlog += 1
        try:
            return await loop.run_in_executor(
                self._executor, functools.partial(fn, *args, **kwargs)
            )
        except OperationalError as exc:
            # Locked, full or gone: the caller answers 503 and may retry; nothing is lost.
            raise NotReady(
                f"the database is unavailable: {exc.orig}", code="store_unavailable"
            ) from exc
        finally:
            self.backlog -= 1

    def close(self) -> None:
        self._executor.shutdown(wait=True)
        self.engine.dispose()

    # -- projects ---------------------------------------------------------------------------

    def create_project(self, **fields: Any) -> ProjectRecord:
        """Store a new project from `ProjectRow`'s fields (``gold_share`` may be left out)."""
        row = ProjectRow(**fields)
        with Session(self.engine) as session:
            session.add(row)
            try:
                session.commit()
            except IntegrityError as exc:
                raise Conflict(
                    f"a project named {fields['name']!r} already exists", code="project_exists"
                ) from exc
            session.refresh(row)
            return _project_record(row)

    def update_project(self, name: str, changes: dict[str, Any]) -> ProjectRecord:
        """Change fields of the project named ``name`` (404 if there is none); the project as
        stored after."""
        with Session(self.engine) as session:
            row = session.scalars(select(ProjectRow).where(col(ProjectRow.name) == name)).first()
            if row is None:
                raise NotFound(f"no project named {name!r}", code="unknown_project")
            for field, value in changes.items():
                setattr(row, field, value)
            session.add(row)
            session.commit()
            session.refresh(row)
            return _project_record(row)

    def list_projects(self) -> list[ProjectRecord]:
        with Session(self.engine) as session:
            rows = session.scalars(select(ProjectRow).order_by(col(ProjectRow.id)))
            return [_project_record(row) for row in rows]

    def project(self, name: str) -> ProjectRecord:
        """The project named ``name`` (404 ``unknown_project`` if there is none)."""
        with Session(self.engine) as session:
            row = session.scalars(select(ProjectRow).where(col(ProjectRow.name) == name)).first()
        if row is None:
            raise NotFound(f"no project named {name!r}", code="unknown_project")
        return _project_record(row)

    # -- items ------------------------------------------------------------------------------

    def insert_events(self, project_id: int, events: Sequence[NewEvent]) -> list[ItemRecord]:
        """Store new events in one transaction; an event id already stored is a duplicate.

        Returns one record per event, in order; duplicates carry the stored item.
        """
        first: dict[str, int] = {}  # each event id's first place in the batch
        for n, e in enumerate(events):
            first.setdefault(e.event_id, n)
        with self.engine.begin() as conn:
            statements = LabelStatements(conn)
            # PostgreSQL draws an id from its sequence for every row offered, stored or not:
            # there, ids already stored are looked up first, so a batch sent again spends
            # none. SQLite spends no id on a row it leaves, and the usual batch is all new.
            existing = statements.items(project_id, [], list(first)) if self.shared else {}
            fresh = [events[n] for event_id, n in first.items() if event_id not in existing]
            created = insert_items(conn, project_id, fresh, utcnow()) if fresh else {}
            # Ids stored before (or by another writer meanwhile) are read now.
            stored = [i for i in first if i not in created and i not in existing]
            if stored:
                existing.update(statements.items(project_id, [], stored))
        records: list[ItemRecord] = []
        for n, e in enumerate(events):
            item_id = created.get(e.event_id)
            if item_id is None:
                records.append(replace(existing[e.event_id], duplicate=True))
            elif first[e.event_id] == n:
                records.append(_new_item_record(item_id, e))
            else:  # sent twice in this batch: the first one is the item
                item = events[first[e.event_id]]
                records.append(_new_item_record(item_id, item, duplicate=True))
        return records

    def readmit(self, item_ids: list[int]) -> set[int]:
        """Store these shed items as queued again; the ids stored so (`LabelStatements.readmit`:
        not those labelled meanwhile)."""
        with self.engine.begin() as conn:
            return LabelStatements(conn).readmit(item_ids)

    def queued_items(self, project_id: int) -> list[ItemRecord]:
        """Items still waiting for a label, oldest first."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(*ITEM_COLUMNS)
                .where(ITEMS.c.project_id == project_id, ITEMS.c.status == "queued")
                .order_by(ITEMS.c.id)
            )
            return [item_record(r) for r in rows]

    def recent_events(self, project_id: int, limit: int) -> list[dict[str, Any]]:
        """The data of the project's latest ``limit`` events, oldest first."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(*ITEM_COLUMNS)
                .where(ITEMS.c.project_id == project_id)
                .order_by(ITEMS.c.id.desc())
                .limit(limit)
            )
            return [item_record(r).data for r in rows][::-1]

    def still_queued(self, project_id: int, item_ids: Sequence[int]) -> set[int]:
        """Which of ``item_ids`` are still waiting for a label."""
        found: set[int] = set()
        with self.engine.connect() as conn:
            for chunk in chunks(list(set(item_ids))):
                found.update(
                    conn.execute(
                        select(ITEMS.c.id).where(
                            ITEMS.c.project_id == project_id,
                            ITEMS.c.id.in_(chunk),
                            ITEMS.c.status == "queued",
                        )
                    ).scalars()
                )
        return found

    def claim_item(
        self,
        project_id: int,
        item_id: int,
        lease_id: str,
        annotator: str,
        seconds: float,
        returned: str | None = None,
    ) -> bool:
        """Claim a waiting item for a lease, unless another process holds it; True if claimed.

        ``SELECT ... FOR UPDATE SKIP LOCKED`` passes over an item another transaction is
        claiming at this moment, and the claim itself updates the item row, so a claimer that
        read the row before that commit re-checks it and sees the lease. The lease's history
        row is written in the same transaction. Times are the database's own clock.

        ``returned``: the lease of ``annotator``'s connection that closed holding the item,
        which this claim gives back to them. An item still under that very lease is theirs to
        claim again (they came back before the end of the old one was written); under any
        other lease, theirs too (another live connection, perhaps on another process), it is
        not: two connections never hold one item.
        """
        held = (ITEMS.c.lease_until.is_(None)) | (ITEMS.c.lease_until < func.now())
        if returned is not None:
            theirs = select(LEASES.c.id).where(
                LEASES.c.id == returned,
                LEASES.c.item_id == item_id,
                LEASES.c.annotator == annotator,
            )
            held = held | ITEMS.c.lease_id.in_(theirs)
        free = (
            select(ITEMS.c.id)
            .where(
                ITEMS.c.id == item_id,
                ITEMS.c.project_id == project_id,
                ITEMS.c.status == "queued",
                held,
            )
            .with_for_update(skip_locked=True)
            .scalar_subquery()
        )
        until = func.now() + timedelta(seconds=seconds)
        with self.engine.begin() as conn:
            claimed = conn.execute(
                update(ITEMS)
                .where(ITEMS.c.id == free)
                .values(lease_id=lease_id, lease_until=until)
                .returning(ITEMS.c.lease_until)
            ).first()
            if claimed is None:
                return False
            conn.execute(
                insert(LEASES).values(
                    id=lease_id,
                    project_id=project_id,
                    item_id=item_id,
                    annotator=annotator,
                    leased_at=func.now(),
                    expires_at=claimed.lease_until,
                )
            )
        return True

    def unclaimed_items(self, project_id: int, known: Sequence[int]) -> list[ItemRecord]:
        """Waiting items no lease holds, except the ``known`` ones, oldest first."""
        free = (ITEMS.c.lease_until.is_(None)) | (ITEMS.c.lease_until < func.now())
        with self.engine.connect() as conn:
            ids = conn.execute(
                select(ITEMS.c.id).where(
                    ITEMS.c.project_id == project_id, ITEMS.c.status == "queued", free
                )
            ).scalars()
            skip = set(known)
            wanted = sorted(item_id for item_id in ids if item_id not in skip)
            return [
                item_record(r)
                for chunk in chunks(wanted)
                for r in conn.execute(
                    select(*ITEM_COLUMNS).where(ITEMS.c.id.in_(chunk)).order_by(ITEMS.c.id)
                )
            ]

    def missing_events(self, project_id: int, event_ids: Sequence[str]) -> list[str]:
        """Which of ``event_ids`` this project has never received."""
        wanted = list(dict.fromkeys(event_ids))
        found: set[str] = set()
        with self.engine.connect() as conn:
            for chunk in chunks(wanted):
                found.update(
                    conn.execute(
                        select(ITEMS.c.event_id).where(
                            ITEMS.c.project_id == project_id, ITEMS.c.event_id.in_(chunk)
                        )
                    ).scalars()
                )
        return [event_id for event_id in wanted if event_id not in found]

    def count_events(self, project_id: int) -> int:
        with self.engine.connect() as conn:
            return int(
                conn.execute(
                    select(func.count()).select_from(ITEMS).where(ITEMS.c.project_id == project_id)
                ).scalar_one()
            )

    # -- leases and other journal entries ----------------------------------------------------

    def apply_journal(self, entries: Sequence[JournalEntry]) -> None:
        """Write a batch of journal entries (see :class:`~streamloop.store.journal.Journal`).

        One statement per kind, each with all its rows (``executemany``): every lease's start
        is written before any end, which is all the order that matters, since an end always
        follows its own start.
        """
        started: list[dict[str, Any]] = []
        ended: list[dict[str, Any]] = []
        shed: list[int] = []
        for entry in entries:
            match entry:
                case LeaseStarted():
                    started.append(
                        {
                            "id": entry.lease_id,
                            "project_id": entry.project_id,
                            "item_id": entry.item_id,
                            "annotator": entry.annotator,
                            "leased_at": entry.leased_at,
                            "expires_at": entry.expires_at,
                        }
                    )
                case LeaseEnded():
                    ended.append(
                        {"lease": entry.lease_id, "outcome": entry.outcome, "at": entry.ended_at}
                    )
                case ItemsShed():
                    shed.extend(entry.item_ids)
                case _:
                    assert_never(entry)
        with self.engine.begin() as conn:
            if started:
                conn.execute(insert(LEASES), started)
            if ended:
                conn.execute(
                    update(LEASES)
                    .where(LEASES.c.id == bindparam("lease"), LEASES.c.ended_at.is_(None))
                    .values(outcome=bindparam("outcome"), ended_at=bindparam("at")),
                    ended,
                )
                if self.shared:
                    conn.execute(
                        update(ITEMS)
                        .where(ITEMS.c.lease_id == bindparam("lease"))
                        .values(lease_id=None, lease_until=None),
                        [{"lease": e["lease"]} for e in ended],
                    )
            if shed:
                LabelStatements(conn).shed(shed)

    def end_open_leases(self, outcome: str = "interrupted") -> int:
        """Close the leases a stopped process left open; returns how many.

        On a shared database other processes' leases are alive: only those past their end
        are closed, and the items of the others return when their leases end.
        """
        with self.engine.begin() as conn:
            open_leases = LEASES.c.ended_at.is_(None)
            if self.shared:
                open_leases = open_leases & (LEASES.c.expires_at < func.now())
            result = conn.execute(
                update(LEASES).where(open_leases).values(outcome=outcome, ended_at=utcnow())
            )
            return int(result.rowcount)

    def skips(self, project_id: int) -> list[tuple[int, str]]:
        """(item id, annotator) of every skip of an item still waiting for a label (or, if
        overlapped, for more labels): as the lease history has it, and as the skips table
        does (written before the skip is done, where the history is written later)."""
        waiting = ITEMS.c.status.in_(("queued", "overlap"))
        with self.engine.connect() as conn:
            leases = conn.execute(
                select(LEASES.c.item_id, LEASES.c.annotator)
                .join(ITEMS, ITEMS.c.id == LEASES.c.item_id)
                .where(LEASES.c.project_id == project_id, LEASES.c.outcome == "skipped", waiting)
                .distinct()
            )
            found = {(int(r.item_id), str(r.annotator)) for r in leases}
            stored = conn.execute(
                select(ITEMS.c.id, SKIPS.c.annotator)
                .join(
                    ITEMS,
                    (ITEMS.c.project_id == SKIPS.c.project_id)
                    & (ITEMS.c.event_id == SKIPS.c.event_id),
                )
                .where(SKIPS.c.project_id == project_id, waiting)
                .distinct()
            )
            found.update((int(r.id), str(r.annotator)) for r in stored)
        return sorted(found)

    # -- snapshots --------------------------------------------------------------------------

    def save_snapshot(
        self, project_id: int, model_version: int, last_label_id: int, blob: bytes
    ) -> None:
        """Store a snapshot and prune all but the newest few."""
        with self.engine.begin() as conn:
            conn.execute(
                insert(SNAPSHOTS).values(
                    project_id=project_id,
                    model_version=model_version,
                    last_label_id=last_label_id,
                    blob=blob,
                    created_at=utcnow(),
                )
            )
            newest = (
                select(SNAPSHOTS.c.id)
                .where(SNAPSHOTS.c.project_id == project_id)
                .order_by(SNAPSHOTS.c.model_version.desc(), SNAPSHOTS.c.id.desc())
                .limit(SNAPSHOTS_KEPT)
            )
            conn.execute(
                delete(SNAPSHOTS).where(
                    SNAPSHOTS.c.project_id == project_id,
                    SNAPSHOTS.c.id.not_in(newest.scalar_subquery()),
                )
            )

    def latest_snapshot(self, project_id: int) -> tuple[int, int, bytes] | None:
        """(model_version, last_label_id, blob) of the newest snapshot, if any."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(SNAPSHOTS.c.model_version, SNAPSHOTS.c.last_label_id, SNAPSHOTS.c.blob)
                .where(SNAPSHOTS.c.project_id == project_id)
                .order_by(SNAPSHOTS.c.model_version.desc(), SNAPSHOTS.c.id.desc())
                .limit(1)
            ).first()
            return None if row is None else (int(row[0]), int(row[1]), bytes(row[2]))


def _new_item_record(item_id: int, event: NewEvent, duplicate: bool = False) -> ItemRecord:
    return ItemRecord(
        item_id,
        event.event_id,
        event.data,
        event.status,
        event.uncertainty,
        duplicate=duplicate,
        drawn_at_random=event.drawn_at_random,
    )


def _project_record(row: ProjectRow) -> ProjectRecord:
    assert row.id is not None
    created = (
        row.created_at if row.created_at.tzinfo else row.created_at.replace(tzinfo=utcnow().tzinfo)
    )
    return ProjectRecord(
        id=row.id,
        name=row.name,
        labels=tuple(row.labels),
        input=row.input,
        model=row.model,
        strategy=row.strategy,
        exploration=row.exploration,
        lease_seconds=row.lease_seconds,
        warmup=row.warmup,
        rehearsal=row.rehearsal,
        routing=row.routing,
        labels_per_annotator_hour=row.labels_per_annotator_hour,
        diversity=row.diversity,
        seed=row.seed,
        created_at=created,
        gold_share=row.gold_share,
        overlap=row.overlap,
        gold_min_accuracy=row.gold_min_accuracy,
        task=row.task,
        thresholds=row.thresholds,
        preselect=row.preselect,
        guidelines=row.guidelines or "",
        label_descriptions=row.label_descriptions,
        hide_suggestion=bool(row.hide_suggestion),
        target=row.target,
        challengers=tuple(row.challengers or ()),
        promotions=tuple(row.promotions or ()),
    )
