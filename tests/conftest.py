"""Fixtures: settings in a temporary data dir, a live in-process streamloop, PostgreSQL."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from streamloop.config import Settings
from support import Service, postgres_database, running, service_missing

#: The broker that scripts/kafka/broker started; likewise required under CI.
KAFKA_ENV = "STREAMLOOP_TEST_KAFKA"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    """Settings for a service on each database: every API test runs on both."""
    database = None if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    return Settings.from_env({}, data_dir=tmp_path / "data", port=0, database=database)


@pytest.fixture
async def service(settings: Settings) -> AsyncIterator[Service]:
    async with running(settings) as service:
        yield service


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    with postgres_database() as url:
        yield url


@pytest.fixture
def kafka_bootstrap() -> str:
    """The test broker's address; topics in tests carry a unique prefix."""
    address = os.environ.get(KAFKA_ENV)
    if not address:
        service_missing(f"{KAFKA_ENV} is unset; `export {KAFKA_ENV}=$(scripts/kafka/broker start)`")
    return address
