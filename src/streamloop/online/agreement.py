"""Agreement between annotators on items several of them labelled, kept up to date label by label.

Two figures, both chance-corrected, on nominal labels:

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
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Hashable
from itertools import permutations
from typing import Any

__all__ = ["Agreement", "cohen_kappa"]


def cohen_kappa(table: Counter[tuple[str, str]]) -> float | None:
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
    first: Counter[str] = Counter()
    second: Counter[str] = Counter()
    for (one, other), n in table.items():
        first[one] += n
        second[other] += n
    expected = sum(first[label] * second[label] for label in first) / (total * total)
    if expected >= 1.0:
        return None
    return (observed - expected) / (1.0 - expected)


class Agreement:
    """The labels several annotators gave the same items, and how well they agree."""

    def __init__(self) -> None:
        #: Each item's labels, by annotator (only items that may be labelled more than once).
        self._units: dict[Hashable, dict[str, str]] = {}
        #: For each ordered pair of annotators, their labels on the items both labelled.
        self._pairs: dict[tuple[str, str], Counter[tuple[str, str]]] = {}
        #: Krippendorff's coincidence matrix: pairable values, each item weighted 1 / (m - 1).
        self._coincidences: defaultdict[tuple[str, str], float] = defaultdict(float)
        self._pairable = 0

    def record(self, item: Hashable, annotator: str, label: str) -> None:
        """``annotator`` labelled ``item`` (again: the new label replaces theirs)."""
        unit = self._units.setdefault(item, {})
        self._count(unit, -1)
        unit[annotator] = label
        self._count(unit, +1)

    def forget(self, annotator: str) -> None:
        """Take every label of ``annotator`` out (their labels no longer count)."""
        for unit in self._units.values():
            if annotator in unit:
                self._count(unit, -1)
                del unit[annotator]
                self._count(unit, +1)

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
