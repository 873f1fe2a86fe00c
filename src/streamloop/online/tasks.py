"""A project's task, and the one stored form of an answer whatever the task.

A ``classify`` project's answer is one label; a ``multilabel`` project's is a set of labels,
possibly empty; a ``spans`` project's is the set of labelled spans in an item's text, possibly
empty. The loop stores, compares and retries answers as strings: a label as itself, a set as a
JSON list in one canonical order (`label_set_key`, `span_set_key`), so that two annotators who
gave the same answer in a different order gave the same string. Each task is a `Task`: what
differs between the tasks (the field an answer is sent in, how it is stored, shown and
learned) is there, not spread over the loop. The models take answers in their own shape
(`Task.model_answer`).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeAlias

import orjson

from streamloop.online.tokens import Span

# The models import River (about a second): answers are handled without them, so the
# functions that are given a model or a prediction import its class where they need it.
if TYPE_CHECKING:
    from streamloop.online.model import Learned, OnlineModel, Prediction
    from streamloop.online.multilabel import (
        MultiLabelLearned,
        MultiLabelModel,
        MultiLabelPrediction,
    )
    from streamloop.online.spans import SpanLearned, SpanModel, SpanPrediction

__all__ = [
    "TASKS",
    "AnswerError",
    "AnyLearned",
    "AnyModel",
    "AnyPrediction",
    "Task",
    "answer_field",
    "answer_problem",
    "label_set",
    "label_set_key",
    "model_answer",
    "model_task",
    "predicted_answer",
    "restore_model",
    "shown_answer",
    "span_set",
    "span_set_key",
    "task_of",
]

#: A project's task: one label per item, a set of labels per item, or spans in its text.
TASKS: tuple[str, ...] = ("classify", "multilabel", "spans")

AnyModel: TypeAlias = "OnlineModel | MultiLabelModel | SpanModel"
AnyPrediction: TypeAlias = "Prediction | MultiLabelPrediction | SpanPrediction"
AnyLearned: TypeAlias = "Learned | MultiLabelLearned | SpanLearned"


def label_set_key(labels: Sequence[str], order: Sequence[str]) -> str:
    """The stored form of a label set: a JSON list of its labels in the project's order.

    Raises
    ------
    ValueError
        If a label is not in ``order`` or is repeated.

    Examples
    --------
    >>> label_set_key(["ui", "bug"], ["bug", "billing", "ui"])
    '["bug","ui"]'
    >>> label_set_key([], ["bug", "ui"])
    '[]'
    """
    position = {label: n for n, label in enumerate(order)}
    for label in labels:
        if label not in position:
            raise ValueError(f"{label!r} is not one of this project's labels {list(order)}")
    if len(set(labels)) != len(labels):
        raise ValueError(f"labels must not repeat, got {list(labels)}")
    return orjson.dumps(sorted(labels, key=position.__getitem__)).decode()


def label_set(stored: str) -> tuple[str, ...]:
    """The labels of a stored label set (`label_set_key`).

    Raises
    ------
    ValueError
        If ``stored`` is not a stored label set.

    >>> label_set('["bug","ui"]')
    ('bug', 'ui')
    """
    try:
        value = orjson.loads(stored)
    except orjson.JSONDecodeError:
        value = None
    if not isinstance(value, list) or not all(isinstance(label, str) for label in value):
        raise ValueError(f"not a stored label set: {stored!r}")
    return tuple(value)


class AnswerError(ValueError):
    """An answer that is not one of its task's: ``why``, at ``where`` inside it (``.3.end``:
    the 4th span's end; empty: the whole answer)."""

    def __init__(self, where: str, why: str) -> None:
        super().__init__(f"{where.removeprefix('.')}: {why}" if where else why)
        self.where = where
        self.why = why


