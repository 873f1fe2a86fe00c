"""Plain values that cross the store's boundary (never live ORM objects)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from streamloop.errors import StreamloopError

__all__ = [
    "ExportLabel",
    "GoldAnswer",
    "GoldRecord",
    "ItemRecord",
    "ItemsShed",
    "JournalEntry",
    "LabelOutcome",
    "LeaseEnded",
    "LeaseStarted",
    "NewEvent",
    "NewGold",
    "NewLabel",
    "ProjectRecord",
    "RecentAnswer",
    "ReplayLabel",
    "ReviewRecord",
    "SkipRecord",
]


@dataclass(frozen=True, slots=True)
class ProjectRecord:
    id: int
    name: str
    labels: tuple[str, ...]
    input: str
    model: str
    strategy: str
    exploration: float
    lease_seconds: float
    warmup: int
    rehearsal: int
    routing: str
    labels_per_annotator_hour: float
    diversity: float
    seed: int
    created_at: datetime
    #: The share of each annotator's items that are gold; ``None``: the service's default.
    gold_share: float | None = None
    #: ``{"share", "annotators"}`` or ``None`` (each item labelled once).
    overlap: dict[str, Any] | None = None
    #: Below this gold accuracy (sure of it: the interval's upper bound) an annotator is
    #: quarantined; ``None``: never automatically.
    gold_min_accuracy: float | None = None
    #: ``classify`` or ``multilabel`` (`streamloop.online.TASKS`).
    task: str = "classify"
    #: Multi-label: labels to their own threshold; ``None``: every label's is 0.5.
    thresholds: dict[str, float] | None = None
    #: Multi-label: the model's predicted labels come already selected in the annotator app.
    preselect: bool = False
    #: What annotators read: the project's guidelines (light Markdown, stored as given) and a
    #: description per label (or ``None``).
    guidelines: str = ""
    label_descriptions: dict[str, str] | None = None
    #: The annotator app shows no model suggestion (against anchoring).
    hide_suggestion: bool = False
    #: How many labelled items the project aims for (``None``: no target).
    target: int | None = None
    #: Models learning the same labels beside the one serving (``model``), by name.
    challengers: tuple[str, ...] = ()
    #: Each promotion of a challenger, oldest first (`streamloop.streams.promotion`).
    promotions: tuple[dict[str, Any], ...] = ()

    def served_by(self, row_id: int) -> str:
        """The model that served production when the label stored as ``row_id`` came.

        >>> from datetime import datetime
        >>> promoted = {"model": "naive_bayes", "replaced": "logistic_regression",
        ...             "model_version": 11, "after_label": 10, "at": ""}
        >>> record = ProjectRecord(1, "p", ("a", "b"), "text", "naive_bayes", "margin", 0.2,
        ...     120.0, 20, 3, "pool", 120.0, 0.0, 0, datetime.now(), promotions=(promoted,))
        >>> record.served_by(10), record.served_by(11)
        ('logistic_regression', 'naive_bayes')
        """
        serving = self.promotions[0]["replaced"] if self.promotions else self.model
        for promotion in self.promotions:
            if row_id > promotion["after_label"]:
                serving = promotion["model"]
        return str(serving)

    def as_json(self) -> dict[str, Any]:
        """The project as the contract shows it."""
        return {
            "name": self.name,
            "labels": list(self.labels),
            "input": self.input,
            "model": self.model,
            "strategy": self.strategy,
            "exploration": self.exploration,
            "lease_seconds": self.lease_seconds,
            "warmup": self.warmup,
            "rehearsal": self.rehearsal,
            "routing": self.routing,
            "labels_per_annotator_hour": self.labels_per_annotator_hour,
            "diversity": self.diversity,
            "seed": self.seed,
            "created_at": self.created_at.isoformat().replace("+00:00", "Z"),
            "gold_share": self.gold_share,
            "overlap": self.overlap,
            "gold_min_accuracy": self.gold_min_accuracy,
            "task": self.task,
            "thresholds": self.thresholds,
            "preselect": self.preselect,
            "guidelines": self.guidelines,
            "label_descriptions": self.label_descriptions,
            "hide_suggestion": self.hide_suggestion,
            "target": self.target,
            "challengers": list(self.challengers),
            "promotions": [dict(promotion) for promotion in self.promotions],
        }


# Not frozen, as `ItemRecord`: one is made for every event stored.
@dataclass(slots=True)
class NewEvent:
    event_id: str
    data: dict[str, Any]
    status: str
    uncertainty: float
    drawn_at_random: bool = False


# Not frozen: one is made for every event stored and every item read, and a frozen
# dataclass's `__init__` costs three to four times as much (CPython 3.11: each field set
# through `object.__setattr__`). Nothing assigns to a record's fields (`dataclasses.replace`).
@dataclass(slots=True)
class ItemRecord:
    id: int
    event_id: str
    data: dict[str, Any]
    status: str
    uncertainty: float
    duplicate: bool = False
    drawn_at_random: bool = False
    #: How many annotators are to label it (more than one: it is overlapped).
    wanted: int = 1


@dataclass(frozen=True, slots=True)
class NewLabel:
    """A label waiting to be stored; ``item_id`` or ``event_id`` names its item."""

    label_id: str
    label: str
    source: str
    item_id: int | None = None
    event_id: str | None = None
    annotator: str | None = None
    drawn_at_random: bool = False
    #: A correction: the ``label_id`` of the label it replaces (kept in the history).
    corrects: str | None = None
    #: How many annotators are to label this item independently, if this is its first label.
    overlap: int = 1
    #: The annotator's or reviewer's note on it (``None``: none).
    comment: str | None = None


@dataclass(slots=True)
class LabelOutcome:
    """What became of a :class:`NewLabel` in its transaction.

    ``error`` is set when the label was refused; otherwise
    ``row_id`` and ``model_version`` say where it stands in the learning order, and ``data`` is
    its item's data when it is new and still has to be learned.
    """

    label: NewLabel
    duplicate: bool = False
    row_id: int | None = None
    model_version: int | None = None
    item_id: int | None = None
    event_id: str | None = None
    data: dict[str, Any] | None = None
    error: StreamloopError | None = None
    #: The model learns it (False: an overlapped item's later label, recorded only).
    learned: bool = True
    #: Where its item is now: ``labelled``, ``overlap`` (more labels wanted) or ``review``.
    item_status: str | None = None


@dataclass(frozen=True, slots=True)
class ReplayLabel:
    row_id: int
    data: dict[str, Any]
    label: str
    model_version: int
    drawn_at_random: bool = False
    annotator: str | None = None
    correction: bool = False
    #: Learned by the model (False: recorded only, as an overlapped item's later labels).
    learned: bool = True


@dataclass(frozen=True, slots=True)
class ReviewRecord:
    """An item waiting for review, with every label stored on it, in order."""

    item_id: int
    event_id: str
    data: dict[str, Any]
    #: ``disagreement`` (its annotators disagreed) or ``flagged`` (by a supervisor).
    reason: str
    #: Each ``{"label_id", "annotator", "label", "source", "learned"}``.
    labels: tuple[dict[str, Any], ...]


@dataclass(frozen=True, slots=True)
class ExportGoldAnswer:
    """An annotator's answer to a gold item, as an export shows it."""

    label_id: str
    gold_item_id: int
    annotator: str
    label: str
    correct: bool
    answered_at: datetime
    comment: str | None = None


