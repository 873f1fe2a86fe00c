"""Agreement between annotators on items several of them labelled, kept up to date label by label.

`Agreement` is for single-label projects. Two figures, both chance-corrected, on nominal labels:

- Cohen's kappa for each pair of annotators, over the items both labelled: how much more often
  they agree than two annotators labelling at random with their own label frequencies would;
- Krippendorff's alpha over every item labelled by two or more annotators, whoever they are: the
  figure for a team whose members each see a different subset of items.

Both are kept as counts that each label updates (a pair's contingency table, the coincidence
matrix), so reading them costs the number of labels in use squared, not the number of items.

>>> team = Agreement()
>>> for item, a, b in [(1, "bug", "bug"), (2, "bug", "billing"), (3, "billing", "billing")]:
...     team.record(item, "ana", a)
...     team.record(item, "bo", b)
>>> round(team.kappa()["ana"]["bo"], 3)
0.4
>>> report = team.alpha()
>>> round(report["alpha"], 3), report["items"]
(0.444, 3)

`MultiLabelAgreement` is for multi-label projects, where each annotator gives an item a set of
labels (possibly empty). It reports the same shapes, on sets:

- for each pair of annotators, the mean over the project's labels of Cohen's kappa on whether
  the label applies;
- for each label, Krippendorff's alpha on whether it applies;
- Krippendorff's alpha on whole sets, with the MASI distance (Passonneau 2006): sets that
  overlap disagree less than disjoint ones, and a subset less than a mere overlap.

>>> team = MultiLabelAgreement(["bug", "billing", "ui"])
>>> for item, a, b in [(1, {"bug"}, {"bug"}), (2, {"bug", "ui"}, {"bug"}), (3, set(), {"billing"})]:
...     team.record(item, "ana", a)
...     team.record(item, "bo", b)
>>> team.alpha()["distance"], round(team.alpha()["alpha"], 3)
('masi', 0.242)
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Callable, Collection, Hashable, Mapping, Sequence, Set
from fractions import Fraction
from itertools import permutations
from typing import Any, Generic, TypeVar

#: Below this, a float sum of weights or distances is 0 (what adding and taking away left).
_ROUNDING = 1e-9

__all__ = ["Agreement", "Answers", "MultiLabelAgreement", "cohen_kappa", "masi_distance"]

#: What annotators give an item: a label, whether a label applies, a set of labels.
Value = TypeVar("Value", bound=Hashable)
#: An annotator's whole answer to an item: a label, a set of labels, a set of spans.
Answer = TypeVar("Answer")


def cohen_kappa(table: Mapping[tuple[Value, Value], int]) -> float | None:
    """Cohen's kappa of a contingency table ``{(label of one, label of other): items}``; None
    with no items, or when chance alone would make them agree on every item.

    >>> cohen_kappa(Counter({("a", "a"): 2, ("b", "b"): 2}))
    1.0
    >>> cohen_kappa(Counter({("a", "a"): 4})) is None
    True
    """
    total = sum(table.values())
    if total == 0:
        return None
    observed = sum(n for (one, other), n in table.items() if one == other) / total
    first: Counter[Value] = Counter()
    second: Counter[Value] = Counter()
    for (one, other), n in table.items():
        first[one] += n
        second[other] += n
    expected = sum(first[label] * second[label] for label in first) / (total * total)
    if expected >= 1.0:
        return None
    return (observed - expected) / (1.0 - expected)


class Answers(Generic[Answer]):
    """Each item's answers, by annotator, and the figures a subclass keeps over them: each
    change takes the item's part out (`_count` with -1), then puts it back (+1)."""

    def __init__(self) -> None:
        #: Each item's answers, by annotator (only items that may be answered more than once).
        self._units: dict[Hashable, dict[str, Answer]] = {}

    def _put(self, item: Hashable, annotator: str, answer: Answer) -> None:
        """``annotator`` answered ``item`` with ``answer`` (again: it replaces theirs)."""
        unit = self._units.setdefault(item, {})
        self._count(unit, -1)
        unit[annotator] = answer
        self._count(unit, +1)

    def forget(self, annotator: str) -> None:
        """Take every answer of ``annotator`` out (their answers no longer count)."""
        for unit in self._units.values():
            if annotator in unit:
                self._count(unit, -1)
                del unit[annotator]
                self._count(unit, +1)

    def _count(self, unit: dict[str, Answer], sign: int) -> None:
        """Add (``sign`` 1) or take out (-1) one item's part in every figure."""
        raise NotImplementedError


