"""Faults of the database under a running service: it answers 503, loses nothing, recovers."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from streamloop.config import Settings
from support import running, service_missing, ticket


def events(start: int, count: int, words: int = 1) -> list[dict[str, object]]:
    return [
        {"id": f"e{n}", "data": {"text": " ".join([ticket("bug", n)["text"]] * words)}}
        for n in range(start, start + count)
    ]


@contextlib.contextmanager
def locked(database: Path) -> Iterator[None]:
    """Another process's write lock on the database, as a backup tool or a stray writer holds."""
    connection = sqlite3.connect(database, isolation_level=None)
    try:
        connection.execute("BEGIN EXCLUSIVE")
        yield
        connection.execute("ROLLBACK")
    finally:
        connection.close()


@pytest.fixture
def sqlite_settings(tmp_path: Path) -> Settings:
    return Settings.from_env({}, data_dir=tmp_path / "data", database_busy_timeout_seconds=0.2)


async def test_a_locked_database_answers_503_loses_nothing_and_recovers(sqlite_settings):
    database = sqlite_settings.data_dir / "streamloop.db"
    async with running(sqlite_settings) as service:
        await service.create_project()
        await service.send_events("tickets", events(0, 4))
        async with service.annotator("tickets", "alice") as socket:
            item = (await socket.next_item())["item"]["id"]
            with locked(database):
                response = await service.http.post(
                    "/api/projects/tickets/events", json={"events": events(4, 2)}
                )
                refused = await socket.label(item, "bug", "label-1")
                assert (await service.http.get("/healthz")).status_code == 200
            assert response.status_code == 503, response.text
            assert response.json()["error"]["code"] == "store_unavailable"
            assert refused["type"] == "error"
            assert refused["label_id"] == "label-1"
            assert refused["code"] == "store_unavailable"

            # Lock gone: the same requests go through, once each.
            await service.send_events("tickets", events(4, 2))
            ack = await socket.label(item, "bug", "label-1")
            assert ack["type"] == "ack" and ack["duplicate"] is False
        metrics = await service.metrics("tickets")
        assert (metrics["events_total"], metrics["labels_total"]) == (6, 1)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 16 MiB tmpfs: a real file system that really fills up."""
    mount = tmp_path / "disk"
    mount.mkdir()
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        service_missing(f"cannot mount a tmpfs to fill (needs root): {result.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(disk: Path) -> Path:
    """Fill ``disk`` to the last byte with one file; removing it frees the space again."""
    filler = disk / "filler"
    # Unbuffered: a write the disk takes in part leaves nothing in a buffer for the close to
    # fail on (how much is left over depends on the database's size, so it came and went).
    with filler.open("wb", buffering=0) as out, contextlib.suppress(OSError):
        while True:
            out.write(b"\0" * 65536)
            out.flush()
            os.fsync(out.fileno())
    return filler


async def test_a_full_disk_answers_503_loses_nothing_and_recovers(small_disk):
    settings = Settings.from_env({}, data_dir=small_disk / "data")
    async with running(settings) as service:
        await service.create_project()
        await service.send_events("tickets", events(0, 4))
        filler = fill(small_disk)
        assert shutil.disk_usage(small_disk).free < 65536
        # Batches that need new pages: refused in the contract's shape, the service lives on.
        response = await service.http.post(
            "/api/projects/tickets/events", json={"events": events(4, 500, words=20)}
        )
        assert response.status_code == 503, response.text
        assert response.json()["error"]["code"] == "store_unavailable"
        assert (await service.http.get("/readyz")).status_code == 200

        filler.unlink()
        await service.send_events("tickets", events(4, 500, words=20))
        assert (await service.metrics("tickets"))["events_total"] == 504
    # Restarted on the same disk: everything acknowledged is there.
    async with running(dataclasses.replace(settings)) as service:
        assert (await service.metrics("tickets"))["events_total"] == 504
