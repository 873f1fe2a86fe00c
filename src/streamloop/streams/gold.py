"""A project's gold items: items with known answers, mixed into annotators' work unmarked.

An annotator's answer to a gold item is never learned; it scores the annotator. Each annotator
is offered each gold item once at most (whatever they do with it), and gold takes a share of
the items they are offered (`share`), only while real items wait too.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from streamloop.online.estimate import wilson_interval
from streamloop.online.tasks import span_set
from streamloop.store import GoldRecord, ProjectRecord

__all__ = ["DEFAULT_GOLD_SHARE", "GoldPool"]

#: The share of an annotator's items that are gold once a project has any, unless it sets one.
DEFAULT_GOLD_SHARE = 0.05


class GoldPool:
    """The gold items of a project, who has seen which, and each annotator's score."""

    def __init__(self, record: ProjectRecord) -> None:
        self.record = record
        self.items: dict[int, GoldRecord] = {}
        self._by_gold_id: dict[str, GoldRecord] = {}
        self._seen: dict[str, set[int]] = {}
        self._scores: dict[str, list[int]] = {}
        #: A spans project's: each annotator's answer to each gold item (as last corrected),
        #: and over them, twice the spans they got right, and the spans given and known.
        self._span_answers: dict[str, dict[int, str]] = {}
        self._span_counts: dict[str, list[int]] = {}
        #: Called with an annotator's name whenever their score changes.
        self.listeners: list[Callable[[str], None]] = []

    def load(
        self,
        items: Sequence[GoldRecord],
        answered: Iterable[tuple[int, str]] = (),
        scores: dict[str, tuple[int, int]] | None = None,
    ) -> None:
        """The stored gold items (all of them), and, at start, the answers stored so far."""
        self.items = {item.id: item for item in items}
        self._by_gold_id = {item.gold_id: item for item in items}
        for gold_id, annotator in answered:
            self._seen.setdefault(annotator, set()).add(gold_id)
        for annotator, (answered_count, correct) in (scores or {}).items():  # the stored ones
            self._scores[annotator] = [answered_count, correct]

    def load_span_answers(self, answers: Iterable[tuple[int, str, str]]) -> None:
        """A spans project's stored gold answers, (gold item id, annotator, spans): every one,
        in place of those known before."""
        self._span_answers, self._span_counts = {}, {}
        for gold_id, annotator, answer in answers:
            self.span_answer(annotator, gold_id, answer)

    def span_answer(self, annotator: str, gold_id: int, answer: str) -> None:
        """``annotator`` answered (or corrected their answer to) the gold item ``gold_id`` of a
        spans project with ``answer`` (stored spans): their span F1 on gold moves."""
        item = self.items.get(gold_id)
        if item is None:
            return
        answers = self._span_answers.setdefault(annotator, {})
        counts = self._span_counts.setdefault(annotator, [0, 0])
        known = set(span_set(item.label))
        for given, sign in ((answers.get(gold_id), -1), (answer, 1)):
            if given is not None:
                spans = set(span_set(given))
                counts[0] += sign * 2 * len(spans & known)
                counts[1] += sign * (len(spans) + len(known))
        answers[gold_id] = answer

    def share(self) -> float:
        """The share of items offered that are gold now (0 without gold items)."""
        if not self.items:
            return 0.0
        share = self.record.gold_share
        return DEFAULT_GOLD_SHARE if share is None else share

    def pick(self, annotator: str, rng: random.Random) -> GoldRecord | None:
        """A gold item to offer ``annotator`` now, with probability `share`; None otherwise,
        or when they have been offered every one (held ones included: `seen` marks an item
        when it is leased)."""
        share = self.share()
        if share <= 0.0 or rng.random() >= share:
            return None
        seen = self._seen.get(annotator, set())
        fresh = [gold_id for gold_id in self.items if gold_id not in seen]
        return self.items[rng.choice(fresh)] if fresh else None

    def seen(self, annotator: str, gold_id: int) -> None:
        """``annotator`` was offered ``gold_id``: it is not offered to them again."""
        self._seen.setdefault(annotator, set()).add(gold_id)

    def scored(self, annotator: str, correct: bool) -> None:
        """A new answer (not a retry) of ``annotator``."""
        score = self._scores.setdefault(annotator, [0, 0])
        score[0] += 1
        score[1] += int(correct)
        for listener in self.listeners:
            listener(annotator)

    def report(self, annotator: str) -> dict[str, Any] | None:
        """``{"answered", "correct", "accuracy", "low", "high"}`` (95% Wilson interval), or
        None before the annotator answered any gold item. In a spans project ``correct``
        counts the answers with the very spans of the gold item, and ``f1`` is the span F1 of
        all their answers against the gold spans (None while neither had any span)."""
        score = self._scores.get(annotator)
        if not score:
            return None
        answered, correct = score
        interval = wilson_interval(correct, answered)
        assert interval is not None
        accuracy, low, high = interval
        report: dict[str, Any] = {
            "answered": answered,
            "correct": correct,
            "accuracy": accuracy,
            "low": low,
            "high": high,
        }
        if self.record.task == "spans":
            matched, given = self._span_counts.get(annotator, (0, 0))
            report["f1"] = matched / given if given else None
        return report

    def scorers(self) -> set[str]:
        """The annotators who answered a gold item."""
        return set(self._scores)

    def by_id(self, gold_id: str) -> GoldRecord | None:
        """The gold item the client calls ``gold_id``."""
        return self._by_gold_id.get(gold_id)

    def offered(self, annotator: str, gold_id: int) -> bool:
        """Whether ``annotator`` has been offered the gold item ``gold_id``."""
        return gold_id in self._seen.get(annotator, set())

    def rescored(self, annotator: str, *, was: bool, now: bool) -> None:
        """An answer of ``annotator`` was corrected: right ``was``, right ``now``."""
        score = self._scores.setdefault(annotator, [0, 0])
        score[1] += int(now) - int(was)
        for listener in self.listeners:
            listener(annotator)
