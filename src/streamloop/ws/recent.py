"""An annotator's own latest answers (``{"type": "recent"}``), to review and correct."""

from __future__ import annotations

from typing import Any

from streamloop.online import answer_field, shown_answer
from streamloop.store import RecentAnswer
from streamloop.streams import ProjectRuntime
from streamloop.ws.frames import iso, tokens

__all__ = ["recent"]


async def recent(runtime: ProjectRuntime, annotator: str, limit: int) -> dict[str, Any]:
    """The ``recent`` frame: ``annotator``'s latest ``limit`` answers in the project, newest
    first, one per item (the latest of each: a correction replaces what it corrects). Each
    names its label by the ``label_id`` a ``correct`` message takes."""
    store, task = runtime.store, runtime.record.task
    answers = await store.run(store.recent_answers, runtime.record.id, annotator, limit)
    return {"type": "recent", "labels": [_shown(answer, task) for answer in answers]}


def _shown(answer: RecentAnswer, task: str) -> dict[str, Any]:
    item: dict[str, Any] = {"id": answer.event_id, "data": answer.data}
    if task == "spans":
        item["tokens"] = tokens(answer.data)
    return {
        "label_id": answer.label_id,
        "item": item,
        answer_field(task): shown_answer(task, answer.label),
        "comment": answer.comment,
        "labelled_at": iso(answer.labelled_at),
        "model_version": answer.model_version,
    }
