"""What a model's learning looked like over time, and each annotator's share of it.

Kept inside the model (so it survives snapshots and replays identically) and small: the
accuracy curve holds at most ``capacity`` points whatever the number of labels, by keeping
every other point and recording half as often each time it fills up.
"""

from __future__ import annotations

from typing import Any

__all__ = ["AnnotatorStats", "Curve"]


class Curve:
    """A bounded series of ``(labels, value, ...)`` points, thinned evenly as it grows.

    >>> curve = Curve(capacity=4)
    >>> for n in range(1, 11):
    ...     curve.add(n, n / 10)
    >>> [point[0] for point in curve.points]
    [4, 8, 10]
    """

    def __init__(self, capacity: int = 2048) -> None:
        if capacity < 2:
            raise ValueError("capacity must be at least 2")
        self.capacity = capacity
        self.step = 1
        self._points: list[tuple[Any, ...]] = []
        self._last: tuple[Any, ...] | None = None

    def add(self, labels: int, *values: float | None) -> None:
        point = (labels, *values)
        self._last = point
        if labels % self.step:
            return
        self._points.append(point)
        if len(self._points) > self.capacity:
            self.step *= 2
            self._points = [p for p in self._points if p[0] % self.step == 0]

    @property
    def points(self) -> list[tuple[Any, ...]]:
        """Every recorded point, and the newest one even when it fell between two steps."""
        if self._last is not None and (not self._points or self._points[-1] != self._last):
            return [*self._points, self._last]
        return list(self._points)


class AnnotatorStats:
    """Per annotator: labels given, how often the model agreed beforehand, corrections made.

    >>> stats = AnnotatorStats()
    >>> stats.labelled("ann", agreed=True)
    >>> stats.labelled("ann", agreed=False)
    >>> stats.corrected("ann")
    >>> stats.report()
    {'ann': {'labels': 2, 'agreement': 0.5, 'corrections': 1}}
    """

    def __init__(self) -> None:
        self._counts: dict[str, list[int]] = {}

    def labelled(self, annotator: str, *, agreed: bool) -> None:
        counts = self._counts.setdefault(annotator, [0, 0, 0])
        counts[0] += 1
        counts[1] += int(agreed)

    def corrected(self, annotator: str) -> None:
        self._counts.setdefault(annotator, [0, 0, 0])[2] += 1

    def report(self) -> dict[str, dict[str, Any]]:
        return {
            name: {
                "labels": labels,
                "agreement": agreed / labels if labels else None,
                "corrections": corrections,
            }
            for name, (labels, agreed, corrections) in sorted(self._counts.items())
        }