def span_set_key(spans: Sequence[Mapping[str, Any]], labels: Sequence[str]) -> str:
    """The stored form of an item's spans: a JSON list of ``{"start", "end", "label"}``
    objects in text order.

    Only what needs no text is checked here; whether the spans fit the item's text is
    `SpanModel.aligned`'s to say.

    Raises
    ------
    AnswerError
        If a span is not an object of exactly an integer ``start`` (0 or more) and ``end``
        (after ``start``) and a label of ``labels``, or two spans overlap; its ``where`` says
        which span, as given (``.3.end``: the 4th one's end).

    Examples
    --------
    >>> span_set_key([{"start": 9, "end": 14, "label": "LOC"}, {"start": 0, "end": 3,
    ...     "label": "PER"}], ["PER", "LOC"])
    '[{"start":0,"end":3,"label":"PER"},{"start":9,"end":14,"label":"LOC"}]'
    >>> span_set_key([{"start": 0, "end": 5, "label": "PER"},
    ...     {"start": 3, "end": 8, "label": "LOC"}], ["PER", "LOC"])
    Traceback (most recent call last):
    ...
    streamloop.online.tasks.AnswerError: 1: spans must not overlap: [0, 5) PER and [3, 8) LOC do
    """
    known = set(labels)
    checked: list[tuple[Span, int]] = []
    for n, span in enumerate(spans):
        if not isinstance(span, Mapping) or set(span) != {"start", "end", "label"}:
            raise AnswerError(f".{n}", f"a span is an object of start, end and label, got {span!r}")
        start, end, label = span["start"], span["end"], span["label"]
        for name, value in (("start", start), ("end", end)):
            if type(value) is not int:  # a bool is an int, and no offset
                raise AnswerError(f".{n}.{name}", f"an offset is an integer, got {value!r}")
        if start < 0:
            raise AnswerError(f".{n}.start", f"offsets start at 0, got {start}")
        if end <= start:
            raise AnswerError(f".{n}.end", f"a span ends after it starts, got [{start}, {end})")
        if not isinstance(label, str) or label not in known:
            raise AnswerError(f".{n}.label", f"{label!r} is not one of this project's labels")
        checked.append((Span(start, end, label), n))
    checked.sort()
    for (before, _), (after, at) in itertools.pairwise(checked):
        if after.start < before.end:
            raise AnswerError(
                f".{at}",
                f"spans must not overlap: [{before.start}, {before.end}) {before.label} "
                f"and [{after.start}, {after.end}) {after.label} do",
            )
    return orjson.dumps([given.as_json() for given, _ in checked]).decode()


def span_set(stored: str) -> tuple[Span, ...]:
    """The spans of a stored span set (`span_set_key`), in text order.

    Raises
    ------
    ValueError
        If ``stored`` is not a stored span set.

    >>> span_set('[{"start":0,"end":3,"label":"PER"}]')
    (Span(start=0, end=3, label='PER'),)
    """
    try:
        value = orjson.loads(stored)
        if not isinstance(value, list):
            raise TypeError
        return tuple(Span(span["start"], span["end"], span["label"]) for span in value)
    except (orjson.JSONDecodeError, TypeError, KeyError):
        raise ValueError(f"not a stored span set: {stored!r}") from None


