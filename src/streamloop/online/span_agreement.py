"""Agreement between annotators who marked spans in the same texts: span F1, kept up to date.

Chance-corrected figures (kappa, alpha) need the units that could have been marked, and spans
have no fixed set of them: annotators choose the boundaries too. The measure the span-labelling
literature uses instead is F1 between annotators (Hripcsak and Rothschild 2005): take one
annotator's spans as the reference and the other's as the prediction; a span agrees only when
its start, end and label are the same (exact match, as CoNLL scores models). Swapping the two
swaps precision and recall and leaves F1 as it is, so one figure serves the pair.

`SpanAgreement` has the same methods and report shapes as `agreement.Agreement`: ``kappa``
gives each pair's span F1 (in the place a classify project's pairwise kappa goes), ``alpha``
the F1 over every pair on every shared text, each text weighing once, and ``per_label`` the
same for each label.

>>> team = SpanAgreement(["PER", "LOC"])
>>> team.record(1, "ana", [(0, 3, "PER"), (10, 15, "LOC")])
>>> team.record(1, "bo", [(0, 3, "PER"), (10, 15, "PER")])
>>> team.kappa()["ana"]["bo"]
0.5
>>> report = team.alpha()
>>> report["f1"], report["exact"], report["items"], report["measure"]
(0.5, 0.0, 1, 'span_f1')
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Hashable, Sequence
from itertools import combinations
from typing import Any

from streamloop.online.agreement import Answers

__all__ = ["SpanAgreement"]

#: A span as the agreement compares it: (start, end, label).
SpanKey = tuple[int, int, str]


class SpanAgreement(Answers[frozenset[tuple[int, int, str]]]):
    """Span F1 between the annotators of the texts two or more of them marked.

    Every figure is kept as counts that each recorded answer updates (matched spans and spans
    given, per pair of annotators and pooled), so reading them never goes over the texts.

    Parameters
    ----------
    labels
        The project's labels (distinct), in the order `per_label` lists them.

    Raises
    ------
    ValueError
        If a label repeats.
    """

    def __init__(self, labels: Sequence[str]) -> None:
        if len(set(labels)) != len(labels):
            raise ValueError(f"labels must not repeat, got {list(labels)}")
        super().__init__()
        self._labels = tuple(labels)
        #: For each pair of annotators (by name, in order): [spans both gave, spans given by
        #: the two, shared texts].
        self._pairs: dict[tuple[str, str], list[int]] = {}
        #: Pooled over every pair of every shared text, each text weighing 1 / its pairs:
        #: twice the spans matched and the spans given, per label ("" for all labels), and
        #: the share of pairs that gave the same spans.
        self._matched: defaultdict[str, float] = defaultdict(float)
        self._given: defaultdict[str, float] = defaultdict(float)
        self._exact = 0.0
        self._pairable = 0

    @property
    def labels(self) -> tuple[str, ...]:
        """The project's labels."""
        return self._labels

    def record(self, item: Hashable, annotator: str, spans: Collection[Any]) -> None:
        """``annotator`` marked ``spans`` in ``item`` (again: the new spans replace theirs).

        ``spans`` are ``(start, end, label)`` triples or objects with those attributes
        (`spans.Span`), possibly none.

        Raises
        ------
        ValueError
            If a span's label is not the project's; the figures are then left unchanged.
        """
        given = frozenset(_key(span) for span in spans)
        unknown = sorted({label for _, _, label in given}.difference(self._labels))
        if unknown:
            raise ValueError(f"unknown label {unknown[0]!r}; expected some of: {self._labels}")
        self._put(item, annotator, given)

    def kappa(self) -> dict[str, dict[str, float | None]]:
        """For each annotator, each other they share texts with: their span F1 over those
        texts (None when neither marked any span in them: nothing to compare).

        Returns
        -------
        dict
            ``{annotator: {other annotator: F1 or None}}``, by name, as `Agreement.kappa`.
        """
        found: dict[str, dict[str, float | None]] = {}
        for (one, other), (matched, given, _shared) in self._pairs.items():
            f1 = 2 * matched / given if given else None
            found.setdefault(one, {})[other] = f1
            found.setdefault(other, {})[one] = f1
        return {name: dict(sorted(row.items())) for name, row in sorted(found.items())}

    def per_label(self) -> dict[str, float | None]:
        """For each label, the span F1 of its spans over every pair of every shared text
        (each text weighing once); None until someone marked a span of it in a shared text."""
        return {label: self._f1(label) for label in self._labels}

    def alpha(self) -> dict[str, Any]:
        """The figures over every text two or more annotators marked.

        Returns
        -------
        dict
            ``{"alpha": None, "f1": span F1 or None, "exact": share of pairs that gave the
            very same spans or None, "items": texts it rests on, "measure": "span_f1"}``;
            ``alpha`` is there for the report's shape, and None: spans have no fixed units to
            correct for chance over (the module's notes). Each text weighs once, however many
            annotators marked it.
        """
        return {
            "alpha": None,
            "f1": self._f1(""),
            "exact": self._exact / self._pairable if self._pairable else None,
            "items": self._pairable,
            "measure": "span_f1",
        }

    def _f1(self, label: str) -> float | None:
        given = self._given[label]
        # Sums of 1 / pairs weights: a sum that came back to 0 may be a hair off it.
        return self._matched[label] / given if given > 1e-9 else None

    def _count(self, unit: dict[str, frozenset[SpanKey]], sign: int) -> None:
        """Add (``sign`` 1) or take out (-1) one text's part in every figure."""
        if len(unit) < 2:
            return
        self._pairable += sign
        pairs = list(combinations(sorted(unit), 2))
        weight = sign / len(pairs)
        for one, other in pairs:
            mine, theirs = unit[one], unit[other]
            both = mine & theirs
            counts = self._pairs.setdefault((one, other), [0, 0, 0])
            counts[0] += sign * len(both)
            counts[1] += sign * (len(mine) + len(theirs))
            counts[2] += sign
            if not counts[2]:
                del self._pairs[(one, other)]
            self._matched[""] += weight * 2 * len(both)
            self._given[""] += weight * (len(mine) + len(theirs))
            for _, _, label in both:
                self._matched[label] += weight * 2
            for _, _, label in (*mine, *theirs):
                self._given[label] += weight
            self._exact += weight * (mine == theirs)


def _key(span: Any) -> SpanKey:
    if isinstance(span, tuple):
        start, end, label = span
        return (start, end, label)
    return (span.start, span.end, span.label)