@dataclass(frozen=True, slots=True)
class ExportLabel:
    """A stored label with its item, as an export shows it (in learning order)."""

    label_id: str
    event_id: str
    data: dict[str, Any]
    label: str
    source: str
    annotator: str | None
    corrects: str | None
    drawn_at_random: bool
    labelled_at: datetime
    learned: bool = True
    comment: str | None = None
    #: Its place in the learning order (the labels table's id).
    row_id: int = 0


@dataclass(frozen=True, slots=True)
class RecentAnswer:
    """One of an annotator's latest answers, with its item (`ProgressStore.recent_answers`).

    ``model_version`` is the version that includes it; None for an answer to a gold item,
    which the model never learns.
    """

    label_id: str
    event_id: str
    data: dict[str, Any]
    label: str
    comment: str | None
    labelled_at: datetime
    model_version: int | None


@dataclass(frozen=True, slots=True)
class SkipRecord:
    """An annotator gave an item back, and why (``reason`` ``None``: no reason given)."""

    event_id: str
    annotator: str
    reason: str | None
    skipped_at: datetime


@dataclass(frozen=True, slots=True)
class NewGold:
    """A gold item to store; ``gold_id`` is the client's id for it."""

    gold_id: str
    data: dict[str, Any]
    label: str


@dataclass(frozen=True, slots=True)
class GoldRecord:
    """A stored gold item; ``id`` is the store's, ``gold_id`` the client's."""

    id: int
    gold_id: str
    data: dict[str, Any]
    label: str


@dataclass(frozen=True, slots=True)
class GoldAnswer:
    """What became of an annotator's answer to a gold item.

    ``duplicate``: its ``label_id`` was stored before, and ``correct`` is the stored outcome.
    """

    correct: bool
    duplicate: bool


# -- journal entries: writes nobody waits for (see streamloop.store.journal) -----------------


@dataclass(frozen=True, slots=True)
class LeaseStarted:
    lease_id: str
    project_id: int
    item_id: int
    annotator: str
    leased_at: datetime
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class LeaseEnded:
    lease_id: str
    outcome: str
    ended_at: datetime


@dataclass(frozen=True, slots=True)
class ItemsShed:
    """Items dropped from a full queue: they wait no more (status ``shed``)."""

    item_ids: tuple[int, ...]


#: What :meth:`Store.apply_journal <streamloop.store.Store.apply_journal>` writes.
JournalEntry = LeaseStarted | LeaseEnded | ItemsShed
