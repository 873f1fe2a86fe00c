"""Fixtures: settings in a temporary data dir, a live in-process streamloop, PostgreSQL."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from streamloop.config import Settings
from streamloop.store.database import sqlalchemy_url
from support import Service, running, service_missing

#: The broker that scripts/kafka/broker started; likewise required under CI.
KAFKA_ENV = "STREAMLOOP_TEST_KAFKA"
#: The server that scripts/postgres started; CI sets it, and there a PostgreSQL test that
#: cannot run is a failure, not a skip.
POSTGRES_ENV = "STREAMLOOP_TEST_POSTGRES"


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
    server = os.environ.get(POSTGRES_ENV)
    if not server:
        service_missing(
            f"{POSTGRES_ENV} is unset; `export {POSTGRES_ENV}=$(scripts/postgres start)`"
        )
    name = f"streamloop_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(sqlalchemy_url(server), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield server.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def kafka_bootstrap() -> str:
    """The test broker's address; topics in tests carry a unique prefix."""
    address = os.environ.get(KAFKA_ENV)
    if not address:
        service_missing(f"{KAFKA_ENV} is unset; `export {KAFKA_ENV}=$(scripts/kafka/broker start)`")
    return address
