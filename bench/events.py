"""Events scored per second through HTTP batches, against raw River in the same run; memory.

Starts ``streamloop serve`` (SQLite, WAL, ``synchronous=FULL``), creates a project, teaches it
a few hundred labels, then posts events in batches of ``--batch`` from ``--clients`` concurrent
clients: each event scored, stored and routed before its response.

- ``--input tabular`` (the default): 64 numeric features, 10 classes (scaler plus one-vs-rest
  logistic regression, the reference model of the performance issue). In the same run, raw
  River scores the same rows with the preset's front and River's own one-vs-rest classifier
  (``predict_proba_one``) and, with a plain scaler and classifier, one at a time and in
  batches (``predict_proba_many``).
- ``--input text``: short texts of words chosen per label, 3 labels, the ``--model`` preset
  (``logistic_regression``: TF-IDF and one-vs-rest logistic regression). In the same run, raw
  River scores the same texts with the preset's pipeline made of River's own steps (River's
  TF-IDF for streamloop's: `server.rivers_own`), ``predict_proba_one``.

With ``--multilabel`` the project is a multi-label one (`streamloop.online.MultiLabelModel`:
the preset's front shared by a logistic regression per label, each event's set its one
label), against raw River doing each event's work: the preset's front (with River's own
TF-IDF for texts, `server.rivers_own`), then each label's ``predict_proba_one``.

The result line's ``ratio_to_raw_one_at_a_time`` is events/s over the HTTP API divided by the
preset's pipeline's ``predict_proba_one`` rate; ``server_read_bytes_per_event`` and
``server_written_bytes_per_event`` are what the server read and wrote through system calls
(its database, its WAL, the sockets), steady from run to run where CPU time is not. With
``--total`` (say 1,000,000) it then reports the server's resident memory after that many
events in one project.

    python bench/events.py --events 20000 --batch 500 --clients 4
    python bench/events.py --events 20000 --batch 500 --clients 4 --input text
    python bench/events.py --events 20000 --batch 500 --clients 4 --multilabel
    python bench/events.py --events 20000 --batch 500 --clients 4 --input text --free-scoring
    python bench/events.py --events 20000 --total 1000000
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import orjson
import pandas as pd
from river import linear_model, multiclass, preprocessing
from server import (
    Server,
    cpu_seconds,
    gc_between,
    io_bytes,
    machine_line,
    rivers_own,
    scrape,
)

from streamloop.online.presets import build_front, build_pipeline, logistic

FEATURES = 64
CLASSES = 10
#: The text run's labels and the words each label's texts are made of.
WORDS = {
    "billing": ["invoice", "charged", "refund", "payment", "card", "price", "bill", "plan"],
    "bug": ["crash", "error", "broken", "blank", "exception", "freeze", "slow", "fails"],
    "other": ["hello", "question", "feedback", "thanks", "idea", "meeting", "team", "news"],
}
#: Words any text may carry, whatever its label.
COMMON = ["the", "my", "a", "is", "on", "today", "again", "please", "account", "app"]

Row = tuple[dict[str, Any], str]


def rows(count: int, seed: int = 0) -> list[Row]:
    rng = random.Random(seed)
    centres = [[random.Random(c).gauss(0, 1) for _ in range(FEATURES)] for c in range(CLASSES)]
    out = []
    for _ in range(count):
        c = rng.randrange(CLASSES)
        out.append(({f"f{i}": centres[c][i] + rng.gauss(0, 1) for i in range(FEATURES)}, f"c{c}"))
    return out


def texts(count: int, seed: int = 0) -> list[Row]:
    """Texts of 6 to 14 words: about half of them their label's, the rest common ones."""
    rng = random.Random(seed)
    labels = list(WORDS)
    out = []
    for _ in range(count):
        label = rng.choice(labels)
        words = [
            rng.choice(WORDS[label]) if rng.random() < 0.5 else rng.choice(COMMON)
            for _ in range(rng.randint(6, 14))
        ]
        out.append(({"text": " ".join(words)}, label))
    return out


