"""Fixtures of the stream tests: a streamloop cluster on the test broker and database."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from kafka_cluster import Cluster


@pytest.fixture
async def cluster(
    kafka_bootstrap: str, postgres_url: str, tmp_path: Path
) -> AsyncIterator[Cluster]:
    cluster = Cluster(kafka_bootstrap, postgres_url, tmp_path)
    try:
        yield cluster
    finally:
        await cluster.close()