class Task:
    """What one task makes of answers: the field they are sent in, and their stored, shown
    and learned forms. `task_of` gives a project's.

    A ``classify`` answer is a label, stored as itself.
    """

    #: The task's name, as a project's ``task`` says it.
    name = "classify"
    #: The field an answer is sent in (label messages, production labels, gold items).
    field = "label"
    #: What an answer is, for errors: "send `label`, ..."
    sent_as = "one of its labels"

    def labels_in(self, given: Any) -> list[tuple[str, str]]:
        """The labels an answer sent in `field` names, each with where it is in the answer
        (``.3.label``), so that an unknown one is told as such."""
        return [("", given)] if isinstance(given, str) else []

    def stored(self, given: Any, labels: Sequence[str]) -> str:
        """The stored form of an answer sent in `field`.

        Raises
        ------
        AnswerError
            If it is not an answer of this task with the project's ``labels``.
        """
        if not isinstance(given, str) or given not in labels:
            raise AnswerError("", f"{given!r} is not one of this project's labels {list(labels)}")
        return given

    def check_stored(self, stored: str, labels: Sequence[str]) -> None:
        """Raise ValueError unless ``stored`` is in the one form `stored` makes."""
        if self.stored(self.shown(stored), labels) != stored:
            raise ValueError(f"not in the stored form of a {self.name} answer: {stored!r}")

    def fit(self, model: AnyModel, stored: str, data: Mapping[str, Any]) -> str:
        """``stored`` as it is kept for the item ``data`` it answers: the same answer, but for
        spans grown to the whole words they touch, as the model learns them.

        Raises
        ------
        ValueError
            If the answer does not fit the item (spans past its text, over spaces only, or
            sharing a word); the message starts with the field (``spans: ...``). Only the
            model's labels are read: any thread may ask.
        """
        return stored

    def shown(self, stored: str) -> Any:
        """A stored answer as the contract shows it."""
        return stored

    def model_answer(self, stored: str) -> Any:
        """A stored answer in the shape the task's model learns."""
        return stored

    def predicted(self, prediction: AnyPrediction) -> Any:
        """What a prediction answers, as the contract shows it (None: nothing yet)."""
        from streamloop.online.model import Prediction

        assert isinstance(prediction, Prediction)
        return prediction.label


class MultiLabelTask(Task):
    """A ``multilabel`` answer: a set of labels, stored as a JSON list in the project's order
    (`label_set_key`)."""

    name = "multilabel"
    field = "labels"
    sent_as = "a list of its labels (empty when none applies)"

    def labels_in(self, given: Any) -> list[tuple[str, str]]:
        if not isinstance(given, list | tuple):
            return []
        return [(f".{n}", label) for n, label in enumerate(given) if isinstance(label, str)]

    def stored(self, given: Any, labels: Sequence[str]) -> str:
        if not isinstance(given, list | tuple):
            raise AnswerError("", f"a label set is a list of labels, got {given!r}")
        try:
            return label_set_key(given, labels)
        except ValueError as exc:
            raise AnswerError("", str(exc)) from None

    def shown(self, stored: str) -> list[str]:
        return list(label_set(stored))

    def model_answer(self, stored: str) -> tuple[str, ...]:
        return label_set(stored)

    def predicted(self, prediction: AnyPrediction) -> list[str] | None:
        from streamloop.online.multilabel import MultiLabelPrediction

        assert isinstance(prediction, MultiLabelPrediction)
        return None if prediction.labels is None else list(prediction.labels)


class SpanTask(Task):
    """A ``spans`` answer: the labelled spans of an item's text, stored as a JSON list of
    ``{"start", "end", "label"}`` in text order (`span_set_key`)."""

    name = "spans"
    field = "spans"
    sent_as = (
        'a list of {"start", "end", "label"}: character offsets into the text, end exclusive '
        "(empty when there is none)"
    )

    def labels_in(self, given: Any) -> list[tuple[str, str]]:
        if not isinstance(given, list | tuple):
            return []
        return [
            (f".{n}.label", span["label"])
            for n, span in enumerate(given)
            if isinstance(span, Mapping) and isinstance(span.get("label"), str)
        ]

    def stored(self, given: Any, labels: Sequence[str]) -> str:
        if not isinstance(given, list | tuple):
            raise AnswerError("", f"spans are a list of spans, got {given!r}")
        return span_set_key(given, labels)

    def fit(self, model: AnyModel, stored: str, data: Mapping[str, Any]) -> str:
        from streamloop.online.spans import SpanModel

        assert isinstance(model, SpanModel)
        try:
            aligned = model.aligned(data, span_set(stored))
        except ValueError as exc:
            raise ValueError(f"spans: {exc}") from None
        return span_set_key([span.as_json() for span in aligned], model.labels)

    def shown(self, stored: str) -> list[dict[str, Any]]:
        return [span.as_json() for span in span_set(stored)]

    def model_answer(self, stored: str) -> tuple[Span, ...]:
        return span_set(stored)

    def predicted(self, prediction: AnyPrediction) -> list[dict[str, Any]] | None:
        from streamloop.online.spans import SpanPrediction

        assert isinstance(prediction, SpanPrediction)
        if prediction.spans is None:
            return None
        return [span.as_json() for span in prediction.spans]


