"""The routing queue: items waiting for annotators, ranked by uncertainty, and their leases.

Pure and synchronous: time comes in as an argument, scoring as a callable, so the runtime owns
the clock and the model. Ranking uses scores that go stale as the model learns, so every lease
re-scores a bounded set of candidates with the model, and keeps the new scores: the top of the
stale ranking, plus, once per ``version`` given (the model's, or the caller's epoch of kept
predictions), a random sample of the pool, so an item whose uncertainty rose can surface.
"""

from __future__ import annotations

import heapq
import itertools
import random
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sortedcontainers import SortedList

from streamloop.online import AnyPrediction
from streamloop.online.routing import Ranking
from streamloop.store import GoldRecord

__all__ = ["Lease", "QueuedItem", "RoutingQueue", "Scorer"]


@dataclass(slots=True)
class QueuedItem:
    item_id: int
    event_id: str
    data: Mapping[str, Any]
    score: float
    seq: int = 0
    #: Admitted by a random draw (stream mode): its label is a fair sample of the stream.
    drawn_at_random: bool = False


@dataclass(slots=True)
class Lease:
    item: QueuedItem
    holder: str
    annotator: str
    expires_at: float
    lease_id: str = field(default_factory=lambda: _new_lease_id())
    #: Drawn at random (not for its uncertainty): its label is a fair sample of the pool.
    drawn_at_random: bool = False
    #: The item in the model's feature space, when diversity needs it.
    features: Mapping[Any, float] | None = None
    #: The item was sent to the annotator (with a shared store, only once it is claimed).
    delivered: bool = False
    #: A gold item (known answer), leased outside the queue: many annotators may hold it.
    gold: GoldRecord | None = None
    #: What the annotator was shown with it (once delivered).
    prediction: AnyPrediction | None = None
    #: The lease of the annotator's connection that closed holding the item, when this one
    #: gives it back to them (`Returning`): a shared store lets it take over that lease only.
    returned: str | None = None


#: Lease ids: this process's random prefix and a counter, unique across the processes that
#: share a store without a system call per lease (as ``uuid4`` makes).
_LEASE_PREFIX = uuid.uuid4().hex[:16]
_lease_counter = itertools.count(1)


def _new_lease_id() -> str:
    return f"{_LEASE_PREFIX}{next(_lease_counter):016x}"


#: Scores items with the current model: one uncertainty in [0, 1] per item, in order.
#: Or a `Ranking`: uncertainties to keep as scores, and priorities for this one choice.
Scorer = Callable[[Sequence[QueuedItem]], Sequence[float] | Ranking]


@dataclass(slots=True)
class _Counters:
    shed: int = 0
    aged_out: int = 0
    expired: int = 0


