"""A project's task, and the one stored form of an answer whatever the task.

A ``classify`` project's answer is one label; a ``multilabel`` project's is a set of labels,
possibly empty. The loop stores, compares and retries answers as strings: a label as itself, a
set as a JSON list in the project's label order (`label_set_key`), so that two annotators who
gave the same set in a different order gave the same answer. The models take answers in their
own shape (`model_answer`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from streamloop.online import snapshot
from streamloop.online.model import Learned, OnlineModel, Prediction
from streamloop.online.multilabel import (
    MultiLabelLearned,
    MultiLabelModel,
    MultiLabelPrediction,
)

__all__ = [
    "TASKS",
    "AnyLearned",
    "AnyModel",
    "AnyPrediction",
    "answer_field",
    "answer_problem",
    "label_set",
    "label_set_key",
    "model_answer",
    "predicted_answer",
    "restore_model",
    "shown_answer",
]

#: A project's task: one label per item, or a set of labels per item.
TASKS: tuple[str, ...] = ("classify", "multilabel")

AnyModel = OnlineModel | MultiLabelModel
AnyPrediction = Prediction | MultiLabelPrediction
AnyLearned = Learned | MultiLabelLearned


def answer_field(task: str) -> str:
    """The field an answer is sent in: ``label`` or ``labels``.

    >>> answer_field("classify"), answer_field("multilabel")
    ('label', 'labels')
    """
    return "labels" if task == "multilabel" else "label"


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


def shown_answer(task: str, stored: str) -> str | list[str]:
    """A stored answer as the contract shows it: a label, or a list of labels.

    >>> shown_answer("multilabel", '["bug"]'), shown_answer("classify", "bug")
    (['bug'], 'bug')
    """
    return list(label_set(stored)) if task == "multilabel" else stored


def model_answer(model: AnyModel, stored: str) -> Any:
    """A stored answer in the shape ``model`` learns: a label, or a tuple of labels."""
    return label_set(stored) if isinstance(model, MultiLabelModel) else stored


def answer_problem(model: AnyModel, stored: str) -> str | None:
    """Why ``stored`` is not an answer ``model`` can learn, or None when it is: a label of
    the model's, or a label set of its labels in the one order sets are stored in.

    >>> model = MultiLabelModel(labels=["bug", "ui"], input_kind="text", preset="naive_bayes")
    >>> answer_problem(model, '["bug","ui"]') is None
    True
    >>> print(answer_problem(model, '["ui","bug"]'))
    a label set must be stored in the project's order, got '["ui","bug"]'
    >>> answer_problem(model, "bug")
    "not a stored label set: 'bug'"
    """
    if not isinstance(model, MultiLabelModel):
        known = stored in model.labels
        return None if known else f"{stored!r} is not one of the labels {list(model.labels)}"
    try:
        labels = label_set(stored)
        if label_set_key(labels, model.labels) == stored:
            return None
    except ValueError as exc:
        return str(exc)
    return f"a label set must be stored in the project's order, got {stored!r}"


def predicted_answer(prediction: AnyPrediction) -> str | list[str] | None:
    """What a prediction answers, as the contract shows it: a label, or a list of labels."""
    if isinstance(prediction, MultiLabelPrediction):
        return None if prediction.labels is None else list(prediction.labels)
    return prediction.label


def restore_model(blob: bytes) -> AnyModel:
    """Rebuild a model of either task from its snapshot.

    Raises
    ------
    ValueError
        If the blob is not a model snapshot.
    """
    try:
        model = snapshot.loads(blob)
    except Exception as error:
        raise ValueError("not a readable model snapshot") from error
    if not isinstance(model, OnlineModel | MultiLabelModel):
        raise ValueError(f"snapshot holds a {type(model).__name__}, not a model")
    return model
