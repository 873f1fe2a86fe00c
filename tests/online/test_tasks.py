"""Each task's answers: the field they come in, their one stored form, and what a model reads."""

from __future__ import annotations

import re
from typing import Any

import pytest

from streamloop.online import (
    MultiLabelModel,
    OnlineModel,
    Span,
    SpanModel,
    answer_problem,
    model_task,
    task_of,
)
from streamloop.online.tasks import AnswerError, span_set, span_set_key

LABELS = ["PER", "LOC"]


def spans(*triples: tuple[int, int, str]) -> list[dict[str, Any]]:
    return [{"start": s, "end": e, "label": label} for s, e, label in triples]


def test_equal_answers_in_any_order_have_one_stored_form() -> None:
    multilabel, span_task = task_of("multilabel"), task_of("spans")
    assert multilabel.stored(["LOC", "PER"], LABELS) == multilabel.stored(["PER", "LOC"], LABELS)
    forward = span_task.stored(spans((0, 3, "PER"), (9, 14, "LOC")), LABELS)
    backward = span_task.stored(spans((9, 14, "LOC"), (0, 3, "PER")), LABELS)
    assert (
        forward
        == backward
        == '[{"start":0,"end":3,"label":"PER"},{"start":9,"end":14,"label":"LOC"}]'
    )
    assert span_task.shown(forward) == spans((0, 3, "PER"), (9, 14, "LOC"))
    assert span_task.model_answer(forward) == (Span(0, 3, "PER"), Span(9, 14, "LOC"))
    assert span_task.stored([], LABELS) == "[]" and span_set("[]") == ()


@pytest.mark.parametrize(
    ("given", "where", "why"),
    [
        ("PER", "", "spans are a list of spans"),
        ([{"start": 0, "end": 3}], ".0", "a span is an object of start, end and label"),
        ([{"start": 0, "end": 3, "label": "PER", "score": 1}], ".0", "a span is an object"),
        (spans((0, 3.0, "PER")), ".0.end", "an offset is an integer"),  # type: ignore[arg-type]
        (spans((True, 3, "PER")), ".0.start", "an offset is an integer"),
        (spans((-1, 3, "PER")), ".0.start", "offsets start at 0"),
        (spans((3, 3, "PER")), ".0.end", "a span ends after it starts"),
        (spans((0, 3, "ORG")), ".0.label", "'ORG' is not one of this project's labels"),
        (spans((5, 9, "PER"), (0, 6, "LOC")), ".0", "spans must not overlap: [0, 6) LOC and"),
        (spans((0, 3, "PER"), (0, 3, "PER")), ".1", "spans must not overlap"),
    ],
)
def test_a_bad_span_answer_says_where_and_why(given: Any, where: str, why: str) -> None:
    with pytest.raises(AnswerError) as raised:
        task_of("spans").stored(given, LABELS)
    assert raised.value.where == where and raised.value.why.startswith(why)


def test_touching_spans_are_not_overlapping() -> None:
    stored = span_set_key(spans((0, 3, "PER"), (3, 5, "LOC")), LABELS)
    assert [span.end for span in span_set(stored)] == [3, 5]


def test_each_task_names_where_its_labels_are_in_an_answer() -> None:
    assert task_of("classify").labels_in("PER") == [("", "PER")]
    assert task_of("multilabel").labels_in(["PER", "LOC"]) == [(".0", "PER"), (".1", "LOC")]
    given = [*spans((0, 3, "PER")), {"start": 4}, *spans((5, 8, "ORG"))]
    assert task_of("spans").labels_in(given) == [(".0.label", "PER"), (".2.label", "ORG")]


def test_a_span_answer_is_kept_as_whole_words_or_refused_saying_why() -> None:
    model = SpanModel(labels=LABELS)
    task = task_of("spans")
    text = {"text": "Ada met Bo"}
    whole = span_set_key(spans((0, 3, "PER")), LABELS)
    assert task.fit(model, whole, text) == whole
    beyond = "spans: span [8, 20) PER is outside the text, whose offsets run 0 to 10"
    with pytest.raises(ValueError, match=re.escape(beyond) + "$"):
        task.fit(model, span_set_key(spans((8, 20, "PER")), LABELS), text)
    cut = span_set_key(spans((1, 3, "PER"), (8, 9, "PER")), LABELS)
    grown = span_set_key(spans((0, 3, "PER"), (8, 10, "PER")), LABELS)
    assert task.fit(model, cut, text) == grown
    assert task_of("classify").fit(model, "PER", text) == "PER"


@pytest.mark.parametrize(
    ("model", "good", "bad"),
    [
        (
            OnlineModel(labels=LABELS, input_kind="text", preset="naive_bayes", strategy="margin"),
            "PER",
            "ORG",
        ),
        (
            MultiLabelModel(labels=LABELS, input_kind="text", preset="naive_bayes"),
            '["PER","LOC"]',
            '["LOC","PER"]',
        ),
        (
            SpanModel(labels=LABELS),
            '[{"start":0,"end":3,"label":"PER"}]',
            '[{"end":3,"start":0,"label":"PER"}]',
        ),
    ],
)
def test_a_model_learns_only_answers_in_their_stored_form(model: Any, good: str, bad: str) -> None:
    assert answer_problem(model, good) is None
    assert answer_problem(model, bad) is not None
    assert (
        model_task(model).name
        == ("classify", "multilabel", "spans")[
            [OnlineModel, MultiLabelModel, SpanModel].index(type(model))
        ]
    )