class Agreement(Answers[str]):
    """The labels several annotators gave the same items, and how well they agree."""

    def __init__(self) -> None:
        super().__init__()
        #: For each ordered pair of annotators, their labels on the items both labelled.
        self._pairs: dict[tuple[str, str], Counter[tuple[str, str]]] = {}
        #: Krippendorff's coincidence matrix: pairable values, each item weighted 1 / (m - 1).
        self._coincidences: defaultdict[tuple[str, str], float] = defaultdict(float)
        self._pairable = 0

    def record(self, item: Hashable, annotator: str, label: str) -> None:
        """``annotator`` labelled ``item`` (again: the new label replaces theirs)."""
        self._put(item, annotator, label)

    def kappa(self) -> dict[str, dict[str, float | None]]:
        """Cohen's kappa of each annotator with each other they share items with."""
        found: dict[str, dict[str, float | None]] = {}
        for (one, other), table in self._pairs.items():
            if sum(table.values()):
                found.setdefault(one, {})[other] = cohen_kappa(table)
        return {name: dict(sorted(row.items())) for name, row in sorted(found.items())}

    def alpha(self) -> dict[str, Any]:
        """Krippendorff's alpha (nominal) over the items labelled by two or more annotators, and
        how many items it rests on; alpha is None until it is defined (two labels in use)."""
        totals: defaultdict[str, float] = defaultdict(float)
        for (value, _other), weight in self._coincidences.items():
            totals[value] += weight
        n = sum(totals.values())
        disagreeing = sum(w for (one, other), w in self._coincidences.items() if one != other)
        by_chance = n * n - sum(count * count for count in totals.values())
        if n <= 1 or by_chance <= 1e-12:
            return {"alpha": None, "items": self._pairable}
        return {"alpha": 1.0 - (n - 1.0) * disagreeing / by_chance, "items": self._pairable}

    def _count(self, unit: dict[str, str], sign: int) -> None:
        """Add (``sign`` 1) or take out (-1) one item's part in every figure."""
        labelled = len(unit)
        if labelled < 2:
            return
        self._pairable += sign
        for one, other in permutations(unit, 2):
            table = self._pairs.setdefault((one, other), Counter())
            table[(unit[one], unit[other])] += sign
            self._coincidences[(unit[one], unit[other])] += sign / (labelled - 1)


def masi_distance(one: Set[str], other: Set[str]) -> float:
    """The MASI distance between two label sets (Passonneau 2006): one minus their Jaccard
    similarity times how monotonic they are (1 if equal, 2/3 if one holds the other, 1/3 if
    they only overlap, 0 if disjoint). Two empty sets are equal: distance 0.

    Parameters
    ----------
    one, other
        The labels each annotator gave the item.

    Returns
    -------
    float
        0 for equal sets, 1 for disjoint ones (an empty set and a non-empty one too), and at
        least 1/3 for any two sets that differ.

    Examples
    --------
    >>> masi_distance({"bug"}, {"bug"}), masi_distance(set(), set())
    (0.0, 0.0)
    >>> round(masi_distance({"bug", "ui"}, {"bug"}), 3)  # a subset: 1 - 1/2 * 2/3
    0.667
    >>> round(masi_distance({"bug", "ui"}, {"bug", "billing"}), 3)  # an overlap: 1 - 1/3 * 1/3
    0.889
    >>> masi_distance({"bug"}, set())
    1.0
    """
    if one == other:
        return 0.0
    shared = len(one & other)
    if shared == min(len(one), len(other)):
        monotonicity = 2 / 3
    elif shared:
        monotonicity = 1 / 3
    else:
        return 1.0
    return 1.0 - shared / len(one | other) * monotonicity


def _krippendorff_alpha(
    coincidences: Mapping[tuple[Value, Value], Fraction], distance: Callable[[Value, Value], float]
) -> float | None:
    """Krippendorff's alpha of a coincidence matrix, with ``distance`` between values; None with
    fewer than two values or when chance alone would make every pair agree."""
    exact_totals: defaultdict[Value, Fraction] = defaultdict(Fraction)
    for (value, _other), weight in coincidences.items():
        exact_totals[value] += weight
    # Each total is a whole number of values; floats from here keep the squared loop cheap.
    totals = {value: float(total) for value, total in exact_totals.items() if total}
    n = sum(totals.values())
    # A value's distance to itself is 0, so only differing pairs count on either side.
    observed = sum(
        float(weight) * distance(one, other)
        for (one, other), weight in coincidences.items()
        if one != other
    )
    by_chance = sum(
        totals[one] * totals[other] * distance(one, other)
        for one in totals
        for other in totals
        if one != other
    )
    if n <= 1 or by_chance <= 0.0:
        return None
    return 1.0 - (n - 1.0) * observed / by_chance


