"""The store's tests: the same store code on each database it supports."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from streamloop.store import Store


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """A store on a SQLite file, then on PostgreSQL (``STREAMLOOP_TEST_POSTGRES``)."""
    url = (
        f"sqlite:///{tmp_path / 'test.db'}"
        if request.param == "sqlite"
        else request.getfixturevalue("postgres_url")
    )
    store = Store(url)
    yield store
    store.close()
