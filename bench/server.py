"""A ``streamloop serve`` subprocess for the benchmarks: started, waited for, stopped."""

from __future__ import annotations

import asyncio
import os
import platform
import signal
import socket
import subprocess
import sys
from collections.abc import Sequence
from typing import Any

import httpx
import orjson
import river
from prometheus_client.parser import text_string_to_metric_families
from river import compose, feature_extraction

from streamloop.online.features import OrderedTFIDF


def machine_line() -> str:
    """Where a benchmark ran, as the JSON line each one prints first."""
    return orjson.dumps(
        {
            "machine": f"{platform.machine()} {os.cpu_count()} cores",
            "python": platform.python_version(),
            "river": river.__version__,
        }
    ).decode()


async def held_out_accuracy(
    http: httpx.AsyncClient,
    project: str,
    rows: Sequence[dict[str, Any]],
    labels: Sequence[str],
    batch: int = 100,
) -> float:
    """The project's current model's accuracy on held-out ``rows``, each scored through
    ``POST .../predict`` as a client would, ``batch`` requests at a time."""
    hits = 0
    for start in range(0, len(rows), batch):
        chunk = range(start, min(start + batch, len(rows)))
        answers = await asyncio.gather(
            *(http.post(f"/api/projects/{project}/predict", json={"data": rows[i]}) for i in chunk)
        )
        hits += sum(
            a.json()["prediction"] == labels[i] for a, i in zip(answers, chunk, strict=True)
        )
    return hits / len(rows)


def label_frame(item_id: str, label: Any, field: str | None = None) -> str:
    """An annotator's label message (a list: a multilabel project's set, unless ``field`` says
    ``"spans"``); its ``label_id`` is the item's, unique in a run."""
    field = field or ("labels" if isinstance(label, list) else "label")
    return orjson.dumps(
        {"type": "label", "item_id": item_id, field: label, "label_id": item_id}
    ).decode()


class Server:
    """``streamloop serve`` on a free loopback port, data in ``data_dir``; ``program``: what
    Python runs instead of ``-m streamloop`` (a script taking the same arguments)."""

    def __init__(
        self, data_dir: str, *args: str, program: Sequence[str] = ("-m", "streamloop")
    ) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = int(sock.getsockname()[1])
        self.base = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [
                sys.executable,
                *program,
                "serve",
                "--port",
                str(self.port),
                "--data-dir",
                data_dir,
                "--log-level",
                "warning",
                *args,
            ],
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        assert self.process.stdout is not None
        while "annotate:" not in self.process.stdout.readline():
            if self.process.poll() is not None:
                raise RuntimeError("streamloop serve did not start")

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=60)


def rivers_own(model: Any) -> Any:
    """A preset's pipeline or front with River's own TF-IDF where the preset has streamloop's
    (`OrderedTFIDF`, which finds a text's terms in one call since 0.9.11), of the same
    parameters, so that a raw-River anchor does not speed up with streamloop's code. (A
    pipeline is made again of its steps, named as River names them; unions are not looked
    into: no preset has one.)"""
    if isinstance(model, compose.Pipeline):
        return compose.Pipeline(*(rivers_own(step) for step in model.steps.values()))
    if isinstance(model, OrderedTFIDF):
        return feature_extraction.TFIDF(**model._get_params())
    return model


def cpu_seconds(pid: int) -> float:
    """The process's CPU time so far, user and system: steadier than a rate on shared cores."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def io_bytes(pid: int) -> tuple[int, int]:
    """Bytes the process has read and written through system calls so far (``rchar``,
    ``wchar``): files and sockets, cached or not; unlike CPU time, the same from run to run
    for the same work."""
    with open(f"/proc/{pid}/io") as io:
        fields = dict(line.split(": ") for line in io.read().splitlines())
    return int(fields["rchar"]), int(fields["wchar"])


def gc_pauses(prometheus: str) -> dict[str, dict[str, Any]]:
    """The server's garbage-collector pauses so far (``streamloop_gc_pause_seconds``), by
    generation: their count, seconds, and cumulative count at each bucket bound."""
    pauses: dict[str, dict[str, Any]] = {}
    for metric in text_string_to_metric_families(prometheus):
        if metric.name != "streamloop_gc_pause_seconds":
            continue
        for sample in metric.samples:
            entry = pauses.setdefault(
                sample.labels["generation"], {"count": 0, "seconds": 0.0, "buckets": {}}
            )
            if sample.name.endswith("_bucket"):
                entry["buckets"][sample.labels["le"]] = sample.value
            elif sample.name.endswith("_count"):
                entry["count"] = int(sample.value)
            elif sample.name.endswith("_sum"):
                entry["seconds"] = sample.value
    return pauses


def gc_between(before: str, after: str) -> dict[str, dict[str, float]]:
    """The collections between two scrapes of ``/metrics``, by generation: how many, their
    total milliseconds, and the bound (ms) the longest of them stayed within."""
    first, last = gc_pauses(before), gc_pauses(after)
    window: dict[str, dict[str, float]] = {}
    for generation, end in sorted(last.items()):
        start = first.get(generation, {"count": 0, "seconds": 0.0, "buckets": {}})
        count = end["count"] - start["count"]
        longest = next(
            (
                float(bound) * 1000
                for bound, n in end["buckets"].items()
                if n - start["buckets"].get(bound, 0.0) >= count and bound != "+Inf"
            ),
            float("inf"),
        )
        window[generation] = {
            "count": count,
            "ms": round(1000 * (end["seconds"] - start["seconds"]), 1),
            "longest_ms_within": longest if count else 0.0,
        }
    return window


def scrape(base: str) -> str:
    """The server's ``/metrics`` now (outside any timed window: it blocks)."""
    return httpx.get(f"{base}/metrics", timeout=60).text
