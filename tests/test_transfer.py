"""Export: every label in learning order, with the model's prediction before it learned it."""

from __future__ import annotations

import asyncio
import csv
import io
import subprocess
import sys

import orjson
import pytest

from streamloop.errors import InvalidInput
from streamloop.store import Store
from streamloop.transfer import EXPORT_FIELDS, export_labels, read_rows, write_jsonl
from support import running, ticket

LABELS = ["billing", "bug", "other"]


async def test_an_export_replays_the_learning_the_service_did(settings):
    async with running(settings) as service:
        await service.create_project()
        events = [{"id": f"e{n}", "data": ticket(LABELS[n % 3], n)} for n in range(40)]
        await service.send_events("tickets", events)
        truth = [{"event_id": f"e{n}", "label": LABELS[n % 3]} for n in range(30)]
        response = await service.http.post("/api/projects/tickets/labels", json={"labels": truth})
        assert response.status_code == 200
        async with service.annotator("tickets", "alice") as alice:
            for n in range(5):
                item = (await alice.next_item())["item"]["id"]
                assert (await alice.label(item, "other", f"alice-{n}"))["type"] == "ack"
        metrics = await service.metrics("tickets")

    store = Store(settings.database_url)
    try:
        rows = list(export_labels(store, "tickets"))
    finally:
        store.close()
    assert [row["model_version"] for row in rows] == list(range(1, 36))
    assert [row["label_id"] for row in rows[:30]] == [f"event:e{n}" for n in range(30)]
    assert [row["source"] for row in rows] == ["production"] * 30 + ["annotator"] * 5
    assert {row["annotator"] for row in rows[30:]} == {"alice"}
    assert rows[0]["data"] == events[0]["data"] and rows[0]["predicted"] is None
    # The predictions replayed are the ones the service was scored on: same accuracy.
    hits = sum(row["predicted"] == row["label"] for row in rows)
    assert metrics["labels_total"] == 35
    assert hits / len(rows) == metrics["accuracy"]


async def test_the_cli_writes_jsonl_and_csv(tmp_path, settings):
    async with running(settings) as service:
        await service.create_project()
        await service.send_events("tickets", [{"id": "e1", "data": {"text": "refund, please"}}])
        truth = {"labels": [{"event_id": "e1", "label": "billing"}]}
        assert (
            await service.http.post("/api/projects/tickets/labels", json=truth)
        ).status_code == 200
    await asyncio.to_thread(check_cli, tmp_path, settings.database_url)


def check_cli(tmp_path, database_url: str) -> None:
    where = ["--database", database_url]
    command = [sys.executable, "-m", "streamloop", "export", "tickets", *where]
    lines = subprocess.run(command, capture_output=True, check=True).stdout.splitlines()
    assert [orjson.loads(line)["label"] for line in lines] == ["billing"]
    output = tmp_path / "labels.csv"
    subprocess.run([*command, "--format", "csv", "-o", str(output)], check=True)
    table = list(csv.DictReader(io.StringIO(output.read_text())))
    assert tuple(table[0]) == EXPORT_FIELDS
    assert orjson.loads(table[0]["data"]) == {"text": "refund, please"}
    assert (table[0]["event_id"], table[0]["model_version"]) == ("e1", "1")
    unknown = subprocess.run([*command[:4], "nope", *where], capture_output=True, text=True)
    assert unknown.returncode == 1 and "no project named 'nope'" in unknown.stderr


async def test_importing_an_export_rebuilds_the_same_model_in_a_new_project(tmp_path, settings):
    async with running(settings) as service:
        await service.create_project()
        events = [{"id": f"e{n}", "data": ticket(LABELS[n % 3], n)} for n in range(60)]
        await service.send_events("tickets", events)
        truth = [{"event_id": f"e{n}", "label": LABELS[(n * n) % 3]} for n in range(45)]
        response = await service.http.post("/api/projects/tickets/labels", json={"labels": truth})
        assert response.status_code == 200
        store = service.engine.store
        exported = tmp_path / "tickets.jsonl"
        with exported.open("wb") as out:
            await store.run(lambda: write_jsonl(export_labels(store, "tickets"), out))
        with exported.open("ab") as out:  # and unlabelled rows, to be routed to annotators
            for event in events[45:]:
                out.write(orjson.dumps(event) + b"\n")
        await service.create_project(name="copy")

        command = [sys.executable, "-m", "streamloop", "import", "copy", str(exported)]
        done = await asyncio.to_thread(
            subprocess.run,
            [*command, "--url", service.base, "--batch", "7"],
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stderr
        assert "60 rows of" in done.stderr and "45 labels learned" in done.stderr

        original, copy = await service.metrics("tickets"), await service.metrics("copy")
        assert copy["model_version"] == original["model_version"] == 45
        assert copy["accuracy"] == original["accuracy"]
        assert copy["queue_depth"] == 15
        for n in range(100, 110):  # the same labels in the same order: the same model
            probe = {"data": ticket(LABELS[n % 3], n)}
            a = await service.http.post("/api/projects/tickets/predict", json=probe)
            b = await service.http.post("/api/projects/copy/predict", json=probe)
            assert a.json()["probabilities"] == b.json()["probabilities"]

        # Again: nothing changes, everything is a duplicate.
        again = await asyncio.to_thread(
            subprocess.run, [*command, "--url", service.base], capture_output=True, text=True
        )
        assert again.returncode == 0, again.stderr
        assert (await service.metrics("copy"))["model_version"] == 45


@pytest.mark.parametrize(
    "line",
    [b'{"id": 3, "data": {}}', b'{"id": "b"}', b"not json", b'{"id": "b", "data": {}, "label": 1}'],
)
def test_a_bad_import_row_is_refused_with_its_line_number(line):
    rows = read_rows([b'{"id": "a", "data": {"text": "x"}}', b"", line])
    assert next(rows).event_id == "a"
    with pytest.raises(InvalidInput, match=r"^line 3: "):
        next(rows)
