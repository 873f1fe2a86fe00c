"""The labels' part of the store: the group commit, replay, export, and looking a label up."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from typing import Any, NamedTuple

from sqlalchemy import Engine, and_, func, select

from streamloop.errors import Conflict, Forbidden, InvalidInput, NotFound, StreamloopError
from streamloop.store.annotators import counted_labels
from streamloop.store.driver import LabelStatements
from streamloop.store.records import (
    ExportLabel,
    ItemRecord,
    LabelOutcome,
    NewLabel,
    ReplayLabel,
    ReviewRecord,
)
from streamloop.store.statements import (
    ITEM_COLUMNS,
    ITEMS,
    ITEMS_BY_EVENT,
    LABELS,
    SET_STATUS,
    item_record,
)
from streamloop.store.tables import utcnow

__all__ = ["LabelStore", "Said", "judge"]


class Said(NamedTuple):
    """A label stored on an item, as the rules for the item's next label need it."""

    label_id: str
    annotator: str | None
    label: str
    learned: bool
    source: str
    comment: str | None = None


def judge(
    label: NewLabel,
    status: str,
    said: Sequence[Said],
    wanted: int,
    quarantined: Collection[str] = (),
) -> tuple[bool, str] | StreamloopError:
    """Whether ``label`` is learned, and its item's status after it; or why it is refused.

    An item is learned once: its first label. An overlapped item (``wanted`` annotators) then
    waits in ``overlap`` for the others' labels, recorded and not learned; once each has given
    one it is ``labelled`` if they all agree and in ``review`` if not. A review's outcome is
    learned as a correction when it differs from what the model learned, and only recorded
    when it agrees (a ``quarantined`` annotator's label is not what the model learned). A
    correction is learned when the label it corrects was.
    """
    if label.source == "review":
        if status != "review":
            return Conflict(f"item {label.event_id!r} is not in review", code="not_in_review")
        learned = [s.label for s in said if s.learned and s.annotator not in quarantined]
        return (not learned or learned[-1] != label.label), "labelled"
    if label.corrects is not None:
        corrected = [s for s in said if s.label_id == label.corrects]
        return (corrected[-1].learned if corrected else True), status
    if status in ("labelled", "review") or (status == "overlap" and label.annotator is None):
        return Conflict(f"item {label.event_id!r} is already labelled", code="already_labelled")
    if status != "overlap":
        first = label.overlap > 1 and label.annotator is not None
        return True, "overlap" if first else "labelled"
    latest = _latest_by_annotator(said)
    if label.annotator in latest:
        return Conflict(
            f"item {label.event_id!r} was already labelled by {label.annotator!r}",
            code="already_labelled",
        )
    assert label.annotator is not None
    latest[label.annotator] = label.label
    if len(latest) < wanted:
        return False, "overlap"
    return False, "labelled" if len(set(latest.values())) == 1 else "review"


def _history(run: LabelStatements, item_ids: Sequence[int]) -> dict[int, list[Said]]:
    """The labels stored on these items, in order."""
    found: dict[int, list[Said]] = {}
    for r in run.labels_on(sorted(set(item_ids))):
        found.setdefault(int(r.item_id), []).append(
            Said(r.label_id, r.annotator, r.label, r.learned, r.source, r.comment)
        )
    return found


