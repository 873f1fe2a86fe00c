"""Fixtures of the stream tests: a store and a project on SQLite for the parts alone, and a
streamloop cluster on the test broker and database."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from kafka_cluster import Broker, Cluster
from streamloop.store import ProjectRecord, Store
from support import make_project


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    store = Store(f"sqlite:///{tmp_path / 'db.sqlite'}")
    yield store
    store.close()


@pytest.fixture
def project(store: Store) -> ProjectRecord:
    return make_project(store)


@pytest.fixture
async def cluster(
    kafka_bootstrap: str, postgres_url: str, tmp_path: Path
) -> AsyncIterator[Cluster]:
    cluster = Cluster(kafka_bootstrap, postgres_url, tmp_path)
    try:
        yield cluster
    finally:
        await cluster.close()


@pytest.fixture
def broker(kafka_bootstrap: str, tmp_path: Path) -> Iterator[Broker]:
    """A broker of the test's own (restarted, killed), beside the suite's."""
    broker = Broker(tmp_path / "broker")
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()