_TASKS: dict[str, Task] = {task.name: task for task in (Task(), MultiLabelTask(), SpanTask())}


def task_of(name: str) -> Task:
    """The task called ``name`` (one of `TASKS`).

    >>> task_of("spans").field
    'spans'
    """
    return _TASKS[name]


def model_task(model: AnyModel) -> Task:
    """The task ``model`` serves."""
    from streamloop.online.multilabel import MultiLabelModel
    from streamloop.online.spans import SpanModel

    if isinstance(model, MultiLabelModel):
        return _TASKS["multilabel"]
    if isinstance(model, SpanModel):
        return _TASKS["spans"]
    return _TASKS["classify"]


def answer_field(task: str) -> str:
    """The field an answer is sent in: ``label``, ``labels`` or ``spans``.

    >>> answer_field("classify"), answer_field("multilabel"), answer_field("spans")
    ('label', 'labels', 'spans')
    """
    return task_of(task).field


def shown_answer(task: str, stored: str) -> Any:
    """A stored answer as the contract shows it: a label, a list of labels, or of spans.

    >>> shown_answer("multilabel", '["bug"]'), shown_answer("classify", "bug")
    (['bug'], 'bug')
    """
    return task_of(task).shown(stored)


def model_answer(model: AnyModel, stored: str) -> Any:
    """A stored answer in the shape ``model`` learns: a label, a tuple of labels or of spans."""
    return model_task(model).model_answer(stored)


def answer_problem(model: AnyModel, stored: str) -> str | None:
    """Why ``stored`` is not an answer ``model`` can learn, or None when it is: an answer of
    the model's task with the model's labels, in the one form answers are stored in.

    >>> from streamloop.online.multilabel import MultiLabelModel
    >>> model = MultiLabelModel(labels=["bug", "ui"], input_kind="text", preset="naive_bayes")
    >>> answer_problem(model, '["bug","ui"]') is None
    True
    >>> print(answer_problem(model, '["ui","bug"]'))
    not in the stored form of a multilabel answer: '["ui","bug"]'
    >>> answer_problem(model, "bug")
    "not a stored label set: 'bug'"
    """
    try:
        model_task(model).check_stored(stored, model.labels)
    except ValueError as exc:
        return str(exc)
    return None


def predicted_answer(prediction: AnyPrediction) -> Any:
    """What a prediction answers, as the contract shows it: a label, a list of labels or of
    spans (None before the model learned anything)."""
    from streamloop.online.multilabel import MultiLabelPrediction
    from streamloop.online.spans import SpanPrediction

    if isinstance(prediction, MultiLabelPrediction):
        return _TASKS["multilabel"].predicted(prediction)
    if isinstance(prediction, SpanPrediction):
        return _TASKS["spans"].predicted(prediction)
    return _TASKS["classify"].predicted(prediction)


def restore_model(blob: bytes) -> AnyModel:
    """Rebuild a model of any task from its snapshot.

    Raises
    ------
    ValueError
        If the blob is not a model snapshot.
    """
    from streamloop.online import snapshot
    from streamloop.online.model import OnlineModel
    from streamloop.online.multilabel import MultiLabelModel
    from streamloop.online.spans import SpanModel

    try:
        model = snapshot.loads(blob)
    except Exception as error:
        raise ValueError("not a readable model snapshot") from error
    if not isinstance(model, OnlineModel | MultiLabelModel | SpanModel):
        raise ValueError(f"snapshot holds a {type(model).__name__}, not a model")
    return model
