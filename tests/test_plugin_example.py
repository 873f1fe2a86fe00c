"""The example plugin package (``examples/streamloop-char-ngrams``), installed in the
test environment (scripts/test does), through a real ``streamloop serve``: listed, used by a
project, replayed from the store after SIGKILL and restored from its snapshot after SIGTERM,
predicting the same each time."""

from __future__ import annotations

import contextlib
import signal
import sqlite3
from collections.abc import AsyncIterator
from importlib import metadata
from pathlib import Path

import httpx
import pytest

from support import ServeProcess, free_port, service_missing

pytestmark = pytest.mark.slow

MODEL = "streamloop_char_ngrams:char_ngrams"
TEXTS = {
    "billing": ["refund my payment", "invoice charged twice", "wrong price on the bill"],
    "bug": ["app crashes on start", "error when saving", "screen freezes again"],
}
PROBES = ["refnd my paymnet", "the app crashd", "invoise twice", "it freezes on start"]


@pytest.fixture(autouse=True)
def example_installed() -> None:
    try:
        metadata.distribution("streamloop-char-ngrams")
    except metadata.PackageNotFoundError:
        service_missing(
            "the example plugin is not installed: pip install -e examples/streamloop-char-ngrams"
        )


@contextlib.asynccontextmanager
async def serve(data_dir: Path, port: int) -> AsyncIterator[tuple[ServeProcess, httpx.AsyncClient]]:
    process = ServeProcess(["--data-dir", str(data_dir), "--log-level", "warning"], port=port)
    try:
        await process.ready()
        async with httpx.AsyncClient(base_url=process.base, timeout=60) as http:
            yield process, http
    finally:
        if process.process.poll() is None:
            process.kill(signal.SIGKILL)
        elif process.process.stdout is not None:
            process.process.stdout.close()


async def predictions(http: httpx.AsyncClient) -> list[dict]:
    answers = []
    for text in PROBES:
        response = await http.post("/api/projects/tickets/predict", json={"data": {"text": text}})
        assert response.status_code == 200, response.text
        answers.append(response.json())
    return answers


async def test_the_example_plugin_is_listed_serves_a_project_and_replays(tmp_path: Path):
    port = free_port()
    process = ServeProcess(["--data-dir", str(tmp_path), "--log-level", "warning"], port=port)
    await process.ready()
    async with httpx.AsyncClient(base_url=process.base, timeout=60) as http:
        spec = {"name": "tickets", "labels": list(TEXTS), "input": "text", "model": MODEL}
        # Creating the project waits for the plugin's check (the list says "pending" while
        # it runs).
        created = await http.post("/api/projects", json=spec)
        assert created.status_code == 201, created.text
        models = (await http.get("/api/models")).json()["models"]
        listed = {model["name"]: model for model in models}
        assert listed[MODEL]["usable"] is True, listed[MODEL]
        assert listed[MODEL]["input_kinds"] == ["text"]
        events = [
            {"id": f"{label}-{n}", "data": {"text": text}}
            for label, texts in TEXTS.items()
            for n, text in enumerate(texts)
        ]
        await http.post("/api/projects/tickets/events", json={"events": events})
        labels = [{"event_id": event["id"], "label": event["id"].split("-")[0]} for event in events]
        learned = await http.post("/api/projects/tickets/labels", json={"labels": labels})
        assert learned.status_code == 200, learned.text
        before = await predictions(http)
    # Killed: nothing snapshotted these labels, so the restart replays them from the store.
    process.kill(signal.SIGKILL)
    assert [p["prediction"] for p in before] == ["billing", "bug", "billing", "bug"]
    assert {p["model_version"] for p in before} == {len(events)}

    async with serve(tmp_path, port) as (process, http):
        assert await predictions(http) == before
        project = (await http.get("/api/projects/tickets")).json()
        assert project["model"] == MODEL
        # Stopped with SIGTERM, it snapshots; the next start reads the snapshot back.
        assert process.kill(signal.SIGTERM) == 0
    with contextlib.closing(sqlite3.connect(tmp_path / "streamloop.db")) as db:
        versions = [row[0] for row in db.execute("SELECT model_version FROM snapshots")]
    assert len(events) in versions, versions
    async with serve(tmp_path, port) as (_, http):
        assert await predictions(http) == before
