"""The suggestion gate: a model's record must beat guessing and always giving the commonest
answer, for a single label, a set of labels and spans alike."""

from __future__ import annotations

from streamloop.online import snapshot
from streamloop.online.multilabel_metrics import MultiLabelMetrics
from streamloop.online.span_metrics import SpanMetrics
from streamloop.online.suggestion import track_record
from streamloop.online.tokens import Span


def test_a_set_model_that_only_repeats_the_commonest_set_is_not_trusted() -> None:
    scores = MultiLabelMetrics(["bug", "ui"], window=20)
    for n in range(20):
        given = {"bug"} if n % 10 == 0 else set()
        scores.update(given, set())  # always "none": right on 18 of 20

    assert scores.commonest_share() == 0.9
    assert track_record(scores, scores.commonest_share() or 0.0)["trusted"] is False


def test_the_commonest_answer_counts_the_latest_window_only() -> None:
    scores = SpanMetrics(["PER"], window=4)
    for _ in range(6):
        scores.update([], None)
    for start in range(3):
        scores.update([Span(start, start + 2, "PER")], None)

    assert scores.commonest_share() == 0.25  # four different answers in the window


def test_metrics_pickled_before_answers_were_counted_still_load_and_count() -> None:
    scores = MultiLabelMetrics(["bug"], window=5)
    scores.update({"bug"}, None)
    del scores.__dict__["_answers"]  # as a snapshot from before the count
    restored = snapshot.loads(snapshot.dumps(scores))

    assert restored.commonest_share() is None
    restored.update({"bug"}, {"bug"})
    assert restored.commonest_share() == 1.0