class RoutingQueue:
    """A bounded pool of waiting items plus the exclusive leases on items handed out.

    Parameters
    ----------
    capacity
        Most items waiting (not leased). Past it the least uncertain item is shed.
    rng
        Source of randomness for exploration and candidate sampling (seed it in tests).
    """

    def __init__(self, capacity: int, rng: random.Random | None = None) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self.rng = rng or random.Random()
        self.counters = _Counters()
        self._waiting: dict[int, QueuedItem] = {}
        # (score, seq, item_id) of the items not sampled at arrival: the highest score is
        # last, the lowest first.
        self._ranked: SortedList = SortedList()
        self._leases: dict[int, Lease] = {}
        self._skipped: dict[int, set[str]] = {}
        self._by_event: dict[str, int] = {}
        # Items sampled at random on arrival, kept apart: only exploration leases them, and
        # they are shed last, so their labels stay a fair sample of the stream.
        self._sample: SortedList = SortedList()
        # The waiting ids again, in no order, for drawing at random in O(1): a SortedList's
        # positional index is rebuilt after every change, which costs O(n) on a big queue.
        self._ids: list[int] = []
        self._slot: dict[int, int] = {}
        self._seq = 0
        # The model version at which a lease last re-scored random candidates (`lease`).
        self._drawn_at_version: int | None = None

    def __len__(self) -> int:
        return len(self._waiting)

    def __contains__(self, item_id: object) -> bool:
        return item_id in self._waiting or item_id in self._leases

    @property
    def leased(self) -> int:
        return len(self._leases)

    def find(self, event_id: str) -> int | None:
        """The item id of a waiting or leased item, by its event id."""
        return self._by_event.get(event_id)

    def push(self, item: QueuedItem) -> list[int]:
        """Add an item; returns the ids shed to stay within capacity (maybe this very one)."""
        if item.item_id in self:
            return []
        self._seq += 1
        item.seq = self._seq
        ranked = self._ranked
        if (
            len(self._waiting) == self.capacity
            and not item.drawn_at_random
            and ranked
            and (item.score, item.seq, item.item_id) < ranked[0]
        ):
            # It would be the least uncertain item waiting: shed at once, as adding it and
            # then shedding the lowest would (the usual case of a full queue under a steady
            # stream: most events are surer than anything waiting).
            self.counters.shed += 1
            return [item.item_id]
        self._add(item)
        self._by_event[item.event_id] = item.item_id
        shed: list[int] = []
        while len(self._waiting) > self.capacity:
            # The least uncertain item, or when only sampled items wait, the oldest of those.
            lowest = self._ranked[0][2] if self._ranked else self._sample[0][1]
            self.remove(lowest)
            shed.append(lowest)
        self.counters.shed += len(shed)
        return shed

    def admission_floor(self) -> float | None:
        """While the queue is full, the score an arriving item (not drawn at random) must
        reach to wait; ``None`` while there is room. `push` sheds an item scored below it at
        once, and while the queue stays full the floor only rises, so an item below it now
        would be shed on arrival whatever arrives with it: `turn_away` counts such items
        without pushing them (the caller stores them as shed straight away)."""
        if len(self._waiting) < self.capacity or not self._ranked:
            return None
        floor: float = self._ranked[0][0]
        return floor

    def readmissible(self, scores: Sequence[float]) -> list[int]:
        """Of arrivals scored below an earlier `admission_floor` (stored as shed, not pushed
        yet), the indices, in order, of those `push` could still keep now that the queue may
        have changed: each one at or above the lowest ranked score, and the best of the
        others (the later of equals, as `push` keeps) up to the room left; all of them while
        no ranked item waits. Pushed in order, the others would be shed at once."""
        if not self._ranked:
            return list(range(len(scores)))
        lowest = self._ranked[0][0]
        keep = [i for i, score in enumerate(scores) if score >= lowest]
        room = self.capacity - len(self._waiting)
        if room > 0:
            below = [(score, i) for i, score in enumerate(scores) if score < lowest]
            keep += [i for _score, i in heapq.nlargest(room, below)]
        return sorted(keep)

    def turn_away(self, count: int) -> None:
        """Count ``count`` arrivals shed without being pushed (see `admission_floor`)."""
        self._seq += count
        self.counters.shed += count

    @property
    def arrivals(self) -> int:
        """Items pushed so far: a mark that `age_out` can take out the items from before."""
        return self._seq

    def age_out(self, before: int) -> list[int]:
        """Take out the waiting items (leased ones stay) pushed before the ``before`` mark (an
        `arrivals` count): after a drift, they show the past."""
        aged = [item_id for item_id, item in self._waiting.items() if item.seq <= before]
        for item_id in aged:
            self.remove(item_id)
        self.counters.aged_out += len(aged)
        return aged

    def remove(self, item_id: int) -> QueuedItem | None:
        """Take an item out for good (it was labelled), whether waiting or leased."""
        self._skipped.pop(item_id, None)
        lease = self._leases.pop(item_id, None)
        item = lease.item if lease is not None else self._discard(item_id)
        if item is not None:
            self._by_event.pop(item.event_id, None)
        return item

    def lease(
        self,
        *,
        holder: str,
        annotator: str,
        now: float,
        duration: float,
        scorer: Scorer,
        candidates: int,
        explore: bool = False,
        random_counts: bool = False,
        version: int | None = None,
    ) -> Lease | None:
        """Lease the most useful item this annotator may see, or ``None`` if there is none.

        The candidates re-scored are the top of the ranking and, once per ``version`` (the
        model's, or the epoch in which the caller keeps its predictions; each lease when it is
        not given), as many drawn from the whole pool: those find the items the model has
        since become unsure of. Later leases at the same version (many annotators between two
        learning steps) re-score only the top, where the first one's fresh scores went.

        With ``explore`` the item is drawn at random instead: from the items sampled at
        arrival when there are any (the lease is then ``drawn_at_random``), else from the
        whole pool (``drawn_at_random`` only if ``random_counts``: while the pool is still
        the stream as it arrived, during a warm-up, or when every pick is random).
        """
        chosen = self._random_sampled(annotator) if explore else None
        drawn_at_random = chosen is not None
        if chosen is None and explore:
            chosen = self._random_eligible(annotator, tries=max(candidates, 8))
            drawn_at_random = chosen is not None and random_counts
        if chosen is None:
            from_pool = version is None or version != self._drawn_at_version
            self._drawn_at_version = version
            chosen = self._best(annotator, scorer, candidates, from_pool=from_pool)
        if chosen is None:
            # Only sampled items are left: they go out too, still as random draws.
            chosen = self._random_sampled(annotator)
            drawn_at_random = chosen is not None
        if chosen is None:
            return None
        self._discard(chosen.item_id)
        lease = Lease(chosen, holder, annotator, now + duration, drawn_at_random=drawn_at_random)
        self._leases[chosen.item_id] = lease
        return lease

    def lease_item(
        self,
        item_id: int,
        *,
        holder: str,
        annotator: str,
        now: float,
        duration: float,
        drawn_at_random: bool = False,
    ) -> Lease | None:
        """Lease this item (one an annotator held before their connection closed), if it still
        waits and they may see it; None otherwise."""
        item = self._waiting.get(item_id)
        if item is None or not self._eligible(item_id, annotator):
            return None
        self._discard(item_id)
        lease = Lease(item, holder, annotator, now + duration, drawn_at_random=drawn_at_random)
        self._leases[item_id] = lease
        return lease

    def mark_skipped(self, item_id: int, annotator: str) -> None:
        """Remember that ``annotator`` skipped a waiting item (when rebuilding after a restart)."""
        if item_id in self:
            self._skipped.setdefault(item_id, set()).add(annotator)

    def holder_of(self, item_id: int) -> Lease | None:
        return self._leases.get(item_id)

    def release(self, item_id: int, *, skipped_by: str | None = None) -> bool:
        """Return a leased item to the waiting pool; ``skipped_by`` never sees it again."""
        lease = self._leases.pop(item_id, None)
        if lease is None:
            return False
        if skipped_by is not None:
            self._skipped.setdefault(item_id, set()).add(skipped_by)
        self._add(lease.item)
        return True

    def expire(self, item_id: int, now: float) -> Lease | None:
        """End a lease if it is due at ``now``; the item goes back to the pool."""
        lease = self._leases.get(item_id)
        if lease is None or lease.expires_at > now:
            return None
        self.release(item_id)
        self.counters.expired += 1
        return lease

    def release_holder(self, holder: str) -> list[int]:
        """Return every item a holder (a closed connection) still leases."""
        items = [i for i, lease in self._leases.items() if lease.holder == holder]
        for item_id in items:
            self.release(item_id)
        return items

    def top(self, count: int) -> list[QueuedItem]:
        """The ``count`` waiting items ranked highest (sampled items are not ranked), best
        first, whoever may see them."""
        return [
            self._waiting[item_id]
            for _s, _q, item_id in itertools.islice(reversed(self._ranked), count)
        ]

    def leases(self) -> Iterable[Lease]:
        """The leases in force, oldest first."""
        return self._leases.values()

    def waiting_items(self) -> Iterable[QueuedItem]:
        return self._waiting.values()

    def item_ids(self) -> set[int]:
        """Every item here, waiting or leased."""
        return set(self._waiting) | set(self._leases)

    # -- internals --------------------------------------------------------------------------

    def _add(self, item: QueuedItem) -> None:
        self._waiting[item.item_id] = item
        self._slot[item.item_id] = len(self._ids)
        self._ids.append(item.item_id)
        if item.drawn_at_random:
            self._sample.add((item.seq, item.item_id))
        else:
            self._ranked.add((item.score, item.seq, item.item_id))

    def _discard(self, item_id: int) -> QueuedItem | None:
        item = self._waiting.pop(item_id, None)
        if item is not None:
            slot = self._slot.pop(item_id)
            last = self._ids.pop()
            if last != item_id:  # move the last id into the freed slot
                self._ids[slot] = last
                self._slot[last] = slot
            if item.drawn_at_random:
                self._sample.remove((item.seq, item_id))
            else:
                self._ranked.remove((item.score, item.seq, item_id))
        return item

    def _random_sampled(self, annotator: str) -> QueuedItem | None:
        # The newest sampled item: under a stream that does not change, arrival order says
        # nothing about an item, so it is as fair a draw as any; after a drift, it is the one
        # that shows the new concept (BENCHMARKS.md, drift).
        for _seq, item_id in itertools.islice(reversed(self._sample), 64):
            if self._eligible(item_id, annotator):
                return self._waiting[item_id]
        return None

    def _eligible(self, item_id: int, annotator: str) -> bool:
        skipped = self._skipped.get(item_id)
        return skipped is None or annotator not in skipped

    def _best(
        self, annotator: str, scorer: Scorer, candidates: int, *, from_pool: bool = True
    ) -> QueuedItem | None:
        pool = self._candidates(annotator, candidates, from_pool=from_pool)
        if not pool:
            return None
        ranking = scorer(pool)
        if isinstance(ranking, Ranking):
            scores, priorities = ranking.uncertainty, ranking.priority
        else:
            scores = priorities = ranking
        best: QueuedItem | None = None
        best_priority = 0.0
        for item, score, priority in zip(pool, scores, priorities, strict=True):
            if item.score != score:  # as it was (the model unchanged since): left in place
                self._ranked.remove((item.score, item.seq, item.item_id))
                item.score = float(score)
                self._ranked.add((item.score, item.seq, item.item_id))
            if best is None or priority > best_priority:
                best, best_priority = item, float(priority)
        return best

    def _candidates(self, annotator: str, candidates: int, *, from_pool: bool) -> list[QueuedItem]:
        top_n = max(1, candidates // 2)
        chosen: dict[int, QueuedItem] = {}
        # Walk down from the top; only this annotator's skipped items are passed over, so
        # the walk is bounded by candidates plus what this annotator skipped.
        for _score, _seq, item_id in reversed(self._ranked):  # sampled items are not in it
            if len(chosen) >= top_n:
                break
            if self._eligible(item_id, annotator):
                chosen[item_id] = self._waiting[item_id]
        if not chosen or not from_pool:
            return list(chosen.values())
        size = len(self._ids)
        for _ in range(candidates - top_n):
            item_id = self._ids[self.rng.randrange(size)]
            item = self._waiting[item_id]
            eligible = item_id not in chosen and self._eligible(item_id, annotator)
            if eligible and not item.drawn_at_random:
                chosen[item_id] = item
        return list(chosen.values())

    def _random_eligible(self, annotator: str, tries: int) -> QueuedItem | None:
        size = len(self._ids)
        if size == 0:
            return None
        for _ in range(tries):
            item_id = self._ids[self.rng.randrange(size)]
            if self._eligible(item_id, annotator):
                return self._waiting[item_id]
        return None
