"""Standardising numbers with River's arithmetic, every field of an item at once."""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

import numpy as np
from river import base

from streamloop.online.compiled import kernels
from streamloop.online.inputs import Row, as_row

__all__ = ["ArrayScaler", "standardised"]


class ArrayScaler(base.Transformer):
    """River's ``StandardScaler`` (no window), its statistics in arrays, one slot per field.

    ``learn_one`` applies River's update (Welford's) to all of an item's fields in one compiled
    step (`streamloop.online.kernels.standardise_step`): the same operations in the same order
    on each field, so after equal histories the counts, means and variances equal River's
    exactly. ``transform_one`` never changes the statistics; a field never learned, or of no
    variance, scales to 0.0 (as `streamloop.online.features.ReadOnlyScaler` does), and so does
    one whose variance overflowed (numbers near 1e300; River's gives NaN there). Deviations
    are square roots of the variances (`standardised`, as a batch is scaled too).

    Rows of one source share their fields, in order: the slots of the last field list seen
    are kept, so most items cost no lookup per field. That memo is left out of the pickled
    state, so a snapshot depends only on what was learned.

    Examples
    --------
    >>> scaler = ArrayScaler()
    >>> for size in [1.0, 2.0, 3.0]:
    ...     scaler.learn_one({"size": size, "new": True})
    >>> scaler.transform_one({"size": 3.0, "new": True, "unseen": 5.0})
    {'size': 1.224744871391589, 'new': 0.0, 'unseen': 0.0}
    >>> scaler.statistics(["size", "unseen"])
    (array([2., 0.]), array([0.66666667, 0.        ]))
    """

    #: Its learning step is compiled (`streamloop.online.compiled.uses_compiled`).
    compiled_steps = True

    def __init__(self) -> None:
        self.slots: dict[Hashable, int] = {}
        self.counts = np.zeros(0)
        self.means = np.zeros(0)
        self.variances = np.zeros(0)

    def learn_one(self, x: dict[Hashable, Any]) -> None:
        if x:
            self.learn_row(x)

    def transform_one(self, x: dict[Hashable, Any]) -> dict[Hashable, Any]:
        if not x:
            return {}
        fields, scaled = self.transform_row(x)
        return dict(zip(fields, scaled.tolist(), strict=True))

    def transform_row(self, x: dict[Hashable, Any]) -> Row:
        """`transform_one`, as the fields and an array of their values."""
        fields, values = as_row(x)
        slots, _rows = self._slots_of(fields, learning=False)
        return fields, standardised(values, *self._gather(slots))

    def learn_transform_one(self, x: dict[Hashable, Any]) -> dict[Hashable, Any]:
        """`learn_one` then `transform_one` of the same item, in one pass: the same values
        (each scaled by the statistics just learned, which the transform would read back)."""
        if not x:
            return {}
        fields, scaled = self.learn_row(x)
        return dict(zip(fields, scaled.tolist(), strict=True))

    def learn_row(self, x: dict[Hashable, Any]) -> Row:
        """Learn the item (a compiled step: `streamloop.online.kernels.standardise_step`); its
        fields, and their values standardised by what was just learned, as an array (the
        values of `learn_transform_one`'s dict, for a step that reads arrays)."""
        fields, values = as_row(x)
        _slots, rows = self._slots_of(fields, learning=True)
        scaled = kernels().standardise_step(self.counts, self.means, self.variances, rows, values)
        return fields, scaled

    def statistics(self, fields: list[Hashable]) -> tuple[np.ndarray[Any, Any], ...]:
        """(means, variances) of ``fields``, 0.0 for those never learned."""
        if not fields:
            return np.zeros(0), np.zeros(0)
        return self._gather(self._slots_of(tuple(fields), learning=False)[0])

    def _gather(self, slots: Any) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
        if isinstance(slots, slice) or slots.min() >= 0:
            return self.means[slots], self.variances[slots]
        known = slots >= 0
        means, variances = np.zeros(len(slots)), np.zeros(len(slots))
        means[known] = self.means[slots[known]]
        variances[known] = self.variances[slots[known]]
        return means, variances

    def _slots_of(self, fields: tuple[Hashable, ...], *, learning: bool) -> tuple[Any, Any]:
        """The fields' slots, twice: as the statistics are best read (a slice when they are
        the first ones in order: a view; else an index array), and as an index array; -1
        for a field never learned (only when not ``learning``; learning gives new fields
        slots)."""
        memo = self.__dict__.get("_memo")
        if memo is not None and memo[0] == fields and (memo[2] or not learning):
            return memo[1], memo[3]
        slots = self.slots
        if learning:
            index = [slots.setdefault(name, len(slots)) for name in fields]
            grown = len(slots) - len(self.counts)
            if grown:
                self.counts, self.means, self.variances = (
                    np.concatenate([array, np.zeros(grown)])
                    for array in (self.counts, self.means, self.variances)
                )
        else:
            index = [slots.get(name, -1) for name in fields]
        complete = min(index) >= 0
        rows = np.array(index, dtype=np.intp)
        found: Any = rows
        if complete and index == list(range(len(index))):
            found = slice(0, len(index))
        self.__dict__["_memo"] = (fields, found, complete, rows)
        return found, rows

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.pop("_memo", None)
        return state


def standardised(
    values: np.ndarray[Any, Any], means: np.ndarray[Any, Any], variances: np.ndarray[Any, Any]
) -> np.ndarray[Any, Any]:
    """As `ArrayScaler` scales: ``(value - mean) / sqrt(variance)``, and 0.0 where the
    deviation is not above 0 (a field of no variance, or never seen); element by element,
    broadcasting (a batch: rows of values, one mean and variance per column)."""
    deviations = np.sqrt(variances)
    known = deviations > 0.0
    return np.where(known, (values - means) / np.where(known, deviations, 1.0), 0.0)
