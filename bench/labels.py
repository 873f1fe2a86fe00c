"""Labels per second and acknowledgement latency with N annotators over real WebSockets.

Starts ``streamloop serve`` in a subprocess (its own data dir), creates a text project, sends
events, then N annotator connections label as fast as they can, each label stored, learned and
acknowledged before the next is sent on that connection. Prints one JSON line per run.
``--task multilabel`` makes it a multilabel project, each item labelled with a set of the
three labels (any of the eight, the empty one included), against raw River doing the same
per-label work (the preset's front shared by a binary classifier per label). ``--task
tabular`` makes it a tabular project of 64 numeric features and 10 classes (the defaults:
logistic regression), each class a Gaussian blob around its own centre, seeded. ``--task
spans`` makes it a spans project of the ``news`` domain's texts and entities
(`streamloop.online.span_corpus`), against raw River doing the same per-token work (each
tag's classifier predicts every token, then learns it, on the model's own token features).

    python bench/labels.py --annotators 1 20 100 --labels 4000
    python bench/labels.py --task multilabel --annotators 1 20 100 --labels 3000
    python bench/labels.py --task tabular --annotators 20 --labels 3000
    python bench/labels.py --task spans --annotators 20 --labels 1000
"""

from __future__ import annotations

import argparse
import asyncio
import pickle
import random
import socket
import statistics
import tempfile
import time
from typing import Any

import httpx
import orjson
from prometheus_client.parser import text_string_to_metric_families
from river import multiclass, preprocessing
from server import Server, cpu_seconds, gc_between, label_frame, machine_line, rivers_own
from spans import raw_tag_and_learn
from websockets.asyncio.client import connect

from streamloop.online.presets import build_front, build_pipeline, logistic
from streamloop.online.span_corpus import DOMAINS, corpus
from streamloop.online.spans import SpanModel
from streamloop.online.tokens import Span

