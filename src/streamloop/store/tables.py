"""The tables: projects, items (every event received), labels, model snapshots, API tokens,
gold items and the answers annotators gave them, and annotators taken out of the model."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Column, LargeBinary, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

__all__ = [
    "AnnotatorStateRow",
    "GoldAnswerRow",
    "GoldItemRow",
    "ItemRow",
    "LabelRow",
    "LeaseRow",
    "ProjectRow",
    "SkipRow",
    "SnapshotRow",
    "TokenRow",
    "utcnow",
]


def utcnow() -> datetime:
    return datetime.now(UTC)


class ProjectRow(SQLModel, table=True):
    """One labelling task with one online model."""

    __tablename__ = "projects"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True, max_length=64)
    labels: list[str] = Field(sa_column=Column(JSON, nullable=False))
    input: str
    model: str
    strategy: str
    exploration: float
    lease_seconds: float
    warmup: int = 0
    rehearsal: int = 0
    routing: str = "pool"
    labels_per_annotator_hour: float = 120.0
    diversity: float = 0.0
    seed: int = 0
    #: The share of each annotator's items that are gold; ``None``: the service's default.
    gold_share: float | None = None
    #: ``{"share", "annotators"}``: that share of items is labelled by that many annotators.
    overlap: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    #: Below this gold accuracy (its interval's upper bound) an annotator is quarantined.
    gold_min_accuracy: float | None = None
    #: ``classify`` (one label an item) or ``multilabel`` (a set of labels an item).
    task: str = "classify"
    #: Multi-label: labels to their own threshold (the others 0.5); ``None``: all 0.5.
    thresholds: dict[str, float] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    #: Multi-label: annotators are shown the model's predicted labels already selected.
    preselect: bool = False
    #: Shown to annotators and reviewers: guidelines (light Markdown, as given), a description
    #: per label, whether the model's suggestion is hidden, and the labels aimed for. These
    #: may change after creation.
    guidelines: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    label_descriptions: dict[str, str] | None = Field(
        default=None, sa_column=Column(JSON, nullable=True)
    )
    hide_suggestion: bool = False
    target: int | None = None
    #: Models learning the same labels beside the one serving (``model``), by name.
    challengers: list[str] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    #: Each promotion, oldest first: ``{"model", "replaced", "model_version", "after_label",
    #: "at"}`` (``after_label``: the last label's row id learned before it).
    promotions: list[dict[str, Any]] | None = Field(
        default=None, sa_column=Column(JSON, nullable=True)
    )
    created_at: datetime = Field(default_factory=utcnow)


class ItemRow(SQLModel, table=True):
    """An event as received; ``status`` says where it is in the loop.

    ``scored`` (predicted, not routed), ``queued`` (waiting for or held by an annotator),
    ``overlap`` (labelled and learned once, waiting for more annotators' independent labels),
    ``review`` (its annotators disagreed, or a supervisor flagged it: waiting for a reviewer),
    ``labelled``, or ``shed`` (dropped from a full queue). ``lease_id`` and ``lease_until``
    are the item's claim when web processes share a PostgreSQL store: the lease holding it
    and when that lease ends (the database's clock).
    """

    __tablename__ = "items"
    __table_args__ = (UniqueConstraint("project_id", "event_id"),)

    id: int | None = Field(default=None, primary_key=True)
    project_id: int = Field(foreign_key="projects.id", index=True)
    event_id: str
    data: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    status: str = Field(index=True)
    uncertainty: float
    #: Routed by a random draw (stream mode), not for its uncertainty: a fair sample.
    drawn_at_random: bool = False
    #: How many annotators are to label it, independently (more than one: overlapped).
    wanted: int = 1
    created_at: datetime = Field(default_factory=utcnow)
    lease_id: str | None = Field(default=None, max_length=32, index=True)
    lease_until: datetime | None = None


class LeaseRow(SQLModel, table=True):
    """One lease of an item to an annotator's connection, and how it ended.

    ``outcome``: ``labelled``, ``skipped``, ``expired``, ``released`` (the connection closed),
    ``revoked`` (labelled from elsewhere) or ``interrupted`` (the process stopped); ``None``
    while it runs. A skipped item is never offered to that annotator again, restarts included.
    """

    __tablename__ = "leases"

    id: str = Field(primary_key=True, max_length=32)
    project_id: int = Field(foreign_key="projects.id", index=True)
    item_id: int = Field(foreign_key="items.id", index=True)
    annotator: str
    leased_at: datetime
    expires_at: datetime
    ended_at: datetime | None = None
    outcome: str | None = None


class LabelRow(SQLModel, table=True):
    """A label, in the order it was learned: ``id`` is the replay order."""

    __tablename__ = "labels"
    __table_args__ = (UniqueConstraint("project_id", "label_id"),)

    id: int | None = Field(default=None, primary_key=True)
    project_id: int = Field(foreign_key="projects.id", index=True)
    label_id: str
    item_id: int = Field(foreign_key="items.id", index=True)
    label: str
    annotator: str | None = None
    source: str
    drawn_at_random: bool = False
    #: For a correction (an annotator's, so ``source`` "annotator"): the ``label_id`` it corrects.
    corrects: str | None = None
    #: Learned by the model. An overlapped item's later labels are recorded, not learned; so
    #: is a review's outcome that agrees with what the model learned. Replay skips them.
    learned: bool = True
    model_version: int
    #: The annotator's or reviewer's note on it, shown to reviewers and exported.
    comment: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    created_at: datetime = Field(default_factory=utcnow)


class GoldItemRow(SQLModel, table=True):
    """An item whose answer is known, shown to annotators to score them; never learned."""

    __tablename__ = "gold_items"
    __table_args__ = (UniqueConstraint("project_id", "gold_id"),)

    id: int | None = Field(default=None, primary_key=True)
    project_id: int = Field(foreign_key="projects.id", index=True)
    #: The client's id for it: sending it again is a duplicate.
    gold_id: str = Field(max_length=256)
    data: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    label: str
    created_at: datetime = Field(default_factory=utcnow)


class GoldAnswerRow(SQLModel, table=True):
    """An annotator's answer to a gold item, and whether it was the known one."""

    __tablename__ = "gold_answers"
    # One answer per annotator and gold item (a correction changes it); a label_id once.
    __table_args__ = (
        UniqueConstraint("project_id", "label_id"),
        UniqueConstraint("gold_item_id", "annotator"),
    )

    id: int | None = Field(default=None, primary_key=True)
    project_id: int = Field(foreign_key="projects.id", index=True)
    gold_item_id: int = Field(foreign_key="gold_items.id")
    annotator: str = Field(max_length=64)
    label: str
    correct: bool
    #: The answer's ``label_id``: a retried answer is found by it and stored once.
    label_id: str = Field(max_length=256)
    answered_at: datetime = Field(default_factory=utcnow)
    #: The annotator's note on their answer (as last corrected).
    comment: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    #: The ``label_id`` of its latest correction, which names it too (as a correction's row
    #: names a label): correcting that one corrects this answer.
    latest_label_id: str | None = Field(default=None, max_length=256)


class AnnotatorStateRow(SQLModel, table=True):
    """An annotator whose labels stop counting (``state`` "quarantined"), or count again
    ("active", after a release), and since when. No row: active."""

    __tablename__ = "annotator_states"
    __table_args__ = (UniqueConstraint("project_id", "annotator"),)

    id: int | None = Field(default=None, primary_key=True)
    project_id: int = Field(foreign_key="projects.id", index=True)
    annotator: str = Field(max_length=64)
    state: str = Field(max_length=16)
    changed_at: datetime = Field(default_factory=utcnow)


class SkipRow(SQLModel, table=True):
    """An annotator gave an item back (``event_id``: a gold item's ``gold_id`` for gold), and
    the reason they gave, if any."""

    __tablename__ = "skips"

    id: int | None = Field(default=None, primary_key=True)
    project_id: int = Field(foreign_key="projects.id", index=True)
    event_id: str = Field(max_length=256)
    annotator: str = Field(max_length=64)
    reason: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    skipped_at: datetime = Field(default_factory=utcnow)


class SnapshotRow(SQLModel, table=True):
    """A pickled model at ``model_version``, having learned every label up to ``last_label_id``."""

    __tablename__ = "snapshots"

    id: int | None = Field(default=None, primary_key=True)
    project_id: int = Field(foreign_key="projects.id", index=True)
    model_version: int
    last_label_id: int
    blob: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)


class TokenRow(SQLModel, table=True):
    """An API token: its holder's name and role, and the SHA-256 of its secret, never the secret."""

    __tablename__ = "tokens"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(index=True, max_length=64)
    role: str = Field(max_length=16)
    digest: str = Field(unique=True, max_length=64)
    created_at: datetime = Field(default_factory=utcnow)
    revoked_at: datetime | None = None