def one_at_a_time(pipeline: Any, train: list[Row], xs: list[dict[str, Any]]) -> float:
    """``pipeline`` taught ``train``, then its ``predict_proba_one`` rate on ``xs``."""
    for x, y in train:
        pipeline.learn_one(x, y)
    started = time.perf_counter()
    for x in xs:
        pipeline.predict_proba_one(x)
    return len(xs) / (time.perf_counter() - started)


def raw_river_text(model: str, train: list[Row], xs: list[dict[str, Any]]) -> dict[str, Any]:
    one = one_at_a_time(rivers_own(build_pipeline(model, "text")), train, xs)
    return {"raw_preset_predict_proba_one_per_s": round(one)}


def raw_river(train: list[Row], xs: list[dict[str, Any]]) -> dict[str, Any]:
    # River's own one-vs-rest, not the preset's one-pass learner: raw River is the anchor.
    preset = build_front("logistic_regression", "tabular") | multiclass.OneVsRestClassifier(
        logistic("tabular")
    )
    one = one_at_a_time(preset, train, xs)
    # The preset's front (type selection, one-hot for strings) has no batch path in River;
    # on all-numeric rows the same scaler and classifier do: time them one by one and batched.
    numeric = preprocessing.StandardScaler() | multiclass.OneVsRestClassifier(
        linear_model.LogisticRegression()
    )
    for x, y in train:
        numeric.learn_one(x, y)
    started = time.perf_counter()
    for x in xs:
        numeric.predict_proba_one(x)
    numeric_one = len(xs) / (time.perf_counter() - started)
    frames = [pd.DataFrame(xs[i : i + 256]) for i in range(0, len(xs), 256)]
    started = time.perf_counter()
    for frame in frames:
        numeric.predict_proba_many(frame)
    many = len(xs) / (time.perf_counter() - started)
    return {
        "raw_preset_predict_proba_one_per_s": round(one),
        "raw_numeric_predict_proba_one_per_s": round(numeric_one),
        "raw_numeric_predict_proba_many_256_per_s": round(many),
    }


def raw_river_sets(input_kind: str, train: list[Row], xs: list[dict[str, Any]]) -> dict[str, Any]:
    """A multi-label event's work in raw River: the preset's front (River's own steps) shared
    by a logistic regression per label, each predicting the event (``predict_proba_one``)."""
    front = rivers_own(build_front("logistic_regression", input_kind))
    binaries = {label: logistic(input_kind) for _, label in train}
    for x, y in train:
        front.learn_one(x)
        features = front.transform_one(x)
        for label, binary in binaries.items():
            binary.learn_one(features, label == y)
    started = time.perf_counter()
    for x in xs:
        features = front.transform_one(x)
        for binary in binaries.values():
            binary.predict_proba_one(features)
    one = len(xs) / (time.perf_counter() - started)
    return {"raw_preset_predict_proba_one_per_s": round(one)}


def folder_mib(folder: str) -> float:
    total = 0
    for root, _dirs, files in os.walk(folder):
        total += sum(os.path.getsize(os.path.join(root, name)) for name in files)
    return total / 2**20


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def bodies(events: list[dict[str, Any]], batch: int) -> list[bytes]:
    """Request bodies, serialised before the clock starts: the server is timed, not this."""
    return [orjson.dumps({"events": events[i : i + batch]}) for i in range(0, len(events), batch)]


async def post_all(base: str, payloads: list[bytes], clients: int) -> None:
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for payload in payloads:
        queue.put_nowait(payload)

    async def client() -> None:
        async with httpx.AsyncClient(base_url=base, timeout=120) as http:
            while not queue.empty():
                body = queue.get_nowait()
                response = await http.post(
                    "/api/projects/bench/events",
                    content=body,
                    headers={"content-type": "application/json"},
                )
                response.raise_for_status()

    await asyncio.gather(*(client() for _ in range(clients)))


