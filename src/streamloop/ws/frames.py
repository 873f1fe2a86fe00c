"""The contract's frames and bodies, made from what the loop reports (`streamloop.streams.notices`,
label outcomes): the one place the web layer decides what goes on the wire.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from streamloop.online import answer_field, shown_answer, tokenize
from streamloop.store import LabelOutcome
from streamloop.streams.notices import (
    Idle,
    ItemOffered,
    LeaseExpired,
    LeaseRevoked,
    Notice,
    ReviewOffered,
    Scored,
)
from streamloop.streams.review import ReviewNotice

__all__ = ["ack", "iso", "notice", "production_result", "review_notice", "scored", "tokens"]


def notice(sent: Notice, track: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The frame that tells an annotator of ``sent``; an item's carries the model's ``track``
    record (`streamloop.online.suggestion`) when given."""
    match sent:
        case ItemOffered():
            item = sent.prediction.as_json()
            item["id"] = sent.event_id
            item["data"] = sent.data
            # The models import River (about a second): imported once a prediction is at hand.
            from streamloop.online.spans import SpanPrediction

            if isinstance(sent.prediction, SpanPrediction):
                item["tokens"] = tokens(sent.data)
            if track is not None:
                item["track_record"] = dict(track)
            return {"type": "item", "item": item, "lease_expires_at": iso(sent.expires_at)}
        case Idle():
            return {"type": "idle"}
        case LeaseExpired():
            return {"type": "lease_expired", "item_id": sent.event_id}
        case LeaseRevoked():
            return {"type": "lease_revoked", "item_id": sent.event_id, "reason": sent.reason}


def review_notice(sent: ReviewNotice, task: str) -> dict[str, Any]:
    """The frame that tells a reviewer of ``sent``, each answer in the ``task``'s shape."""
    match sent:
        case ReviewOffered():
            record = sent.record
            field = answer_field(task)
            answers = [shown_answer(task, label["label"]) for label in record.labels]
            item: dict[str, Any] = {"id": record.event_id, "data": record.data}
            if task == "spans":
                item["tokens"] = tokens(record.data)
            return {
                "type": "review",
                "item": item,
                "reason": record.reason,
                "labels": [
                    {key: label[key] for key in ("label_id", "annotator", "source")}
                    | {
                        field: answer,
                        "learned": bool(label["learned"]),
                        "comment": label.get("comment"),
                    }
                    for label, answer in zip(record.labels, answers, strict=True)
                ],
                "lease_expires_at": iso(sent.expires_at),
            }
        case _:
            return notice(sent)


def tokens(data: Mapping[str, Any]) -> list[list[int]]:
    """A spans item's words, ``[start, end]`` each: where the app lets a span start and end."""
    return [[token.start, token.end] for token in tokenize(str(data.get("text", "")))]


def ack(outcome: LabelOutcome) -> dict[str, Any]:
    """The ``ack`` of an annotator's label (or correction, which names the label it corrects)."""
    label = outcome.label
    frame: dict[str, Any] = {"type": "ack", "item_id": label.event_id, "label_id": label.label_id}
    if label.corrects is not None:
        frame["corrects"] = label.corrects
    frame["model_version"] = outcome.model_version
    frame["duplicate"] = outcome.duplicate
    return frame


def scored(result: Scored) -> dict[str, Any]:
    """One result of ``POST /events``."""
    body = result.prediction.as_json()
    body["id"] = result.event_id
    body["queued"] = result.queued
    body["duplicate"] = result.duplicate
    return body


def production_result(outcome: LabelOutcome) -> dict[str, Any]:
    """One result of ``POST /labels``: refused for this label alone (its item was already
    labelled), or where it stands; the other labels of the request stand either way."""
    result: dict[str, Any] = {
        "event_id": outcome.label.event_id,
        "label_id": outcome.label.label_id,
    }
    if outcome.error is not None:
        result.update(outcome.error.body())  # with `retryable`, as every error object
        return result
    result["model_version"] = outcome.model_version
    result["duplicate"] = outcome.duplicate
    return result


def iso(moment: datetime) -> str:
    """A UTC moment as the contract writes it: ``2026-01-31T12:00:00.000Z``."""
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
