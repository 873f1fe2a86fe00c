"""Export and import of a spans project: rows that are Prodigy- and spaCy-style examples
(``text`` and ``spans``), a round trip into a new project, plain ``{"text", "spans"}`` lines,
and bad spans refused by line before anything is sent."""

from __future__ import annotations

import asyncio
import csv
import hashlib
import io
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest

from streamloop.errors import InvalidInput
from streamloop.streams.export import SPAN_EXPORT_FIELDS, export_labels, write_csv, write_jsonl
from streamloop.streams.importing import checked_rows, read_rows, text_id
from support import Service, running

LABELS = ["PER", "LOC"]
PEOPLE = ["Ada", "Bob", "Eve", "Ann", "Tom"]
PLACES = ["Paris", "Rome", "Oslo", "Lima", "Kyiv"]
SPANS_PROJECT = {"labels": LABELS, "task": "spans"}

#: Texts whose offsets count code points, not bytes or UTF-16 units: an emoji outside the
#: Basic Multilingual Plane, and letters written with combining marks.
EMOJI = "🎉 Zoë met José in Tōkyō"
COMBINING = "Zoe\u0301 went to Ko\u0308ln"


def span(start: Any, end: Any, label: str) -> dict[str, Any]:
    return {"start": start, "end": end, "label": label}