def _latest_by_annotator(said: Sequence[Said]) -> dict[str, str]:
    """Each annotator's label of an item (a correction replaces theirs); reviews aside."""
    latest: dict[str, str] = {}
    for s in said:
        if s.annotator is not None and s.source == "annotator":
            latest[s.annotator] = s.label
    return latest


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
        fit: Callable[[str, Mapping[str, Any]], str] | None = None,
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

        ``fit`` gives an answer as it is kept for its item's data (spans grown to whole words),
        or raises ValueError when it does not fit (a span past the text): such a label is
        refused alone (``invalid_input``).
        """
        outcomes = [LabelOutcome(label=label) for label in labels]
        with self.engine.begin() as conn:
            run = LabelStatements(conn)
            if after_label_id is not None:
                newest = run.lock_project(project_id)
                if newest != after_label_id:
                    raise Conflict(
                        f"labels after {after_label_id} were stored by another learner",
                        code="stale_learner",
                    )
            stored = run.stored_labels(project_id, list({lb.label_id for lb in labels}))
            items = run.items(
                project_id,
                list({lb.item_id for lb in labels if lb.item_id is not None}),
                list({lb.event_id for lb in labels if lb.item_id is None and lb.event_id}),
            )
            # What was said about items labelled more than once, or about to be corrected.
            corrected = {lb.item_id or lb.event_id for lb in labels if lb.corrects is not None}
            history = _history(
                run,
                [
                    item.id
                    for key, item in items.items()
                    if item.status in ("overlap", "review") or key in corrected
                ],
            )
            quarantined: set[str] = set()
            # A review compares with what counts; a fenced learner (a worker, taking labels
            # from every web process) refuses a quarantined annotator's labels here, in the
            # transaction, whatever reached it before it heard of the quarantine.
            if after_label_id is not None or any(lb.source == "review" for lb in labels):
                quarantined = run.quarantined(project_id)
            version = base_version
            seen: dict[str, LabelOutcome] = {}
            new_rows: list[tuple[Any, ...]] = []
            fresh: list[LabelOutcome] = []
            status: dict[int, str] = {}
            wanted: dict[int, int] = {}
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
                if label.source == "annotator" and label.annotator in quarantined:
                    outcome.error = Forbidden(
                        f"{label.annotator} is quarantined: their labels do not count",
                        code="quarantined",
                    )
                    continue
                item = items.get(label.item_id if label.item_id is not None else label.event_id)
                if item is None:
                    outcome.error = NotFound(
                        f"no item {label.event_id or label.item_id!r} in this project",
                        code="unknown_item",
                    )
                    continue
                if fit is not None:
                    try:
                        kept = fit(label.label, item.data)
                    except ValueError as exc:
                        outcome.error = InvalidInput(str(exc), code="invalid_input")
                        continue
                    if kept != label.label:
                        label = outcome.label = dataclasses.replace(label, label=kept)
                said = history.setdefault(item.id, [])
                judged = judge(
                    label, status.get(item.id, item.status), said, item.wanted, quarantined
                )
                if isinstance(judged, StreamloopError):
                    outcome.error = judged
                    continue
                learned, status[item.id] = judged
                if status[item.id] == "overlap" and not said:
                    wanted[item.id] = label.overlap
                    item = dataclasses.replace(item, wanted=label.overlap)
                    items[label.item_id if label.item_id is not None else label.event_id] = item
                said.append(
                    Said(
                        label.label_id,
                        label.annotator,
                        label.label,
                        learned,
                        label.source,
                        label.comment,
                    )
                )
                if learned:
                    version += 1
                outcome.item_id, outcome.event_id, outcome.data = item.id, item.event_id, item.data
                outcome.model_version = version
                outcome.learned, outcome.item_status = learned, status[item.id]
                fresh.append(outcome)
                new_rows.append(
                    (
                        project_id,
                        label.label_id,
                        item.id,
                        label.label,
                        label.annotator,
                        label.source,
                        label.drawn_at_random,
                        label.corrects,
                        learned,
                        version,
                        label.comment,
                        now,
                    )
                )
            if new_rows:
                row_ids = run.insert_labels(new_rows)
                for outcome in fresh:
                    outcome.row_id = row_ids[outcome.label.label_id]
                for now_status in set(status.values()):
                    run.set_status([i for i, s in status.items() if s == now_status], now_status)
                for item_id, count in wanted.items():
                    run.set_wanted(item_id, count)
        return outcomes

    def labels_after(
        self, project_id: int, last_label_id: int, excluded: Collection[str] = ()
    ) -> Iterator[ReplayLabel]:
        """Labels stored after ``last_label_id``, in learning order, with their items' data.
        Those the model is not to learn say so (``learned`` false): recorded only (an
        overlapped item's later labels), or not counting with ``excluded`` quarantined
        (`counted_labels`). Every row comes, so a replay ends at the newest stored label."""
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
                    and_(LABELS.c.learned, *counted_labels(excluded)).label("counts"),
                    LABELS.c.source,
                )
                .join(ITEMS, ITEMS.c.id == LABELS.c.item_id)
                .where(LABELS.c.project_id == project_id, LABELS.c.id > last_label_id)
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
                    # A review's outcome, learned, corrects what the model learned first.
                    correction=r.corrects is not None or r.source == "review",
                    learned=bool(r.counts),
                )

    def labels_to_export(
        self, project_id: int, excluded: Collection[str] = ()
    ) -> Iterator[ExportLabel]:
        """Every label of the project with its item, in learning order, read in pages; each
        says whether the model learns it, with ``excluded`` quarantined (as `labels_after`).

        The connection stays open while the caller iterates: consume it on one thread.
        """
        query = (
            select(
                LABELS.c.id,
                LABELS.c.label_id,
                ITEMS.c.event_id,
                ITEMS.c.data,
                LABELS.c.label,
                LABELS.c.source,
                LABELS.c.annotator,
                LABELS.c.corrects,
                LABELS.c.drawn_at_random,
                LABELS.c.created_at,
                and_(LABELS.c.learned, *counted_labels(excluded)).label("counts"),
                LABELS.c.comment,
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
                    learned=bool(r.counts),
                    comment=r.comment,
                    row_id=r.id,
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

    # -- overlap, agreement and review ---------------------------------------------------------

    def overlapping(self, project_id: int) -> list[tuple[ItemRecord, list[str]]]:
        """Overlapped items still waiting for labels, oldest first, each with the annotators
        who labelled it."""
        with self.engine.connect() as conn:
            items = [
                item_record(r)
                for r in conn.execute(
                    select(*ITEM_COLUMNS)
                    .where(ITEMS.c.project_id == project_id, ITEMS.c.status == "overlap")
                    .order_by(ITEMS.c.id)
                )
            ]
            said = _history(LabelStatements(conn), [item.id for item in items])
        return [(item, sorted(_latest_by_annotator(said.get(item.id, [])))) for item in items]

    def overlapped_labels(self, project_id: int) -> list[tuple[int, str, str]]:
        """(item id, annotator, label) of annotators' labels on overlapped items, in order:
        what agreement between annotators is computed from."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(LABELS.c.item_id, LABELS.c.annotator, LABELS.c.label)
                .join(ITEMS, ITEMS.c.id == LABELS.c.item_id)
                .where(
                    LABELS.c.project_id == project_id,
                    LABELS.c.source == "annotator",
                    LABELS.c.annotator.is_not(None),
                    ITEMS.c.wanted > 1,
                )
                .order_by(LABELS.c.id)
            )
            return [(int(r.item_id), str(r.annotator), str(r.label)) for r in rows]

    def recorded_labels(self, project_id: int) -> dict[str, int]:
        """How many labels each annotator gave that were recorded, not learned (an overlapped
        item's later labels); corrections aside."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(LABELS.c.annotator, func.count())
                .where(
                    LABELS.c.project_id == project_id,
                    LABELS.c.source == "annotator",
                    LABELS.c.learned.is_(False),
                    LABELS.c.corrects.is_(None),
                )
                .group_by(LABELS.c.annotator)
            )
            return {str(name): int(count) for name, count in rows if name is not None}

    def review_items(
        self, project_id: int, item_ids: Sequence[int] | None = None
    ) -> list[ReviewRecord]:
        """Items in review (all, or those of ``item_ids`` that are), oldest first, each with
        every label stored on it (``learned``: the model has it now, a quarantined annotator's
        label aside) and why it is there: ``quarantined`` (the label the model had was a
        quarantined annotator's), ``disagreement`` (its annotators disagreed), or ``flagged``
        (a supervisor's doubt, or a settled item sent again)."""
        query = select(*ITEM_COLUMNS).where(
            ITEMS.c.project_id == project_id, ITEMS.c.status == "review"
        )
        if item_ids is not None:
            query = query.where(ITEMS.c.id.in_(list(item_ids)))
        with self.engine.connect() as conn:
            items = [item_record(r) for r in conn.execute(query.order_by(ITEMS.c.id))]
            run = LabelStatements(conn)
            said = _history(run, [item.id for item in items])
            quarantined = run.quarantined(project_id)
        records = []
        for item in items:
            labels = [
                s._replace(learned=s.learned and s.annotator not in quarantined)
                if s.source == "annotator"
                else s
                for s in said.get(item.id, [])
            ]
            latest = _latest_by_annotator(labels)
            if any(
                s.learned != o.learned for s, o in zip(labels, said.get(item.id, []), strict=True)
            ):
                reason = "quarantined"
            elif any(s.source == "review" for s in labels):
                reason = "flagged"
            elif item.wanted > 1 and len(set(latest.values())) > 1:
                reason = "disagreement"
            else:
                reason = "flagged"
            records.append(
                ReviewRecord(
                    item.id, item.event_id, item.data, reason, tuple(s._asdict() for s in labels)
                )
            )
        return records

    def flag_for_review(self, project_id: int, event_id: str) -> ReviewRecord:
        """Send a labelled item to review (a supervisor's doubt). Already in review: as is."""
        with self.engine.begin() as conn:
            row = conn.execute(ITEMS_BY_EVENT, {"project": project_id, "keys": [event_id]}).first()
            if row is None:
                raise NotFound(f"no item {event_id!r} in this project", code="unknown_item")
            item = item_record(row)
            if item.status not in ("labelled", "review"):
                raise Conflict(
                    f"item {event_id!r} is {item.status}: only a labelled item can be reviewed",
                    code="not_labelled",
                )
            conn.execute(SET_STATUS, {"keys": [item.id], "status": "review"})
        [record] = self.review_items(project_id, [item.id])
        return record

    def replay_labels(
        self, project_id: int, last_label_id: int, excluded: Collection[str] = ()
    ) -> list[ReplayLabel]:
        return list(self.labels_after(project_id, last_label_id, excluded))
