"""The garbage collector's pauses: measured in every process, kept short in a service's.

CPython's cyclic collector stops the whole process while it runs, and a full collection walks
every object it tracks. Once a service has started, most of those are what start-up made and
the process keeps to the end: modules, classes, the models' libraries and compiled code (about
250,000 objects; 150-180 ms a walk under load on a 2-core machine). Every ack and answer in
flight waits such a walk out. `settle` leaves them out of the collector's sight once the
service is ready (`gc.freeze`), and `keep` does the same with what opening a project imports
later, so that full collections walk only what the service made since. `PAUSES` times every
collection.
"""

from __future__ import annotations

import bisect
import gc
import sys
import time
from typing import Any

__all__ = ["GENERATIONS", "PAUSES", "PAUSE_BOUNDS", "Pauses", "frozen_objects", "keep", "settle"]

#: The collector's generations, youngest first.
GENERATIONS = 3
#: Upper bounds (seconds) of the pause histogram's buckets.
PAUSE_BOUNDS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)


class Pauses:
    """Each collection's pause, by generation, as a histogram (from `gc.callbacks`).

    >>> pauses = Pauses()
    >>> pauses.record(2, 0.12)
    >>> pauses.record(2, 0.0005)
    >>> buckets, seconds = pauses.read(2)
    >>> buckets[PAUSE_BOUNDS.index(0.25)], buckets[PAUSE_BOUNDS.index(0.0005)], seconds
    (1, 1, 0.1205)
    """

    def __init__(self) -> None:
        #: Per generation, the collections in each bucket (not cumulative), the last one
        #: for those beyond the bounds; and the seconds they took.
        self._buckets = [[0] * (len(PAUSE_BOUNDS) + 1) for _ in range(GENERATIONS)]
        self._seconds = [0.0] * GENERATIONS
        self._started: float | None = None

    def install(self) -> None:
        """Start timing (once per process, however often called)."""
        if self._on_collection not in gc.callbacks:
            gc.callbacks.append(self._on_collection)

    def record(self, generation: int, seconds: float) -> None:
        self._buckets[generation][bisect.bisect_left(PAUSE_BOUNDS, seconds)] += 1
        self._seconds[generation] += seconds

    def read(self, generation: int) -> tuple[list[int], float]:
        """A generation's bucket counts (not cumulative) and seconds, read together."""
        return list(self._buckets[generation]), self._seconds[generation]

    def _on_collection(self, phase: str, info: dict[str, Any]) -> None:
        # CPython runs one collection at a time, in whichever thread set it off; no lock
        # here (a thread holding one could set off a collection and wait on itself).
        if phase == "start":
            self._started = time.perf_counter()
        elif self._started is not None:
            self.record(info["generation"], time.perf_counter() - self._started)
            self._started = None


#: The process's pauses (the collector is the process's, whatever app is served).
PAUSES = Pauses()

#: Modules imported when `keep` last froze; None until `settle` freezes.
_frozen_with: int | None = None
#: Objects frozen, counted at the last freeze.
_frozen_objects = 0


def settle(*, freeze: bool, young: int) -> None:
    """Tune the collector for a service that has started.

    ``freeze``: collect what is garbage now, then leave every object alive out of later
    collections (`gc.freeze`), and let `keep` do so again whenever more modules are loaded.
    ``young``: the allocations that start a collection of the youngest generation (CPython's
    default is 700).

    The cost: a frozen object is never walked again, so a reference cycle among frozen
    objects that becomes garbage later is never reclaimed. Most of them last as long as the
    process (modules, classes, compiled code, the models' libraries). What else was alive at
    a freeze (requests and sockets in flight, queued items, a model replaced later) may hold
    such cycles: a bounded amount, once per freeze, and freezes happen only at start-up and
    when opening a project imports more libraries.
    """
    if freeze:
        _freeze()
    _, middle, oldest = gc.get_threshold()
    gc.set_threshold(young, middle, oldest)


def keep() -> None:
    """In a process `settle` froze: if modules were imported since the last freeze (a
    project's model, or its compiled steps, the first time), freeze again.

    A full collection first, so that no garbage is frozen: one pause of the collector's old
    length, instead of one at every later full collection.
    """
    if _frozen_with is not None and _frozen_with != len(sys.modules):
        _freeze()


def frozen_objects() -> int:
    """How many objects the collector leaves out of its walks, as counted at the last freeze
    (frozen objects freed since are not taken off): counting walks every one of them, 14 ms
    or more for a service's few hundred thousand, in which the whole process waits."""
    return _frozen_objects


def _freeze() -> None:
    global _frozen_with, _frozen_objects
    gc.collect()
    gc.freeze()
    _frozen_with = len(sys.modules)
    _frozen_objects = gc.get_freeze_count()