def sentence(i: int) -> tuple[str, list[dict[str, Any]]]:
    """A text with a person and a place, and its spans."""
    person, place = PEOPLE[i % 5], PLACES[(i // 5 + i) % 5]
    text = f"{person} moved to {place} in {1990 + i}"
    start = len(person) + len(" moved to ")
    return text, [span(0, len(person), "PER"), span(start, start + len(place), "LOC")]


async def label(service: Service, project: str, labels: list[dict[str, Any]]) -> None:
    response = await service.http.post(f"/api/projects/{project}/labels", json={"labels": labels})
    assert response.status_code == 200, response.text
    assert all("error" not in result for result in response.json()["results"]), response.text


async def predicted_spans(service: Service, project: str, text: str) -> list[Any] | None:
    body = (
        await service.http.post(f"/api/projects/{project}/predict", json={"data": {"text": text}})
    ).json()
    if body["spans"] is None:
        return None
    return [{key: s[key] for key in ("start", "end", "label")} for s in body["spans"]]


def rows_of(blob: bytes) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in blob.splitlines()]


async def test_a_spans_export_is_text_and_spans_with_the_spans_predicted_before(settings):
    texts = [EMOJI, COMBINING, "Ada moved to Paris in 1990"]
    given = [  # in no particular order: exported in text order
        [span(18, 23, "LOC"), span(2, 5, "PER"), span(10, 14, "PER")],
        [span(13, 18, "LOC"), span(0, 4, "PER")],
        [span(13, 18, "LOC"), span(0, 3, "PER")],
    ]
    async with running(settings) as service:
        await service.create_project(name="names", gold_share=1.0, **SPANS_PROJECT)
        events = [{"id": f"e{n}", "data": {"text": text}} for n, text in enumerate(texts)]
        await service.send_events("names", [*events, {"id": "e3", "data": {"text": "Tom"}}])
        before = []
        for n, spans in enumerate(given):
            before.append(await predicted_spans(service, "names", texts[n]))
            await label(service, "names", [{"event_id": f"e{n}", "spans": spans}])
        gold = {"id": "g-1", "data": {"text": "Eve sat in Rome"}, "spans": [span(11, 15, "LOC")]}
        response = await service.http.post("/api/projects/names/gold", json={"items": [gold]})
        assert response.status_code == 200, response.text
        async with service.annotator("names", "alice") as alice:
            item = (await alice.next_item())["item"]["id"]
            assert item == "g-1"
            assert (await alice.label(item, [span(0, 3, "PER")], "a-1"))["type"] == "ack"
        store = service.core.store
        export = await store.run(lambda: export_labels(store, "names"))
        assert export.fields == SPAN_EXPORT_FIELDS
        jsonl, table = io.BytesIO(), io.BytesIO()
        await store.run(lambda: write_jsonl(export_labels(store, "names"), jsonl))
        await store.run(lambda: write_csv(export_labels(store, "names"), table))

    rows = rows_of(jsonl.getvalue())
    assert [tuple(row) for row in rows] == [SPAN_EXPORT_FIELDS] * 5
    assert [(row["source"], row["event_id"], row["model_version"]) for row in rows] == [
        ("production", "e0", 1),
        ("production", "e1", 2),
        ("production", "e2", 3),
        ("gold", "g-1", None),
        ("gold_answer", "g-1", None),
    ]
    # Each line is an example as Prodigy and spaCy users keep them: the text and its spans.
    assert [row["text"] for row in rows] == [*texts, "Eve sat in Rome", "Eve sat in Rome"]
    assert [row["data"] for row in rows[:3]] == [event["data"] for event in events]
    assert rows[0]["spans"] == [span(2, 5, "PER"), span(10, 14, "PER"), span(18, 23, "LOC")]
    assert rows[1]["spans"] == [span(0, 4, "PER"), span(13, 18, "LOC")]
    assert rows[2]["spans"] == [span(0, 3, "PER"), span(13, 18, "LOC")]
    surfaces = [[row["text"][s["start"] : s["end"]] for s in row["spans"]] for row in rows]
    assert surfaces == [
        ["Zoë", "José", "Tōkyō"],
        ["Zoe\u0301", "Ko\u0308ln"],
        ["Ada", "Paris"],
        ["Rome"],
        ["Eve"],
    ]
    # What the model predicted just before learning each, as /predict said it then.
    assert before[0] is None and isinstance(before[1], list)
    assert [row["predicted"] for row in rows[:3]] == before
    assert rows[3]["predicted"] is None and rows[4]["correct"] is False
    assert (rows[4]["annotator"], rows[4]["label_id"]) == ("alice", "a-1")
    assert all(row["learned"] for row in rows[:3]) and not rows[3]["learned"]

    cells = list(csv.DictReader(io.StringIO(table.getvalue().decode())))
    assert tuple(cells[0]) == SPAN_EXPORT_FIELDS
    assert [cell["text"] for cell in cells] == [row["text"] for row in rows]
    assert [orjson.loads(cell["spans"]) for cell in cells] == [row["spans"] for row in rows]
    assert [orjson.loads(cell["data"]) for cell in cells] == [row["data"] for row in rows]
    assert cells[0]["predicted"] == "" and orjson.loads(cells[1]["predicted"]) == before[1]


def test_an_empty_spans_export_writes_the_spans_header(tmp_path: Path) -> None:
    from streamloop.store import Store

    store = Store(f"sqlite:///{tmp_path / 'streamloop.db'}")
    try:
        store.create_project(
            name="names",
            labels=LABELS,
            task="spans",
            input="text",
            model="logistic_regression",
            strategy="least_confidence",
            exploration=0.05,
            lease_seconds=120.0,
        )
        out = io.BytesIO()
        assert write_csv(export_labels(store, "names"), out) == 0
    finally:
        store.close()
    assert out.getvalue().decode().splitlines() == [",".join(SPAN_EXPORT_FIELDS)]


async def run_import(service: Service, project: str, path: Path, *more: str) -> Any:
    command = [sys.executable, "-m", "streamloop", "import", project, str(path)]
    return await asyncio.to_thread(
        subprocess.run,
        [*command, "--url", service.base, *more],
        capture_output=True,
        text=True,
    )


async def test_importing_a_spans_export_learns_the_same_spans_into_the_same_model(
    tmp_path, settings
):
    async with running(settings) as service:
        await service.create_project(name="names", **SPANS_PROJECT)
        events = [{"id": f"e{n}", "data": {"text": sentence(n)[0]}} for n in range(30)]
        await service.send_events("names", events[:25])
        # Truth a little off (every fourth item's place left out), so that F1 is not 1.
        truth = [
            {"event_id": f"e{n}", "spans": sentence(n)[1][: 1 if n % 4 == 0 else 2]}
            for n in range(20)
        ]
        truth[5]["spans"] = []  # labelled: there is no span
        await label(service, "names", truth)
        async with service.annotator("names", "alice") as alice:
            for k in range(3):
                item = (await alice.next_item())["item"]["id"]
                spans = sentence(int(item[1:]))[1]
                assert (await alice.label(item, spans, f"alice-{k}"))["type"] == "ack"
        gold = [{"id": "g-1", "data": {"text": EMOJI}, "spans": [span(2, 5, "PER")]}]
        response = await service.http.post("/api/projects/names/gold", json={"items": gold})
        assert response.status_code == 200, response.text
        store = service.core.store
        exported = tmp_path / "names.jsonl"
        with exported.open("wb") as out:
            await store.run(lambda: write_jsonl(export_labels(store, "names"), out))
        rows = rows_of(exported.read_bytes())
        with exported.open("ab") as out:  # and new unlabelled rows, to be routed to annotators
            for event in events[25:]:
                out.write(orjson.dumps(event) + b"\n")
        await service.create_project(name="copy", **SPANS_PROJECT)

        done = await run_import(service, "copy", exported, "--batch", "7")
        assert done.returncode == 0, done.stderr
        assert "29 rows of" in done.stderr and "23 labels learned" in done.stderr

        original, copy = await service.metrics("names"), await service.metrics("copy")
        assert copy["model_version"] == original["model_version"] == 23
        assert copy["labels_total"] == 23 and copy["queue_depth"] == 5
        assert 0 < original["f1"] < 1
        for figure in ("accuracy", "f1", "per_class"):
            assert copy[figure] == original[figure], figure
        for n in range(100, 106):  # the same spans in the same order: the same model
            probe = {"data": {"text": sentence(n)[0]}}
            a = await service.http.post("/api/projects/names/predict", json=probe)
            b = await service.http.post("/api/projects/copy/predict", json=probe)
            assert a.json()["spans"] == b.json()["spans"]
            assert a.json()["probabilities"] == b.json()["probabilities"]
        copied = await store.run(lambda: list(export_labels(store, "copy")))
        learned = [(r["event_id"], r["spans"], r["predicted"]) for r in rows if r["learned"]]
        assert [(r["event_id"], r["spans"], r["predicted"]) for r in copied if r["learned"]] == (
            learned
        )
        assert [(r["event_id"], r["spans"]) for r in copied if r["source"] == "gold"] == [
            ("g-1", [span(2, 5, "PER")])
        ]

        again = await run_import(service, "copy", exported)
        assert again.returncode == 0, again.stderr
        assert (await service.metrics("copy"))["model_version"] == 23


def prodigy(text: str, spans: list[tuple[int, int, str]], **more: Any) -> bytes:
    """A line as Prodigy's ``db-out`` writes a ``ner.manual`` answer."""
    written = [
        {"start": s, "end": e, "label": label, "token_start": 0, "token_end": 0, "text": text[s:e]}
        for s, e, label in spans
    ]
    row = {
        "text": text,
        "_input_hash": 123,
        "_task_hash": 456,
        "tokens": [],
        "spans": written,
        "meta": {"source": "wiki"},
        "answer": "accept",
        **more,
    }
    return orjson.dumps(row)


async def test_prodigy_and_spacy_style_lines_import_as_examples_of_their_text(tmp_path, settings):
    lines = [
        prodigy(EMOJI, [(2, 5, "PER"), (18, 23, "LOC")]),
        prodigy("Bob moved to Rome", [(13, 17, "LOC")], answer="reject"),  # not imported
        orjson.dumps({"text": COMBINING, "spans": [span(0, 4, "PER")]}),
        orjson.dumps({"text": "Nothing here", "spans": []}),  # labelled: no span
        orjson.dumps({"text": "Eve went to Oslo"}),  # waits for annotators
        orjson.dumps({"id": "mine", "text": "Tom sat in Lima", "spans": [span(0, 3, "PER")]}),
    ]
    path = tmp_path / "prodigy.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    async with running(settings) as service:
        await service.create_project(name="names", **SPANS_PROJECT)
        done = await run_import(service, "names", path)
        assert done.returncode == 0, done.stderr
        assert "5 rows of" in done.stderr and "4 labels learned" in done.stderr
        metrics = await service.metrics("names")
        assert metrics["labels_total"] == 4 and metrics["queue_depth"] == 1
        again = await run_import(service, "names", path)  # the same file: nothing new
        assert again.returncode == 0 and "5 rows of" in again.stderr
        assert "0 labels learned" in again.stderr
        assert (await service.metrics("names"))["labels_total"] == 4
        store = service.core.store
        rows = await store.run(lambda: list(export_labels(store, "names")))

    assert [(row["event_id"], row["data"], row["spans"]) for row in rows] == [
        (text_id(EMOJI), {"text": EMOJI}, [span(2, 5, "PER"), span(18, 23, "LOC")]),
        (text_id(COMBINING), {"text": COMBINING}, [span(0, 4, "PER")]),
        (text_id("Nothing here"), {"text": "Nothing here"}, []),
        ("mine", {"text": "Tom sat in Lima"}, [span(0, 3, "PER")]),
    ]
    assert text_id(EMOJI) == "text-" + hashlib.sha256(EMOJI.encode()).hexdigest()[:16]


SPANS = {"task": "spans", "labels": LABELS}
ADA = "Ada moved to Paris"


def refusal(line: bytes, project: dict[str, Any] = SPANS) -> str:
    """The message refusing a file whose third line is ``line``."""
    spans = orjson.dumps({"text": "Bob sat in Rome", "spans": [span(0, 3, "PER")]})
    good = spans if project["task"] == "spans" else orjson.dumps({"text": "Bob sat in Rome"})
    with pytest.raises(InvalidInput) as refused:
        checked_rows(read_rows([good, good, line]), project)
    return refused.value.message


@pytest.mark.parametrize(
    ("spans", "message"),
    [
        (
            [span(0, 5, "PER"), span(3, 8, "LOC")],
            "line 3: spans.1: spans must not overlap: [0, 5) PER and [3, 8) LOC do",
        ),
        ([span(13, 19, "LOC")], "line 3: spans: span [13, 19) LOC is outside the text"),
        ([span(0, 3, "ORG")], "line 3: spans.0.label: 'ORG' is not one of this project's"),
        ([span(3, 4, "PER")], "line 3: spans: span [3, 4) PER covers no word, only spaces"),
        ([span(3, 3, "PER")], "line 3: spans.0.end: a span ends after it starts"),
        ([span(0, "3", "PER")], "line 3: spans.0.end: an offset is an integer"),
        ([{"start": 0, "end": 3}], "line 3: spans.0: a span is an object of start, end and"),
    ],
)
def test_bad_spans_are_refused_with_their_line(spans, message) -> None:
    assert refusal(orjson.dumps({"text": ADA, "spans": spans})).startswith(message)


@pytest.mark.parametrize(
    ("line", "project", "message"),
    [
        (
            {"id": "a", "data": {"text": ADA}, "label": "PER"},
            SPANS,
            "line 3: this is a spans project: a row's answer is `spans`, a list of",
        ),
        (
            {"id": "a", "data": {"text": ADA}, "labels": ["PER"]},
            SPANS,
            "line 3: this is a spans project: a row's answer is `spans`",
        ),
        (
            {"text": ADA, "spans": []},
            {"task": "classify", "labels": LABELS},
            "line 3: this is a classify project: a row's answer is `label`, one of its labels, "
            "not `spans`",
        ),
        (
            {"id": "a", "data": {"body": ADA}},
            SPANS,
            "line 3: text items need a string field 'text', got nothing",
        ),
        ({"text": ADA, "spans": {"start": 0}}, SPANS, "line 3: spans must be a list of"),
        ({"text": ADA, "label": "PER", "spans": []}, SPANS, "line 3: a row has a label, labels"),
    ],
)
def test_a_row_of_the_wrong_shape_for_a_spans_project_is_refused_with_its_line(
    line, project, message
) -> None:
    assert refusal(orjson.dumps(line), project).startswith(message)


async def test_a_file_with_a_bad_row_stores_nothing(tmp_path, settings):
    lines = [orjson.dumps({"text": sentence(n)[0], "spans": sentence(n)[1]}) for n in range(4)]
    lines.append(orjson.dumps({"text": ADA, "spans": [span(0, 40, "PER")]}))
    path = tmp_path / "bad.jsonl"
    path.write_bytes(b"\n".join(lines))
    async with running(settings) as service:
        await service.create_project(name="names", **SPANS_PROJECT)
        done = await run_import(service, "names", path)
        assert done.returncode == 1
        assert "line 5: spans: span [0, 40) PER is outside the text" in done.stderr
        metrics = await service.metrics("names")
        assert metrics["events_total"] == 0 and metrics["labels_total"] == 0


def test_read_rows_keeps_start_end_and_label_of_each_span() -> None:
    line = prodigy(ADA, [(0, 3, "PER")])
    (row,) = read_rows([line])
    assert (row.event_id, row.data, row.field) == (text_id(ADA), {"text": ADA}, "spans")
    assert row.answer == (span(0, 3, "PER"),) and row.label is None and row.labels is None
    ignored = prodigy(ADA, [(0, 3, "PER")], answer="ignore")
    assert list(read_rows([ignored])) == []
