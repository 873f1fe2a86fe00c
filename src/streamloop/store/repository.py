"""The store: every read and write of projects, items, labels and snapshots.

Methods are synchronous and run on one dedicated thread (:meth:`Store.run`), so writes to
SQLite never contend and the event loop never waits on disk.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any, ParamSpec, TypeVar

from sqlalchemy import Engine, bindparam, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlmodel import Session, col

from streamloop.errors import Conflict, NotFound, NotReady
from streamloop.store.database import open_database
from streamloop.store.records import (
    ItemRecord,
    LabelOutcome,
    NewEvent,
    NewLabel,
    ProjectRecord,
    ReplayLabel,
)
from streamloop.store.tables import ItemRow, LabelRow, LeaseRow, ProjectRow, SnapshotRow, utcnow
from streamloop.store.tokens import Tokens

__all__ = ["Store"]

P = ParamSpec("P")
T = TypeVar("T")

#: How many snapshots of each project are kept; older ones are pruned.
SNAPSHOTS_KEPT = 3
_ITEMS = ItemRow.__table__  # type: ignore[attr-defined]
_LABELS = LabelRow.__table__  # type: ignore[attr-defined]
_SNAPSHOTS = SnapshotRow.__table__  # type: ignore[attr-defined]
_LEASES = LeaseRow.__table__  # type: ignore[attr-defined]
_PROJECTS = ProjectRow.__table__  # type: ignore[attr-defined]
_ITEM_COLUMNS = (
    _ITEMS.c.id,
    _ITEMS.c.event_id,
    _ITEMS.c.data,
    _ITEMS.c.status,
    _ITEMS.c.uncertainty,
    _ITEMS.c.drawn_at_random,
)

# Statements of the label path, built once: building one costs more than running it on SQLite.
_STORED_LABELS = select(
    _LABELS.c.id, _LABELS.c.label_id, _LABELS.c.model_version, _LABELS.c.item_id
).where(
    _LABELS.c.project_id == bindparam("project"),
    _LABELS.c.label_id.in_(bindparam("keys", expanding=True)),
)
_ITEMS_BY_ID = select(*_ITEM_COLUMNS).where(
    _ITEMS.c.project_id == bindparam("project"), _ITEMS.c.id.in_(bindparam("keys", expanding=True))
)
_ITEMS_BY_EVENT = select(*_ITEM_COLUMNS).where(
    _ITEMS.c.project_id == bindparam("project"),
    _ITEMS.c.event_id.in_(bindparam("keys", expanding=True)),
)

_INSERT_LABELS = insert(_LABELS).returning(_LABELS.c.id, sort_by_parameter_order=True)
_MARK_LABELLED = (
    update(_ITEMS)
    .where(_ITEMS.c.id.in_(bindparam("keys", expanding=True)))
    .values(status="labelled")
)


class Store:
    """Projects, items, labels and snapshots in one SQL database."""

    def __init__(self, url: str, *, busy_timeout: float = 5.0) -> None:
        self.url = url
        self.engine: Engine = open_database(url, busy_timeout=busy_timeout)
        #: Several processes may share this database (PostgreSQL): leases are claimed in it.
        self.shared = self.engine.dialect.name == "postgresql"
        self.tokens = Tokens(self.engine)
        #: Calls waiting for or running on the store's thread: how far behind it is.
        self.backlog = 0
        #: Events requests admitted and not yet answered (see `admitting_events`).
        self.admitted = 0
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="streamloop-store")

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

    def list_projects(self) -> list[ProjectRecord]:
        with Session(self.engine) as session:
            rows = session.scalars(select(ProjectRow).order_by(col(ProjectRow.id)))
            return [_project_record(row) for row in rows]

    # -- items ------------------------------------------------------------------------------

    def insert_events(self, project_id: int, events: Sequence[NewEvent]) -> list[ItemRecord]:
        """Store new events in one transaction; an event id already stored is a duplicate.

        Returns one record per event, in order; duplicates carry the stored item.
        """
        ids = list({e.event_id for e in events})
        with self.engine.begin() as conn:
            existing = {
                row.event_id: row
                for chunk in _chunks(ids)
                for row in conn.execute(
                    select(*_ITEM_COLUMNS).where(
                        _ITEMS.c.project_id == project_id, _ITEMS.c.event_id.in_(chunk)
                    )
                )
            }
            fresh: dict[str, NewEvent] = {}
            for e in events:
                if e.event_id not in existing and e.event_id not in fresh:
                    fresh[e.event_id] = e
            created: dict[str, int] = {}
            if fresh:
                now = utcnow()
                rows = [
                    {
                        "project_id": project_id,
                        "event_id": e.event_id,
                        "data": e.data,
                        "status": e.status,
                        "uncertainty": e.uncertainty,
                        "drawn_at_random": e.drawn_at_random,
                        "created_at": now,
                    }
                    for e in fresh.values()
                ]
                result = conn.execute(
                    insert(_ITEMS).returning(
                        _ITEMS.c.id, _ITEMS.c.event_id, sort_by_parameter_order=True
                    ),
                    rows,
                )
                created = {event_id: item_id for item_id, event_id in result}
        records: list[ItemRecord] = []
        first_seen: set[str] = set()
        for e in events:
            if e.event_id in created and e.event_id not in first_seen:
                first_seen.add(e.event_id)
                records.append(_new_item_record(created[e.event_id], e))
            elif e.event_id in existing:
                records.append(_item_record(existing[e.event_id], duplicate=True))
            else:  # sent twice in this batch: the first one is the item
                records.append(
                    _new_item_record(created[e.event_id], fresh[e.event_id], duplicate=True)
                )
        return records

    def set_item_status(self, item_ids: Sequence[int], status: str) -> None:
        with self.engine.begin() as conn:
            for chunk in _chunks(list(item_ids)):
                conn.execute(update(_ITEMS).where(_ITEMS.c.id.in_(chunk)).values(status=status))

    def queued_items(self, project_id: int) -> list[ItemRecord]:
        """Items still waiting for a label, oldest first."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(*_ITEM_COLUMNS)
                .where(_ITEMS.c.project_id == project_id, _ITEMS.c.status == "queued")
                .order_by(_ITEMS.c.id)
            )
            return [_item_record(r) for r in rows]

    def still_queued(self, project_id: int, item_ids: Sequence[int]) -> set[int]:
        """Which of ``item_ids`` are still waiting for a label."""
        found: set[int] = set()
        with self.engine.connect() as conn:
            for chunk in _chunks(list(set(item_ids))):
                found.update(
                    conn.execute(
                        select(_ITEMS.c.id).where(
                            _ITEMS.c.project_id == project_id,
                            _ITEMS.c.id.in_(chunk),
                            _ITEMS.c.status == "queued",
                        )
                    ).scalars()
                )
        return found

    def claim_item(
        self, project_id: int, item_id: int, lease_id: str, annotator: str, seconds: float
    ) -> bool:
        """Claim a waiting item for a lease, unless another process holds it; True if claimed.

        ``SELECT ... FOR UPDATE SKIP LOCKED`` passes over an item another transaction is
        claiming at this moment, and the claim itself updates the item row, so a claimer that
        read the row before that commit re-checks it and sees the lease. The lease's history
        row is written in the same transaction. Times are the database's own clock.
        """
        free = (
            select(_ITEMS.c.id)
            .where(
                _ITEMS.c.id == item_id,
                _ITEMS.c.project_id == project_id,
                _ITEMS.c.status == "queued",
                (_ITEMS.c.lease_until.is_(None)) | (_ITEMS.c.lease_until < func.now()),
            )
            .with_for_update(skip_locked=True)
            .scalar_subquery()
        )
        until = func.now() + timedelta(seconds=seconds)
        with self.engine.begin() as conn:
            claimed = conn.execute(
                update(_ITEMS)
                .where(_ITEMS.c.id == free)
                .values(lease_id=lease_id, lease_until=until)
                .returning(_ITEMS.c.lease_until)
            ).first()
            if claimed is None:
                return False
            conn.execute(
                insert(_LEASES).values(
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
        free = (_ITEMS.c.lease_until.is_(None)) | (_ITEMS.c.lease_until < func.now())
        with self.engine.connect() as conn:
            ids = conn.execute(
                select(_ITEMS.c.id).where(
                    _ITEMS.c.project_id == project_id, _ITEMS.c.status == "queued", free
                )
            ).scalars()
            skip = set(known)
            wanted = sorted(item_id for item_id in ids if item_id not in skip)
            return [
                _item_record(r)
                for chunk in _chunks(wanted)
                for r in conn.execute(
                    select(*_ITEM_COLUMNS).where(_ITEMS.c.id.in_(chunk)).order_by(_ITEMS.c.id)
                )
            ]

    def missing_events(self, project_id: int, event_ids: Sequence[str]) -> list[str]:
        """Which of ``event_ids`` this project has never received."""
        wanted = list(dict.fromkeys(event_ids))
        found: set[str] = set()
        with self.engine.connect() as conn:
            for chunk in _chunks(wanted):
                found.update(
                    conn.execute(
                        select(_ITEMS.c.event_id).where(
                            _ITEMS.c.project_id == project_id, _ITEMS.c.event_id.in_(chunk)
                        )
                    ).scalars()
                )
        return [event_id for event_id in wanted if event_id not in found]

    def count_events(self, project_id: int) -> int:
        with self.engine.connect() as conn:
            return int(
                conn.execute(
                    select(func.count())
                    .select_from(_ITEMS)
                    .where(_ITEMS.c.project_id == project_id)
                ).scalar_one()
            )

    # -- labels -----------------------------------------------------------------------------

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
                    select(_PROJECTS.c.id).where(_PROJECTS.c.id == project_id).with_for_update()
                )
                newest = conn.execute(
                    select(func.max(_LABELS.c.id)).where(_LABELS.c.project_id == project_id)
                ).scalar_one()
                if (newest or 0) != after_label_id:
                    raise Conflict(
                        f"labels after {after_label_id} were stored by another learner",
                        code="stale_learner",
                    )
            stored = {
                r.label_id: r
                for chunk in _chunks(list({lb.label_id for lb in labels}))
                for r in conn.execute(_STORED_LABELS, {"project": project_id, "keys": chunk})
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
                result = conn.execute(_INSERT_LABELS, new_rows)
                for outcome, (row_id,) in zip(fresh, result, strict=True):
                    outcome.row_id = row_id
                for chunk in _chunks(list(newly_labelled)):
                    conn.execute(_MARK_LABELLED, {"keys": chunk})
        return outcomes

    def _items_for(
        self, conn: Any, project_id: int, labels: Sequence[NewLabel]
    ) -> dict[int | str | None, ItemRecord]:
        by_id = list({lb.item_id for lb in labels if lb.item_id is not None})
        by_event = list({lb.event_id for lb in labels if lb.item_id is None and lb.event_id})
        found: dict[int | str | None, ItemRecord] = {}
        for statement, keys in ((_ITEMS_BY_ID, by_id), (_ITEMS_BY_EVENT, by_event)):
            for chunk in _chunks(keys):
                for r in conn.execute(statement, {"project": project_id, "keys": chunk}):
                    found[r.id if statement is _ITEMS_BY_ID else r.event_id] = _item_record(r)
        return found

    def labels_after(self, project_id: int, last_label_id: int) -> Iterator[ReplayLabel]:
        """Labels learned after ``last_label_id``, in learning order, with their items' data."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(
                    _LABELS.c.id,
                    _ITEMS.c.data,
                    _LABELS.c.label,
                    _LABELS.c.model_version,
                    _LABELS.c.drawn_at_random,
                    _LABELS.c.annotator,
                    _LABELS.c.corrects,
                )
                .join(_ITEMS, _ITEMS.c.id == _LABELS.c.item_id)
                .where(_LABELS.c.project_id == project_id, _LABELS.c.id > last_label_id)
                .order_by(_LABELS.c.id)
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

    def label_of(self, project_id: int, label_id: str) -> tuple[int, str, str | None] | None:
        """(item id, event id, annotator) of a stored label, by its ``label_id``."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(_LABELS.c.item_id, _ITEMS.c.event_id, _LABELS.c.annotator)
                .join(_ITEMS, _ITEMS.c.id == _LABELS.c.item_id)
                .where(_LABELS.c.project_id == project_id, _LABELS.c.label_id == label_id)
            ).first()
        return None if row is None else (int(row.item_id), str(row.event_id), row.annotator)

    def replay_labels(self, project_id: int, last_label_id: int) -> list[ReplayLabel]:
        return list(self.labels_after(project_id, last_label_id))

    # -- leases and other journal entries ----------------------------------------------------

    def apply_journal(self, entries: Sequence[tuple[str, dict[str, Any]]]) -> None:
        """Write a batch of journal entries (see :class:`~streamloop.store.journal.Journal`).

        One statement per kind, each with all its rows (``executemany``): every lease's start
        is written before any end, which is all the order that matters, since an end always
        follows its own start.
        """
        started: list[dict[str, Any]] = []
        ended: list[dict[str, Any]] = []
        shed: list[int] = []
        for kind, fields in entries:
            if kind == "lease_started":
                started.append(fields)
            elif kind == "lease_ended":
                ended.append(
                    {"lease": fields["id"], "outcome": fields["outcome"], "at": fields["ended_at"]}
                )
            elif kind == "items_shed":
                shed.extend(fields["item_ids"])
            else:
                raise ValueError(f"unknown journal entry {kind!r}")
        with self.engine.begin() as conn:
            if started:
                conn.execute(insert(_LEASES), started)
            if ended:
                conn.execute(
                    update(_LEASES)
                    .where(_LEASES.c.id == bindparam("lease"), _LEASES.c.ended_at.is_(None))
                    .values(outcome=bindparam("outcome"), ended_at=bindparam("at")),
                    ended,
                )
                if self.shared:
                    conn.execute(
                        update(_ITEMS)
                        .where(_ITEMS.c.lease_id == bindparam("lease"))
                        .values(lease_id=None, lease_until=None),
                        [{"lease": e["lease"]} for e in ended],
                    )
            for chunk in _chunks(shed):
                conn.execute(
                    update(_ITEMS)
                    .where(_ITEMS.c.id.in_(chunk), _ITEMS.c.status == "queued")
                    .values(status="shed")
                )

    def end_open_leases(self, outcome: str = "interrupted") -> int:
        """Close the leases a stopped process left open; returns how many.

        On a shared database other processes' leases are alive: only those past their end
        are closed, and the items of the others return when their leases end.
        """
        with self.engine.begin() as conn:
            open_leases = _LEASES.c.ended_at.is_(None)
            if self.shared:
                open_leases = open_leases & (_LEASES.c.expires_at < func.now())
            result = conn.execute(
                update(_LEASES).where(open_leases).values(outcome=outcome, ended_at=utcnow())
            )
            return int(result.rowcount)

    def skips(self, project_id: int) -> list[tuple[int, str]]:
        """(item id, annotator) of every skip of an item still waiting for a label."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(_LEASES.c.item_id, _LEASES.c.annotator)
                .join(_ITEMS, _ITEMS.c.id == _LEASES.c.item_id)
                .where(
                    _LEASES.c.project_id == project_id,
                    _LEASES.c.outcome == "skipped",
                    _ITEMS.c.status == "queued",
                )
                .distinct()
            )
            return [(int(r.item_id), str(r.annotator)) for r in rows]

    # -- snapshots --------------------------------------------------------------------------

    def save_snapshot(
        self, project_id: int, model_version: int, last_label_id: int, blob: bytes
    ) -> None:
        """Store a snapshot and prune all but the newest few."""
        with self.engine.begin() as conn:
            conn.execute(
                insert(_SNAPSHOTS).values(
                    project_id=project_id,
                    model_version=model_version,
                    last_label_id=last_label_id,
                    blob=blob,
                    created_at=utcnow(),
                )
            )
            newest = (
                select(_SNAPSHOTS.c.id)
                .where(_SNAPSHOTS.c.project_id == project_id)
                .order_by(_SNAPSHOTS.c.model_version.desc(), _SNAPSHOTS.c.id.desc())
                .limit(SNAPSHOTS_KEPT)
            )
            conn.execute(
                delete(_SNAPSHOTS).where(
                    _SNAPSHOTS.c.project_id == project_id,
                    _SNAPSHOTS.c.id.not_in(newest.scalar_subquery()),
                )
            )

    def latest_snapshot(self, project_id: int) -> tuple[int, int, bytes] | None:
        """(model_version, last_label_id, blob) of the newest snapshot, if any."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(_SNAPSHOTS.c.model_version, _SNAPSHOTS.c.last_label_id, _SNAPSHOTS.c.blob)
                .where(_SNAPSHOTS.c.project_id == project_id)
                .order_by(_SNAPSHOTS.c.model_version.desc(), _SNAPSHOTS.c.id.desc())
                .limit(1)
            ).first()
            return None if row is None else (int(row[0]), int(row[1]), bytes(row[2]))


def _item_record(row: Any, duplicate: bool = False) -> ItemRecord:
    return ItemRecord(
        row.id,
        row.event_id,
        row.data,
        row.status,
        row.uncertainty,
        duplicate=duplicate,
        drawn_at_random=row.drawn_at_random,
    )


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
    )


def _chunks(values: list[Any], size: int = 500) -> Iterator[list[Any]]:
    # SQLite caps bound parameters per statement; chunked IN lists stay under it.
    for start in range(0, len(values), size):
        yield values[start : start + size]
