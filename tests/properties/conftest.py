"""The live service the properties share: one per database for each test module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from properties.live import LiveService, live_service


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def live(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveService]:
    """One service per database for the whole module: its properties share it."""
    with live_service(request.param, tmp_path_factory.mktemp("properties")) as service:
        yield service


@pytest.fixture(autouse=True)
def _fresh_error_log(live: LiveService) -> None:
    """Errors the server logged in an earlier test were that test's (an xfail's, say)."""
    live.errors.take()
