"""The routing queue: ranking with fresh scores, exclusive leases, skips, expiry, shedding."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streamloop.streams.queue import QueuedItem, RoutingQueue


def item(item_id: int, score: float = 0.5) -> QueuedItem:
    return QueuedItem(item_id, f"evt-{item_id}", {"text": str(item_id)}, score)


def fixed_scores(scores: dict[int, float]):
    def scorer(items: Sequence[QueuedItem]) -> list[float]:
        return [scores.get(i.item_id, i.score) for i in items]

    return scorer


def keep_scores(items: Sequence[QueuedItem]) -> list[float]:
    return [i.score for i in items]


def lease(
    queue: RoutingQueue,
    holder: str = "c1",
    annotator: str = "alice",
    *,
    now: float = 0.0,
    scorer=keep_scores,
    explore: bool = False,
):
    return queue.lease(
        holder=holder,
        annotator=annotator,
        now=now,
        duration=10.0,
        scorer=scorer,
        candidates=8,
        explore=explore,
    )


def test_lease_gives_the_most_uncertain_item():
    queue = RoutingQueue(100, random.Random(0))
    for i, score in enumerate([0.1, 0.9, 0.5]):
        queue.push(item(i, score))
    assert lease(queue).item.item_id == 1


def test_lease_ranks_by_scores_of_the_current_model_not_stale_ones():
    queue = RoutingQueue(100, random.Random(0))
    queue.push(item(1, 0.9))
    queue.push(item(2, 0.2))
    # The model has since learned: item 1 is now easy and item 2 hard.
    chosen = lease(queue, scorer=fixed_scores({1: 0.05, 2: 0.8}))
    assert chosen.item.item_id == 2
    assert queue.waiting_items().__iter__().__next__().score == pytest.approx(0.05)


def test_two_holders_never_lease_the_same_item():
    queue = RoutingQueue(100, random.Random(0))
    for i in range(50):
        queue.push(item(i, i / 50))
    held: set[int] = set()
    for n in range(50):
        got = lease(queue, holder=f"c{n % 4}", annotator=f"a{n % 4}")
        assert got is not None and got.item.item_id not in held
        held.add(got.item.item_id)
    assert lease(queue) is None
    assert queue.leased == 50 and len(queue) == 0


def test_a_skipped_item_never_returns_to_the_same_annotator():
    queue = RoutingQueue(100, random.Random(0))
    queue.push(item(1, 0.9))
    first = lease(queue, annotator="alice")
    assert queue.release(first.item.item_id, skipped_by="alice")
    assert lease(queue, annotator="alice") is None
    assert lease(queue, holder="c2", annotator="bob").item.item_id == 1


def test_skipped_items_are_passed_over_for_the_next_best():
    queue = RoutingQueue(100, random.Random(0))
    for i in range(20):
        queue.push(item(i, i / 20))
    for _ in range(10):
        got = lease(queue, annotator="alice")
        queue.release(got.item.item_id, skipped_by="alice")
    got = lease(queue, annotator="alice")
    assert got.item.item_id == 9


def test_an_expired_lease_returns_its_item():
    queue = RoutingQueue(100, random.Random(0))
    queue.push(item(1, 0.9))
    got = lease(queue, now=100.0)
    assert queue.expire(1, now=105.0) is None
    assert queue.expire(1, now=got.expires_at) is not None
    assert queue.counters.expired == 1
    assert lease(queue, holder="c2", annotator="bob").item.item_id == 1


def test_releasing_a_holder_returns_all_its_items():
    queue = RoutingQueue(100, random.Random(0))
    for i in range(3):
        queue.push(item(i))
    for _ in range(3):
        lease(queue, holder="gone")
    assert sorted(queue.release_holder("gone")) == [0, 1, 2]
    assert len(queue) == 3 and queue.leased == 0


def test_a_full_queue_sheds_the_least_uncertain():
    queue = RoutingQueue(3, random.Random(0))
    for i, score in enumerate([0.5, 0.2, 0.7]):
        assert queue.push(item(i, score)) == []
    assert queue.push(item(3, 0.9)) == [1]
    assert queue.push(item(4, 0.1)) == [4]
    assert queue.counters.shed == 2
    assert sorted(i.item_id for i in queue.waiting_items()) == [0, 2, 3]
    assert queue.find("evt-1") is None and queue.find("evt-3") == 3


def test_exploration_draws_items_regardless_of_score():
    queue = RoutingQueue(1000, random.Random(0))
    for i in range(1000):
        queue.push(item(i, i / 1000))
    drawn = [lease(queue, holder=f"c{n}", explore=True).item.item_id for n in range(30)]
    # Uncertainty ranking would hand out 999, 998, ...; random draws spread over the pool.
    assert min(drawn) < 500


def test_removing_a_leased_item_ends_its_lease():
    queue = RoutingQueue(10, random.Random(0))
    queue.push(item(1))
    lease(queue)
    assert queue.remove(1) is not None
    assert 1 not in queue and queue.leased == 0
    assert queue.release(1) is False


def sampled(item_id: int, score: float = 0.5) -> QueuedItem:
    return QueuedItem(
        item_id, f"evt-{item_id}", {"text": str(item_id)}, score, drawn_at_random=True
    )


def test_items_sampled_at_arrival_are_only_leased_by_exploration():
    queue = RoutingQueue(100, random.Random(0))
    queue.push(sampled(1, score=0.99))
    queue.push(item(2, score=0.10))
    by_uncertainty = lease(queue, holder="c1")
    assert by_uncertainty.item.item_id == 2 and not by_uncertainty.drawn_at_random
    explored = lease(queue, holder="c2", annotator="bob", explore=True)
    assert explored.item.item_id == 1 and explored.drawn_at_random


def test_an_exploration_of_the_pool_counts_as_a_sample_only_when_asked():
    queue = RoutingQueue(100, random.Random(0))
    queue.push(item(1))
    queue.push(item(2))
    assert not lease(queue, holder="c1", explore=True).drawn_at_random
    got = queue.lease(
        holder="c2",
        annotator="bob",
        now=0.0,
        duration=1.0,
        scorer=keep_scores,
        candidates=8,
        explore=True,
        random_counts=True,
    )
    assert got.drawn_at_random


def test_sampled_items_are_shed_last_and_served_when_nothing_else_is_left():
    queue = RoutingQueue(2, random.Random(0))
    queue.push(sampled(1, score=0.01))
    queue.push(item(2, score=0.5))
    assert queue.push(item(3, score=0.9)) == [2]
    assert lease(queue, holder="c1").item.item_id == 3
    last = lease(queue, holder="c2", annotator="bob")
    assert last.item.item_id == 1 and last.drawn_at_random


def test_aging_out_takes_the_waiting_items_from_before_the_mark_and_keeps_the_rest():
    queue = RoutingQueue(capacity=100)
    for n in range(3):
        queue.push(item(n))
    sampled = QueuedItem(3, "evt-3", {"text": "3"}, 0.5, drawn_at_random=True)
    queue.push(sampled)
    held = lease(queue)  # a leased item stays, whenever it came
    mark = queue.arrivals
    queue.push(item(10))
    for n in range(11, 20):
        queue.push(QueuedItem(n, f"evt-{n}", {"text": str(n)}, 0.1, drawn_at_random=True))
    aged = queue.age_out(before=mark)
    assert sorted(aged) == sorted({0, 1, 2, 3} - {held.item.item_id})
    assert queue.item_ids() == {held.item.item_id, 10, *range(11, 20)}
    assert queue.counters.aged_out == 3
    # Exploration takes the newest sampled item first.
    assert [lease(queue, explore=True).item.item_id for _ in range(3)] == [19, 18, 17]


def test_the_pool_is_drawn_from_once_per_model_version():
    # Many annotators leasing between two learning steps: the first lease re-scores the top
    # and a draw from the whole pool; the others at that version re-score the top only,
    # where the first one's fresh scores went. A new version draws again.
    queue = RoutingQueue(1000, random.Random(0))
    for i in range(500):
        queue.push(item(i, 0.5 - i / 10_000))  # item 0 on top
    seen: list[list[int]] = []

    def scorer(items: Sequence[QueuedItem]) -> list[float]:
        seen.append(sorted(i.item_id for i in items))
        return [i.score for i in items]

    def lease_at(version: int | None) -> None:
        queue.lease(
            holder="c1",
            annotator="alice",
            now=0.0,
            duration=10.0,
            scorer=scorer,
            candidates=8,
            version=version,
        )

    lease_at(1)
    lease_at(1)
    lease_at(2)
    lease_at(None)
    lease_at(None)  # no version given: every lease draws
    top = [len([n for n in ids if n >= 20]) for ids in seen]  # beyond the top: drawn
    assert top[0] > 0 and top[1] == 0 and top[2] > 0 and top[3] > 0 and top[4] > 0
    assert len(seen[1]) == 4  # the top half of 8 candidates


@settings(max_examples=200, deadline=None)
@given(
    capacity=st.integers(1, 5),
    pushes=st.lists(
        st.tuples(st.sampled_from([0.1, 0.3, 0.5, 0.5, 0.9]), st.booleans(), st.booleans()),
        max_size=40,
    ),
)
def test_a_full_queue_sheds_as_its_rule_says(
    capacity: int, pushes: list[tuple[float, bool, bool]]
) -> None:
    # Against the rule itself, kept here as plainly as it reads: beyond capacity, the least
    # uncertain item not drawn at random goes (the oldest of equals), else the oldest drawn
    # one; sometimes an item is labelled (taken out) between pushes.
    queue = RoutingQueue(capacity, random.Random(0))
    waiting: dict[int, tuple[float, int, bool]] = {}  # id -> (score, arrival, drawn)
    shed_total = 0
    for n, (score, drawn, label_one) in enumerate(pushes):
        shed = queue.push(QueuedItem(n, f"evt-{n}", {}, score, drawn_at_random=drawn))
        waiting[n] = (score, n, drawn)
        expected = []
        while len(waiting) > capacity:
            ranked = [(s, a, i) for i, (s, a, d) in waiting.items() if not d]
            lowest = (
                min(ranked)[2] if ranked else min((a, i) for i, (_, a, _) in waiting.items())[1]
            )
            del waiting[lowest]
            expected.append(lowest)
        assert shed == expected
        shed_total += len(shed)
        if label_one and waiting:
            gone = min(waiting)
            queue.remove(gone)
            del waiting[gone]
        assert sorted(i.item_id for i in queue.waiting_items()) == sorted(waiting)
        assert all(queue.find(f"evt-{i}") == i for i in waiting)
    assert queue.counters.shed == shed_total


@settings(max_examples=200, deadline=None)
@given(
    capacity=st.integers(1, 5),
    before=st.lists(st.tuples(st.sampled_from([0.1, 0.3, 0.5, 0.9]), st.booleans()), max_size=12),
    batch=st.lists(st.tuples(st.sampled_from([0.1, 0.3, 0.5, 0.9]), st.booleans()), max_size=12),
)
def test_an_arrival_below_the_admission_floor_is_shed_whatever_arrives_with_it(
    capacity: int, before: list[tuple[float, bool]], batch: list[tuple[float, bool]]
) -> None:
    # What `ProjectRuntime.ingest` relies on to store such events as shed without pushing.
    queue = RoutingQueue(capacity, random.Random(0))
    for n, (score, drawn) in enumerate(before):
        queue.push(QueuedItem(n, f"evt-{n}", {}, score, drawn_at_random=drawn))
    floor = queue.admission_floor()
    ranked = [i for i in queue.waiting_items() if not i.drawn_at_random]
    if len(queue) < capacity or not ranked:
        assert floor is None
        return
    assert floor == min(i.score for i in ranked)
    for n, (score, drawn) in enumerate(batch, start=len(before)):
        shed = queue.push(QueuedItem(n, f"evt-{n}", {}, score, drawn_at_random=drawn))
        if score < floor and not drawn:
            assert shed == [n]


def test_arrivals_turned_away_count_as_shed_and_as_arrivals():
    queue = RoutingQueue(1)
    queue.push(item(1, 0.9))
    assert queue.admission_floor() == 0.9
    queue.turn_away(3)
    assert queue.counters.shed == 3 and queue.arrivals == 4 and len(queue) == 1


_HIGH = st.sampled_from([0.3, 0.5, 0.7, 0.9])
_LOW = st.sampled_from([0.1, 0.3, 0.5])


@settings(max_examples=1000, deadline=None)
@given(
    capacity=st.integers(1, 3),
    # Mostly a full queue of uncertain items, and a batch mostly below them.
    before=st.lists(st.tuples(_HIGH, st.booleans()), min_size=2, max_size=6),
    meanwhile=st.lists(
        st.one_of(
            st.tuples(st.just("label"), st.integers(0, 6)),
            st.tuples(st.just("age_out"), st.integers(0, 6)),
            st.tuples(st.just("arrive"), st.tuples(_HIGH, st.booleans())),
            st.tuples(st.just("lease"), st.tuples(_LOW, st.booleans())),
            st.tuples(st.just("release"), st.integers(0, 3)),
        ),
        max_size=5,
    ),
    batch=st.lists(st.tuples(_LOW, st.booleans()), min_size=1, max_size=6),
)
def test_arrivals_turned_away_and_readmitted_leave_the_queue_as_pushing_them_all_would(
    capacity: int,
    before: list[tuple[float, bool]],
    meanwhile: list[tuple[str, Any]],
    batch: list[tuple[float, bool]],
) -> None:
    # `ProjectRuntime.ingest` reads the floor, stores the batch (an await: labels, leases,
    # returned leases, age-outs and other batches may change the queue meanwhile), then
    # pushes what was not turned away and what `readmissible` gives back. Every turned-away
    # arrival that pushing the whole batch would keep must be given back, and the queue must
    # end as pushing the whole batch would leave it; unless a returned lease left it over
    # capacity, which the next push trims.
    def filled() -> RoutingQueue:
        queue = RoutingQueue(capacity, random.Random(0))
        for n, (score, drawn) in enumerate(before):
            queue.push(QueuedItem(n, f"evt-{n}", {}, score, drawn_at_random=drawn))
        return queue

    def change(queue: RoutingQueue) -> None:
        for n, (what, value) in enumerate(meanwhile, start=100):
            if what == "label":
                queue.remove(value)
            elif what == "age_out":
                queue.age_out(before=value)
            elif what == "arrive":
                queue.push(QueuedItem(n, f"evt-{n}", {}, value[0], drawn_at_random=value[1]))
            elif what == "lease":  # re-scored to value[0], returned to that score if released
                queue.lease(
                    holder="h",
                    annotator=f"a{n}",
                    now=0.0,
                    duration=10.0,
                    scorer=lambda items, score=value[0]: [score] * len(items),
                    candidates=4,
                    explore=value[1],
                )
            else:
                leased = sorted(lease.item.item_id for lease in queue.leases())
                if leased:
                    queue.release(leased[value % len(leased)])

    def arriving() -> list[QueuedItem]:
        return [
            QueuedItem(n, f"evt-{n}", {}, score, drawn_at_random=drawn)
            for n, (score, drawn) in enumerate(batch, start=200)
        ]

    whole = filled()
    change(whole)
    for item in arriving():
        whole.push(item)
    kept = {i.item_id for i in whole.waiting_items()}

    queue = filled()
    floor = queue.admission_floor()
    items = arriving()
    turned = [i for i in items if floor is not None and not i.drawn_at_random and i.score < floor]
    change(queue)
    over = len(queue) > capacity
    back = {turned[n].item_id for n in queue.readmissible([i.score for i in turned])}
    assert {i.item_id for i in turned} & kept <= back
    for item in items:
        if item not in turned or item.item_id in back:
            queue.push(item)
    if not over:
        assert {i.item_id for i in queue.waiting_items()} == kept


def test_readmissible_keeps_what_push_would_keep_equals_included():
    queue = RoutingQueue(1)
    queue.push(item(1, 0.5))
    # A full queue: an equal score is kept by `push` (the older of equals goes), a lower not.
    assert queue.readmissible([0.1, 0.5, 0.3]) == [1]
    queue = RoutingQueue(3)
    queue.push(item(1, 0.9))
    queue.push(item(2, 0.9))
    # One slot free: the best of those below the lowest, the later of equals.
    assert queue.readmissible([0.3, 0.5, 0.1]) == [1]
    assert queue.readmissible([0.5, 0.1, 0.5]) == [2]
    assert queue.readmissible([0.95, 0.1, 0.2]) == [0, 2]
    # Only items drawn at random wait: `push` sheds one of those for any arrival.
    queue = RoutingQueue(1)
    queue.push(QueuedItem(1, "evt-1", {}, 0.9, drawn_at_random=True))
    assert queue.readmissible([0.1, 0.2]) == [0, 1]
