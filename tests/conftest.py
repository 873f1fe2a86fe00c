"""Fixtures: settings in a temporary data dir, and a live in-process streamloop."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from streamloop.config import Settings
from support import Service, running


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings.from_env({}, data_dir=tmp_path / "data", port=0)


@pytest.fixture
async def service(settings: Settings) -> AsyncIterator[Service]:
    async with running(settings) as service:
        yield service
