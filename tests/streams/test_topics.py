"""Records on the Kafka topics: what a web process learns from a worker's answer."""

from __future__ import annotations

from streamloop.errors import NotReady
from streamloop.store.records import LabelOutcome, NewLabel
from streamloop.streams.topics import (
    decode,
    encode,
    label_from,
    label_message,
    outcome_from,
    outcome_message,
)


def test_a_refusals_retryable_flag_travels_with_it():
    label = NewLabel(label_id="l1", label="bug", source="annotator", item_id=7)
    for retryable in (True, False):
        refused = NotReady("the label could not be learned", code="learner_failed")
        refused.retryable = retryable
        sent = LabelOutcome(label=label, error=refused)
        received = outcome_from(decode(encode(outcome_message(sent))))
        assert received.error is not None
        assert (received.error.code, received.error.retryable) == ("learner_failed", retryable)


def test_an_error_class_the_web_process_does_not_know_keeps_its_flag():
    message = outcome_message(
        LabelOutcome(
            label=NewLabel(label_id="l1", label="bug", source="annotator", item_id=7),
            error=NotReady("a newer worker's refusal", code="learner_overheated"),
        )
    )
    message["error"]["kind"] = "LearnerOverheated"  # a class only a newer worker has
    error = outcome_from(message).error
    assert error is not None and error.retryable is True


def test_a_comment_travels_with_a_label_and_its_outcome():
    label = NewLabel(label_id="l1", label="bug", source="annotator", item_id=7, comment="why")
    [project, received] = label_from(decode(encode(label_message("tickets", label))))
    assert (project, received) == ("tickets", label)
    outcome = outcome_from(decode(encode(outcome_message(LabelOutcome(label=label)))))
    assert outcome.label.comment == "why"


def test_an_outcome_with_a_field_a_newer_learner_added_is_read():
    message = outcome_message(LabelOutcome(label=NewLabel("l1", "bug", "annotator", item_id=7)))
    message["label"]["mood"] = "cheerful"  # a field only a newer worker's labels have
    assert outcome_from(message).label.label_id == "l1"