LABELS = ["billing", "bug", "other"]
#: The tabular run's classes and features.
CLASSES = [f"class{c}" for c in range(10)]
FEATURES = 64
_CENTRES = [
    [random.Random(1000 * c + f).gauss(0.0, 1.0) for f in range(FEATURES)] for c in range(10)
]
WORDS = {
    "billing": ["invoice", "charged", "refund", "payment", "card", "price"],
    "bug": ["crash", "error", "broken", "blank", "exception", "freeze"],
    "other": ["hello", "question", "feedback", "thanks", "idea", "meeting"],
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def text(n: int, task: str = "classify") -> str:
    if task == "multilabel":  # a word of each label in the set, so the set can be learned
        parts = [WORDS[label][n % 6] for label in label_set(n)] or ["nothing"]
        return f"{' '.join(parts)} {n}"
    words = WORDS[LABELS[n % 3]]
    return f"{words[n % 6]} {words[(n * 7 + 3) % 6]} {n}"


def label_set(n: int) -> list[str]:
    """Item ``n``'s label set in a multilabel run: the labels of ``n``'s three low bits."""
    return [label for bit, label in enumerate(LABELS) if (n >> bit) & 1]


def row(n: int) -> dict[str, float]:
    """Item ``n`` of a tabular run: a point near its class's centre (class ``n % 10``)."""
    rng = random.Random(n)
    return {f"f{f}": centre + rng.gauss(0.0, 1.5) for f, centre in enumerate(_CENTRES[n % 10])}


#: The spans run's domain, and its texts with their spans (made once, on first use).
SPAN_DOMAIN = "news"
_SPAN_TEXTS: list[tuple[dict[str, Any], list[Span]]] = []


def span_text(n: int) -> tuple[dict[str, Any], list[Span]]:
    if not _SPAN_TEXTS:
        _SPAN_TEXTS.extend(
            (dict(data), list(spans)) for data, spans in corpus(SPAN_DOMAIN, 12_000, 7)
        )
    return _SPAN_TEXTS[n % len(_SPAN_TEXTS)]


def data(n: int, task: str) -> dict[str, object]:
    if task == "spans":
        return span_text(n)[0]
    return row(n) if task == "tabular" else {"text": text(n, task)}


def answer(n: int, task: str) -> str | list[str] | list[dict[str, object]]:
    if task == "spans":
        return [{"start": s.start, "end": s.end, "label": s.label} for s in span_text(n)[1]]
    if task == "tabular":
        return CLASSES[n % 10]
    return label_set(n) if task == "multilabel" else LABELS[n % 3]


def raw_river(count: int, task: str = "classify") -> float:
    """Predict-then-learn per second of the preset's own pipeline with River's own steps
    (`rivers_own`), in process, no I/O; for multilabel, that front shared by a logistic
    regression per label, as the model is built."""
    if task == "multilabel":
        return raw_river_sets(count)
    if task == "spans":
        return raw_river_spans(count)
    if task == "tabular":
        # River's own scaler and one-vs-rest, as a River user would write it for 64 numbers:
        # not the preset's front nor its one-pass learner (until 0.8.2 the anchor used the
        # preset's front, so it sped up with it).
        pipeline = preprocessing.StandardScaler() | multiclass.OneVsRestClassifier(
            logistic("tabular")
        )
    else:
        pipeline = rivers_own(build_pipeline("logistic_regression", "text"))
    rows = [(data(n, task), answer(n, task)) for n in range(count)]
    started = time.perf_counter()
    for x, y in rows:
        pipeline.predict_proba_one(x)
        pipeline.learn_one(x, y)
    return count / (time.perf_counter() - started)


def raw_river_sets(count: int) -> float:
    front = rivers_own(build_front("logistic_regression", "text"))
    binaries = {label: logistic("text") for label in LABELS}
    rows = [({"text": text(n, "multilabel")}, label_set(n)) for n in range(count)]
    started = time.perf_counter()
    for x, given in rows:
        features = front.transform_one(x)
        for classifier in binaries.values():
            classifier.predict_proba_one(features)
        front.learn_one(x)
        features = front.transform_one(x)
        for label, classifier in binaries.items():
            classifier.learn_one(features, label in given)
    return count / (time.perf_counter() - started)


def raw_river_spans(count: int) -> float:
    """Texts a second for River's own classifiers doing a spans label's per-token work: a
    model's per-tag classifiers (taught 300 texts first), each predicting every token of the
    text, then learning it, on the model's token features; no decoding, metrics or rehearsal."""
    model = SpanModel(labels=DOMAINS[SPAN_DOMAIN])
    for n in range(300):
        model.learn(*span_text(10_000 + n))
    raw = pickle.loads(model.pipeline_pickle())["classifiers"]  # each tag's River classifier
    texts = [span_text(n) for n in range(count)]
    started = time.perf_counter()
    for item, spans in texts:
        raw_tag_and_learn(raw, str(item["text"]), spans)
    return count / (time.perf_counter() - started)


async def annotator(
    url: str, quota: int, latencies: list[float], pace: float | None, task: str
) -> None:
    async with connect(url) as ws:
        done = 0
        sent_at = 0.0
        # People are not in step: each starts at a random moment within its first interval.
        next_at = time.perf_counter() + (random.uniform(0, 1.0 / pace) if pace else 0.0)
        while done < quota:
            message = orjson.loads(await ws.recv())
            if message["type"] == "item":
                n = int(message["item"]["id"].split("-")[1])
                if pace:
                    # A person: one label every 1/pace seconds, not as fast as acks return.
                    next_at += random.uniform(0.5, 1.5) / pace
                    await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
                sent_at = time.perf_counter()
                field = "spans" if task == "spans" else None
                await ws.send(label_frame(message["item"]["id"], answer(n, task), field))
            elif message["type"] == "ack":
                latencies.append(time.perf_counter() - sent_at)
                done += 1
            elif message["type"] == "error":
                raise RuntimeError(message)


async def run(
    annotators: int, labels: int, pace: float | None, task: str = "classify"
) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as data_dir:
        server = Server(data_dir)  # started once, before timing
        port = server.port
        try:
            base = f"http://127.0.0.1:{port}"
            async with httpx.AsyncClient(base_url=base, timeout=60) as http:
                project: dict[str, object] = {"name": "bench", "labels": LABELS, "task": task}
                if task == "spans":
                    project["labels"] = list(DOMAINS[SPAN_DOMAIN])
                if task == "tabular":
                    project |= {"labels": CLASSES, "task": "classify", "input": "tabular"}
                (await http.post("/api/projects", json=project)).raise_for_status()
                total = labels + annotators * 2
                for start in range(0, total, 250):
                    events = [
                        {"id": f"evt-{n}", "data": data(n, task)}
                        for n in range(start, min(total, start + 250))
                    ]
                    (
                        await http.post("/api/projects/bench/events", json={"events": events})
                    ).raise_for_status()
                latencies: list[float] = []
                quota = labels // annotators
                before = (await http.get("/metrics")).text
                cpu = cpu_seconds(server.process.pid)
                started = time.perf_counter()
                await asyncio.gather(
                    *(
                        annotator(
                            f"ws://127.0.0.1:{port}/ws/projects/bench/annotate?annotator=a{i}",
                            quota,
                            latencies,
                            pace,
                            task,
                        )
                        for i in range(annotators)
                    )
                )
                elapsed = time.perf_counter() - started
                cpu = cpu_seconds(server.process.pid) - cpu
                metrics = (await http.get("/api/projects/bench/metrics")).json()
                prometheus = (await http.get("/metrics")).text
                server_side = ack_buckets(prometheus)
                collections = gc_between(before, prometheus)
        finally:
            server.stop()
    return {
        "task": task,
        "annotators": annotators,
        "pace": pace,
        **pace_figures(latencies, elapsed, cpu),
        "commits": metrics["label_commits_total"],
        "labels_per_commit": round(metrics["labels_total"] / metrics["label_commits_total"], 1),
        # The server's own view (label read to ack written): the share of acks within each
        # bound, from its histogram; the rest of a client's latency is the network stack, the
        # client's loop, and both waking up.
        "server_ack_within_ms": server_side,
        # The server's garbage collections in the timed window, by generation (2: full).
        "server_gc": collections,
    }


def pace_figures(latencies: list[float], elapsed: float, cpu: float) -> dict[str, float]:
    """Labels acked, their rate, the acks' median and 99th percentile at the client, and the
    server's CPU a label (steadier than a rate on cores the load generator shares: every
    thread of the server)."""
    latencies = sorted(latencies)
    return {
        "labels": len(latencies),
        "labels_per_second": round(len(latencies) / elapsed, 1),
        "ack_p50_ms": round(1000 * statistics.median(latencies), 2),
        "ack_p99_ms": round(1000 * latencies[int(0.99 * (len(latencies) - 1))], 2),
        "server_cpu_us_per_label": round(1e6 * cpu / len(latencies), 1),
    }


def ack_buckets(prometheus: str) -> dict[str, float]:
    """Share of acks the server answered within each histogram bound (ms), up to 10 ms, over
    every project (``streamloop_label_ack_seconds``)."""
    within: dict[float, float] = {}
    total = 0.0
    for metric in text_string_to_metric_families(prometheus):
        if metric.name != "streamloop_label_ack_seconds":
            continue
        for sample in metric.samples:
            if sample.name.endswith("_bucket") and sample.labels["le"] != "+Inf":
                bound = float(sample.labels["le"])
                within[bound] = within.get(bound, 0.0) + sample.value
            elif sample.name.endswith("_count"):
                total += sample.value
    return {
        f"{1000 * bound:g}": round(count / total, 4)
        for bound, count in sorted(within.items())
        if bound <= 0.01
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--annotators", type=int, nargs="+", default=[1, 20, 100])
    parser.add_argument("--labels", type=int, default=3000)
    parser.add_argument("--pace", type=float, default=None, help="labels/s per annotator")
    parser.add_argument(
        "--task", choices=["classify", "multilabel", "tabular", "spans"], default="classify"
    )
    args = parser.parse_args()
    print(machine_line())
    raw = raw_river(args.labels, args.task)
    print(orjson.dumps({"same_run_raw_river_predict_then_learn_per_s": round(raw)}).decode())
    for n in args.annotators:
        result = asyncio.run(run(n, args.labels, args.pace, args.task))
        result["ratio_to_raw_river"] = round(float(result["labels_per_second"]) / raw, 3)
        print(orjson.dumps(result).decode(), flush=True)


if __name__ == "__main__":
    main()