async def run(args: argparse.Namespace) -> None:
    if args.input == "text":
        train, data = texts(300, seed=1), texts(args.events, seed=2)
        labels = list(WORDS)
    else:
        train, data = rows(300, seed=1), rows(args.events, seed=2)
        labels = [f"c{c}" for c in range(CLASSES)]
    xs = [x for x, _ in data]
    if args.multilabel:
        raw = raw_river_sets(args.input, train, xs)
    else:
        raw = (
            raw_river_text(args.model, train, xs) if args.input == "text" else raw_river(train, xs)
        )
    print(orjson.dumps({"same_run_raw_river": raw}).decode(), flush=True)
    with tempfile.TemporaryDirectory() as data_dir:
        server = (
            Server(data_dir, program=(str(Path(__file__).with_name("free_scoring.py")),))
            if args.free_scoring
            else Server(data_dir)
        )
        try:
            base = server.base
            async with httpx.AsyncClient(base_url=base, timeout=120) as http:
                spec = {"name": "bench", "labels": labels, "input": args.input}
                if args.input == "text":
                    spec["model"] = args.model
                if args.multilabel:
                    spec["task"] = "multilabel"
                (await http.post("/api/projects", json=spec)).raise_for_status()
                seed_events = [{"id": f"seed-{n}", "data": x} for n, (x, _) in enumerate(train)]
                await post_all(base, bodies(seed_events, 300), 1)
                answers = [
                    {"event_id": f"seed-{n}"}
                    | ({"labels": [y]} if args.multilabel else {"label": y})
                    for n, (_, y) in enumerate(train)
                ]
                (
                    await http.post("/api/projects/bench/labels", json={"labels": answers})
                ).raise_for_status()
            events = [{"id": f"evt-{n}", "data": x} for n, x in enumerate(xs)]
            payloads = bodies(events, args.batch)
            before = scrape(base)
            cpu = cpu_seconds(server.process.pid)
            io = io_bytes(server.process.pid)
            started = time.perf_counter()
            await post_all(base, payloads, args.clients)
            elapsed = time.perf_counter() - started
            cpu = cpu_seconds(server.process.pid) - cpu
            read, written = (b - a for a, b in zip(io, io_bytes(server.process.pid), strict=True))
            collections = gc_between(before, scrape(base))
            rate = len(events) / elapsed
            print(
                orjson.dumps(
                    {
                        "input": args.input,
                        "task": "multilabel" if args.multilabel else "classify",
                        **({"free_scoring": True} if args.free_scoring else {}),
                        "events": len(events),
                        "batch": args.batch,
                        "clients": args.clients,
                        "http_events_per_s": round(rate),
                        "ratio_to_raw_one_at_a_time": round(
                            rate / raw["raw_preset_predict_proba_one_per_s"], 3
                        ),
                        "server_cpu_us_per_event": round(1e6 * cpu / len(events), 1),
                        "server_read_bytes_per_event": round(read / len(events)),
                        "server_written_bytes_per_event": round(written / len(events)),
                        "server_rss_mib": round(rss_mib(server.process.pid), 1),
                        "server_gc": collections,
                    }
                ).decode(),
                flush=True,
            )
            done = len(events) + len(train)
            while done < args.total:
                count = min(args.events, args.total - done)
                more = [{"id": f"more-{done + n}", "data": xs[n % len(xs)]} for n in range(count)]
                await post_all(base, bodies(more, args.batch), args.clients)
                done += count
            if args.total:
                async with httpx.AsyncClient(base_url=base, timeout=120) as http:
                    metrics = (await http.get("/api/projects/bench/metrics")).json()
                print(
                    orjson.dumps(
                        {
                            "events_total": metrics["events_total"],
                            "queue_depth": metrics["queue_depth"],
                            "server_rss_mib": round(rss_mib(server.process.pid), 1),
                            "database_mib": round(folder_mib(data_dir), 1),
                        }
                    ).decode(),
                    flush=True,
                )
        finally:
            server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--total", type=int, default=0, help="events in all, for the memory figure")
    parser.add_argument("--input", choices=("tabular", "text"), default="tabular")
    parser.add_argument("--model", default="logistic_regression", help="the text run's preset")
    parser.add_argument("--multilabel", action="store_true", help="a multi-label project")
    parser.add_argument(
        "--free-scoring",
        action="store_true",
        help="the server's model scores events at next to no cost (bench/free_scoring.py)",
    )
    args = parser.parse_args()
    if args.free_scoring and args.multilabel:
        parser.error("--free-scoring replaces single-label models' scoring only")
    print(machine_line())
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
