"""The store's gold items: stored once per id, answered once per label_id, scored per annotator."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import create_engine

from streamloop.errors import Conflict, NotFound
from streamloop.store import GoldAnswer, GoldRecord, NewGold, ProjectRecord, Store
from streamloop.store.database import sqlalchemy_url
from support import make_project


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'test.db'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def store(url: str):
    """The same store code on each database it supports."""
    store = Store(url)
    yield store
    store.close()


@pytest.fixture
def project(store: Store) -> ProjectRecord:
    return make_project(store)


def gold(*ids: str, label: str = "a") -> list[NewGold]:
    return [NewGold(i, {"text": f"text of {i}"}, label) for i in ids]


def count(store: Store, table: str) -> int:
    with store.engine.connect() as conn:
        return int(conn.exec_driver_sql(f"SELECT count(*) FROM {table}").scalar_one())


def test_a_gold_id_seen_before_is_a_duplicate(store: Store, project: ProjectRecord):
    first = [*gold("g1", "g2"), NewGold("g1", {"text": "other"}, "b")]
    assert store.add_gold(project.id, first) == (2, 1)
    assert store.add_gold(project.id, gold("g2", "g3", label="b")) == (1, 1)
    assert store.add_gold(project.id, []) == (0, 0)
    assert [(g.gold_id, g.data, g.label) for g in store.gold_items(project.id)] == [
        ("g1", {"text": "text of g1"}, "a"),
        ("g2", {"text": "text of g2"}, "a"),
        ("g3", {"text": "text of g3"}, "b"),
    ]


def test_gold_items_come_oldest_first_with_their_store_ids(store: Store, project: ProjectRecord):
    store.add_gold(project.id, gold("z", "m"))
    store.add_gold(project.id, gold("a"))
    items = store.gold_items(project.id)
    assert [g.gold_id for g in items] == ["z", "m", "a"]
    assert all(isinstance(g, GoldRecord) for g in items)
    assert [g.id for g in items] == sorted(g.id for g in items)
    assert len({g.id for g in items}) == 3


def test_each_project_has_its_own_gold(store: Store, project: ProjectRecord):
    other = make_project(store, "other")
    store.add_gold(project.id, gold("g1", "g2"))
    assert store.add_gold(other.id, gold("g1")) == (1, 0)
    assert [g.gold_id for g in store.gold_items(project.id)] == ["g1", "g2"]
    assert [g.gold_id for g in store.gold_items(other.id)] == ["g1"]
    assert store.gold_items(project.id)[0].id != store.gold_items(other.id)[0].id


def test_an_answer_is_correct_when_it_is_the_gold_label(store: Store, project: ProjectRecord):
    store.add_gold(project.id, gold("g1", label="b"))
    [item] = store.gold_items(project.id)
    assert store.answer_gold(project.id, item.id, "alice", "b", "l1") == GoldAnswer(True, False)
    assert store.answer_gold(project.id, item.id, "bob", "a", "l2") == GoldAnswer(False, False)


def test_a_retried_answer_keeps_its_stored_outcome_and_writes_nothing(
    store: Store, project: ProjectRecord
):
    store.add_gold(project.id, gold("g1"))
    [item] = store.gold_items(project.id)
    assert store.answer_gold(project.id, item.id, "alice", "b", "l1") == GoldAnswer(False, False)
    # Retried, even with another label: the first answer stands.
    again = store.answer_gold(project.id, item.id, "alice", "a", "l1")
    assert again == GoldAnswer(correct=False, duplicate=True)
    assert count(store, "gold_answers") == 1
    assert store.gold_scores(project.id) == {"alice": (1, 0)}


def test_a_retry_racing_its_first_attempt_is_a_duplicate(
    store: Store, project: ProjectRecord, monkeypatch: pytest.MonkeyPatch
):
    store.add_gold(project.id, gold("g1"))
    [item] = store.gold_items(project.id)
    store.answer_gold(project.id, item.id, "alice", "a", "l1")
    # The look-up misses an answer another process commits right after it: the unique
    # constraint refuses the second row, and the stored outcome is read back.
    lookup = store._gold_answer
    missed: list[str] = []

    def miss_once(project_id: int, label_id: str) -> GoldAnswer | None:
        if not missed:
            missed.append(label_id)
            return None
        return lookup(project_id, label_id)

    monkeypatch.setattr(store, "_gold_answer", miss_once)
    assert store.answer_gold(project.id, item.id, "alice", "b", "l1") == GoldAnswer(True, True)
    assert missed == ["l1"]
    assert count(store, "gold_answers") == 1


def test_label_ids_are_per_project(store: Store, project: ProjectRecord):
    other = make_project(store, "other")
    store.add_gold(project.id, gold("g1"))
    store.add_gold(other.id, gold("g1", label="b"))
    [mine], [theirs] = store.gold_items(project.id), store.gold_items(other.id)
    assert store.answer_gold(project.id, mine.id, "alice", "a", "l1") == GoldAnswer(True, False)
    assert store.answer_gold(other.id, theirs.id, "alice", "a", "l1") == GoldAnswer(False, False)


def test_an_answer_to_another_projects_gold_item_is_not_found(store: Store, project: ProjectRecord):
    other = make_project(store, "other")
    store.add_gold(other.id, gold("g1"))
    [theirs] = store.gold_items(other.id)
    with pytest.raises(NotFound) as raised:
        store.answer_gold(project.id, theirs.id, "alice", "a", "l1")
    assert raised.value.code == "unknown_gold_item"
    with pytest.raises(NotFound):
        store.answer_gold(project.id, theirs.id + 1000, "alice", "a", "l2")
    assert count(store, "gold_answers") == 0


def test_scores_and_answered_pairs_per_annotator(store: Store, project: ProjectRecord):
    other = make_project(store, "other")
    store.add_gold(project.id, [*gold("g1", "g2"), *gold("g3", label="b")])
    store.add_gold(other.id, gold("g1"))
    g1, g2, g3 = store.gold_items(project.id)
    [theirs] = store.gold_items(other.id)
    answers = [
        (g1, "alice", "a", "l1"),
        (g2, "alice", "b", "l2"),
        (g3, "alice", "b", "l3"),
        (g1, "bob", "b", "l4"),
        (g1, "bob", "b", "l4"),  # a retry: not counted
    ]
    for item, annotator, label, label_id in answers:
        store.answer_gold(project.id, item.id, annotator, label, label_id)
    # The same item again, under another label_id: refused, as a second label for an item is.
    with pytest.raises(Conflict) as second:
        store.answer_gold(project.id, g1.id, "bob", "a", "l5")
    assert second.value.code == "already_labelled"
    store.answer_gold(other.id, theirs.id, "carol", "a", "l1")
    assert store.gold_scores(project.id) == {"alice": (3, 2), "bob": (1, 0)}
    assert store.gold_scores(other.id) == {"carol": (1, 1)}
    assert store.gold_answered(project.id) == [
        (g1.id, "alice"),
        (g1.id, "bob"),
        (g2.id, "alice"),
        (g3.id, "alice"),
    ]
    assert store.gold_answered(other.id) == [(theirs.id, "carol")]


def test_a_project_without_gold_has_no_scores(store: Store, project: ProjectRecord):
    assert store.gold_items(project.id) == []
    assert store.gold_scores(project.id) == {}
    assert store.gold_answered(project.id) == []


def test_a_project_keeps_its_gold_share(store: Store, project: ProjectRecord):
    assert project.gold_share is None and project.as_json()["gold_share"] is None
    shared = store.create_project(
        name="shared",
        labels=["a", "b"],
        input="text",
        model="logistic_regression",
        strategy="margin",
        exploration=0.05,
        lease_seconds=120.0,
        gold_share=0.2,
    )
    assert shared.gold_share == 0.2 and shared.as_json()["gold_share"] == 0.2
    assert store.project("shared").gold_share == 0.2
    assert [p.gold_share for p in store.list_projects()] == [None, 0.2]


@pytest.mark.postgres
def test_processes_storing_the_same_gold_at_once_store_each_id_once(postgres_url: str):
    # Web processes sharing one database, each sent overlapping batches at the same moment.
    stores = [Store(postgres_url) for _ in range(4)]
    try:
        project = make_project(stores[0])
        batches = [gold(*(f"g{n}" for n in range(start, start + 20))) for start in range(0, 80, 10)]

        def add(store: Store, batch: list[NewGold]) -> tuple[int, int]:
            return store.add_gold(project.id, batch)

        with ThreadPoolExecutor(8) as pool:
            results = list(pool.map(add, stores * 2, batches))
        assert all(stored + duplicates == 20 for stored, duplicates in results)
        assert sum(stored for stored, _ in results) == 90
        stored_ids = [g.gold_id for g in stores[0].gold_items(project.id)]
        assert sorted(stored_ids) == sorted(f"g{n}" for n in range(90))
    finally:
        for store in stores:
            store.close()


@pytest.mark.postgres
def test_processes_storing_the_same_answer_at_once_store_it_once(postgres_url: str):
    stores = [Store(postgres_url) for _ in range(4)]
    try:
        project = make_project(stores[0])
        stores[0].add_gold(project.id, gold("g1"))
        [item] = stores[0].gold_items(project.id)

        def answer(store: Store, n: int) -> GoldAnswer | str:
            try:
                return store.answer_gold(project.id, item.id, "alice", "a", f"l{n % 3}")
            except Conflict as exc:
                return exc.code

        with ThreadPoolExecutor(8) as pool:
            results = list(pool.map(answer, stores * 6, range(24)))
        # One answer stored; its retries are duplicates, answers under other label_ids refused.
        answers = [r for r in results if isinstance(r, GoldAnswer)]
        assert sum(not r.duplicate for r in answers) == 1
        assert all(r.correct for r in answers)
        assert {r for r in results if isinstance(r, str)} <= {"already_labelled"}
        assert stores[0].gold_scores(project.id) == {"alice": (1, 1)}
    finally:
        for store in stores:
            store.close()


def test_a_database_from_before_gold_opens_and_takes_gold(url: str):
    # The schema as the release before gold made it: no gold tables, no projects.gold_share.
    before = Store(url)
    try:
        make_project(before)
    finally:
        before.close()
    engine = create_engine(sqlalchemy_url(url))
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE gold_answers")
        conn.exec_driver_sql("DROP TABLE gold_items")
        conn.exec_driver_sql("ALTER TABLE projects DROP COLUMN gold_share")
    engine.dispose()
    store = Store(url)
    try:
        [project] = store.list_projects()
        assert project.gold_share is None
        assert store.add_gold(project.id, gold("g1")) == (1, 0)
        [item] = store.gold_items(project.id)
        assert store.answer_gold(project.id, item.id, "alice", "a", "l1") == GoldAnswer(True, False)
    finally:
        store.close()


def test_a_correction_rescores_an_answer_of_its_own_annotator(store: Store, project: ProjectRecord):
    store.add_gold(project.id, gold("g1"))
    [g1] = store.gold_items(project.id)
    assert store.answer_gold(project.id, g1.id, "alice", "b", "l1").correct is False
    assert store.correct_gold(project.id, "l1", "alice", "a") == (g1.id, False, True)
    assert store.gold_scores(project.id) == {"alice": (1, 1)}
    with pytest.raises(Conflict) as theirs:
        store.correct_gold(project.id, "l1", "bob", "b")
    assert theirs.value.code == "not_your_label"
    assert store.correct_gold(project.id, "nope", "alice", "a") is None