def _differ(one: bool, other: bool) -> float:
    """The nominal distance between two answers to "does this label apply?"."""
    return 0.0 if one == other else 1.0


class MultiLabelAgreement(Answers[frozenset[str]]):
    """The label sets several annotators gave the same items, and how well they agree.

    The multi-label counterpart of `Agreement`, with the same methods and report shapes. Every
    figure is kept as counts that each recorded set updates, so reading them never goes over
    the items.

    Parameters
    ----------
    labels
        The project's labels (distinct), in the order `per_label` lists them.

    Raises
    ------
    ValueError
        If a label repeats.

    Examples
    --------
    >>> team = MultiLabelAgreement(["bug", "billing", "ui"])
    >>> for item, a, b in [
    ...     (1, {"bug"}, {"bug"}),
    ...     (2, {"bug", "ui"}, {"bug"}),
    ...     (3, set(), {"billing"}),
    ...     (4, {"billing"}, {"billing"}),
    ... ]:
    ...     team.record(item, "ana", a)
    ...     team.record(item, "bo", b)
    >>> team.kappa()  # bug 1, billing 1/2, ui 0
    {'ana': {'bo': 0.5}, 'bo': {'ana': 0.5}}
    >>> {label: round(alpha, 3) for label, alpha in team.per_label().items() if alpha is not None}
    {'bug': 1.0, 'billing': 0.533, 'ui': 0.0}
    >>> report = team.alpha()
    >>> round(report["alpha"], 3), report["items"], report["distance"]
    (0.444, 4, 'masi')
    """

    def __init__(self, labels: Sequence[str]) -> None:
        if len(set(labels)) != len(labels):
            raise ValueError(f"labels must not repeat, got {list(labels)}")
        super().__init__()
        self._labels = tuple(labels)
        #: How many items each ordered pair of annotators both labelled.
        self._shared: Counter[tuple[str, str]] = Counter()
        #: For each ordered pair of annotators sharing items, each label's 2x2 table on them:
        #: (applies in the first one's set, applies in the other's) -> items.
        self._pairs: dict[tuple[str, str], dict[str, Counter[tuple[bool, bool]]]] = {}
        #: Krippendorff's coincidence matrices, each item's pairs weighted 1 / (m - 1): one of
        #: whole sets, and one per label of whether it applies. Fractions keep them exact, so a
        #: set no longer in use leaves its entries at exactly 0 and they can go: the matrix
        #: stays the size of the sets in use, out of the 2 ** labels possible.
        self._coincidences: dict[tuple[frozenset[str], frozenset[str]], Fraction] = {}
        self._label_coincidences: dict[str, defaultdict[tuple[bool, bool], Fraction]] = {
            label: defaultdict(Fraction) for label in self._labels
        }
        self._pairable = 0
        #: For the MASI alpha, kept as each set changes so that reading it costs nothing: each
        #: set's total in the coincidence matrix, and the matrix's observed and expected
        #: (by chance) disagreement. Floats: exact fractions made a change cost milliseconds
        #: with a thousand sets in use; the rounding they add is far below what is shown.
        self._totals: dict[frozenset[str], float] = {}
        self._observed = 0.0
        self._expected = 0.0

    @property
    def labels(self) -> tuple[str, ...]:
        """The project's labels."""
        return self._labels

    def record(self, item: Hashable, annotator: str, labels: Collection[str]) -> None:
        """``annotator`` gave ``item`` the set ``labels`` (again: the new set replaces theirs).

        Parameters
        ----------
        item
            The item labelled.
        annotator
            Who labelled it.
        labels
            The labels that apply, possibly none.

        Raises
        ------
        ValueError
            If ``labels`` is a single string, or holds a label that is not the project's; the
            figures are then left unchanged.
        """
        if isinstance(labels, str):
            raise ValueError(f"labels must be a collection of labels, got the string {labels!r}")
        given = frozenset(labels)
        unknown = sorted(given.difference(self._labels))
        if unknown:
            raise ValueError(f"unknown label {unknown[0]!r}; expected some of: {self._labels}")
        self._put(item, annotator, given)

    def kappa(self) -> dict[str, dict[str, float | None]]:
        """For each annotator, each other they share items with: the mean over the project's
        labels of Cohen's kappa on whether the label applies, over their shared items.

        Only the labels whose kappa is defined are averaged (a label that neither of them gave
        any shared item, or that both gave every one, has none); None if no label's kappa is.

        Returns
        -------
        dict
            ``{annotator: {other annotator: mean kappa or None}}``, by name, as
            `Agreement.kappa`.
        """
        found: dict[str, dict[str, float | None]] = {}
        for (one, other), tables in self._pairs.items():
            defined = [
                kappa
                for kappa in (cohen_kappa(table) for table in tables.values())
                if kappa is not None
            ]
            found.setdefault(one, {})[other] = sum(defined) / len(defined) if defined else None
        return {name: dict(sorted(row.items())) for name, row in sorted(found.items())}

    def per_label(self) -> dict[str, float | None]:
        """For each label, Krippendorff's alpha (nominal) on whether it applies, over the items
        labelled by two or more annotators; None until both answers are in use.

        Alpha rather than Cohen's kappa pooled over pairs of annotators: kappa is defined for
        one fixed pair, and pooling every ordered pair makes both sides' label frequencies the
        same, which turns it into Scott's pi while counting an item m (m - 1) times. Alpha is
        the standard figure for any number of annotators each seeing different items: each
        item's pairs weigh 1 / (m - 1), so each label set counts once. It is also what `alpha`
        reports on whole sets, and `Agreement.alpha` on single labels, so the figures compare.

        Returns
        -------
        dict
            ``{label: alpha or None}``, in the project's order.
        """
        return {
            label: _krippendorff_alpha(coincidences, _differ)
            for label, coincidences in self._label_coincidences.items()
        }

    def alpha(self) -> dict[str, Any]:
        """Krippendorff's alpha over the items labelled by two or more annotators, on whole
        label sets with the MASI distance (`masi_distance`).

        Its parts are kept as sets are recorded (each change costs the number of distinct
        sets in use), so reading it costs nothing.

        Returns
        -------
        dict
            ``{"alpha": alpha or None, "items": items it rests on, "distance": "masi"}``;
            alpha is None until it is defined (two different sets in use).
        """
        n = math.fsum(self._totals.values())
        alpha = None
        if n > 1.5 and self._expected > _ROUNDING:
            alpha = 1.0 - (n - 1.0) * self._observed / self._expected
        return {"alpha": alpha, "items": self._pairable, "distance": "masi"}

    def _count(self, unit: dict[str, frozenset[str]], sign: int) -> None:
        """Add (``sign`` 1) or take out (-1) one item's part in every figure."""
        labelled = len(unit)
        if labelled < 2:
            return
        self._pairable += sign
        weight = Fraction(sign, labelled - 1)
        for one, other in permutations(unit, 2):
            mine, theirs = unit[one], unit[other]
            tables = self._pairs.setdefault(
                (one, other), {label: Counter() for label in self._labels}
            )
            for label in self._labels:
                answers = (label in mine, label in theirs)
                tables[label][answers] += sign
                self._label_coincidences[label][answers] += weight
            self._shared[(one, other)] += sign
            if not self._shared[(one, other)]:
                del self._shared[(one, other)], self._pairs[(one, other)]
            coincidence = self._coincidences.get((mine, theirs), Fraction(0)) + weight
            if coincidence:
                self._coincidences[(mine, theirs)] = coincidence
            else:
                del self._coincidences[(mine, theirs)]
            share = sign / (labelled - 1)
            self._observed += share * masi_distance(mine, theirs)
            self._count_set(mine, share)

    def _count_set(self, value: frozenset[str], weight: float) -> None:
        """The set ``value``'s total in the coincidence matrix moves by ``weight``: the expected
        disagreement, the sum over ordered pairs of sets of total x total x distance, moves by
        twice ``weight`` times this set's weighted distance to every other (to itself it is 0)."""
        self._expected += (
            2.0
            * weight
            * math.fsum(
                total * masi_distance(value, other) for other, total in self._totals.items()
            )
        )
        total = self._totals.get(value, 0.0) + weight
        if abs(total) > _ROUNDING:
            self._totals[value] = total
        else:
            del self._totals[value]
