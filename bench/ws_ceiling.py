"""The most labels a second one label a frame can reach on this machine: a server that does
nothing but answer, against the label path's goal.

The label path sends one label a WebSocket message, answered by an ack and the next item
(PROTOCOL, "Annotators"). This benchmark serves those same messages with no work behind them:
uvicorn configured as ``streamloop serve`` configures it (`streamloop.cli.server_config`), a
Starlette WebSocket route that answers each label with an ack and the next item, and frames
copied from a real ``streamloop serve`` (one run of ``bench/labels.py``'s project, captured
first, only the ids changed). The annotators are `labels.annotator`, as in ``bench/labels.py``.
What it measures is the ceiling of the protocol's one label a message with this stack on
these cores, before any storing, learning or leasing, printed against raw River doing each
label's work in the same run (`labels.raw_river`).

    python bench/ws_ceiling.py --task multilabel --annotators 20 --labels 20000
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import orjson
from labels import (
    CLASSES,
    LABELS,
    annotator,
    answer,
    data,
    free_port,
    pace_figures,
    raw_river,
)
from server import Server, cpu_seconds, label_frame, machine_line
from websockets.asyncio.client import connect


async def captured_frames(task: str) -> dict[str, Any]:
    """The hello, item and ack messages a real server sends an annotator of ``task``'s
    project (the labels benchmark's), as parsed JSON."""
    with tempfile.TemporaryDirectory() as data_dir:
        server = Server(data_dir)
        try:
            async with httpx.AsyncClient(base_url=server.base, timeout=60) as http:
                project: dict[str, object] = {"name": "bench", "labels": LABELS, "task": task}
                if task == "tabular":
                    project |= {"labels": CLASSES, "task": "classify", "input": "tabular"}
                (await http.post("/api/projects", json=project)).raise_for_status()
                events = [{"id": f"evt-{n}", "data": data(n, task)} for n in range(8)]
                await http.post("/api/projects/bench/events", json={"events": events})
            url = f"ws://127.0.0.1:{server.port}/ws/projects/bench/annotate?annotator=a0"
            async with connect(url) as ws:
                hello = orjson.loads(await ws.recv())
                item = orjson.loads(await ws.recv())
                while item["type"] != "item":
                    item = orjson.loads(await ws.recv())
                n = int(item["item"]["id"].split("-")[1])
                await ws.send(label_frame(item["item"]["id"], answer(n, task)))
                ack = orjson.loads(await ws.recv())
                while ack["type"] != "ack":
                    ack = orjson.loads(await ws.recv())
        finally:
            server.stop()
    return {"hello": hello, "item": item, "ack": ack}


def echo_app(frames: dict[str, Any], task: str) -> Any:
    """A Starlette app whose annotate socket answers each label with an ack and a new item,
    the captured messages with their ids changed, and does nothing else."""
    from starlette.applications import Starlette
    from starlette.routing import WebSocketRoute
    from starlette.websockets import WebSocket, WebSocketDisconnect

    numbers = itertools.count()

    def item() -> bytes:
        n = next(numbers)
        message = dict(frames["item"])
        message["item"] = dict(message["item"], id=f"evt-{n}", data=data(n, task))
        return orjson.dumps(message)

    async def annotate(ws: WebSocket) -> None:
        await ws.accept()
        await ws.send_text(orjson.dumps(frames["hello"]).decode())
        for _ in range(2):  # the default prefetch
            await ws.send_text(item().decode())
        try:
            while True:
                label = orjson.loads(await ws.receive_text())
                ack = dict(frames["ack"], item_id=label["item_id"], label_id=label["label_id"])
                await ws.send_text(orjson.dumps(ack).decode())
                await ws.send_text(item().decode())
        except WebSocketDisconnect:  # the annotator has sent its quota and left
            pass

    return Starlette(routes=[WebSocketRoute("/annotate", annotate)])


def serve_echo(port: int, frames_path: str, task: str) -> None:
    import uvicorn

    from streamloop.cli import server_config
    from streamloop.config import Settings

    frames = orjson.loads(Path(frames_path).read_bytes())
    settings = Settings.from_env({}, port=port)
    server = uvicorn.Server(server_config(echo_app(frames, task), settings, "warning"))
    # Bound and listening before "ready": the annotators' first connection finds it.
    listening = socket.create_server(("127.0.0.1", port))
    print("ready", flush=True)
    server.run(sockets=[listening])


async def drive(port: int, annotators: int, labels: int, task: str) -> tuple[list[float], float]:
    latencies: list[float] = []
    quota = labels // annotators
    url = f"ws://127.0.0.1:{port}/annotate"
    started = time.perf_counter()
    await asyncio.gather(*(annotator(url, quota, latencies, None, task) for _ in range(annotators)))
    return latencies, time.perf_counter() - started


def run(frames: dict[str, Any], annotators: int, labels: int, task: str) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile("wb", suffix=".json") as file:
        file.write(orjson.dumps(frames))
        file.flush()
        port = free_port()
        process = subprocess.Popen(
            [sys.executable, __file__, "--echo", str(port), file.name, "--task", task],
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        try:
            assert process.stdout is not None
            if process.stdout.readline().strip() != "ready":
                raise RuntimeError("the echo server did not start")
            latencies, elapsed, cpu = asyncio.run(
                _measured(port, process.pid, annotators, labels, task)
            )
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)
    return {"task": task, "annotators": annotators, **pace_figures(latencies, elapsed, cpu)}


async def _measured(
    port: int, pid: int, annotators: int, labels: int, task: str
) -> tuple[list[float], float, float]:
    """`drive`, with the server's CPU seconds over it."""
    cpu = cpu_seconds(pid)
    latencies, elapsed = await drive(port, annotators, labels, task)
    return latencies, elapsed, cpu_seconds(pid) - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--annotators", type=int, nargs="+", default=[20])
    parser.add_argument("--labels", type=int, default=20_000)
    parser.add_argument(
        "--task", choices=["classify", "multilabel", "tabular"], default="multilabel"
    )
    parser.add_argument("--echo", nargs=2, metavar=("PORT", "FRAMES"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.echo:
        serve_echo(int(args.echo[0]), args.echo[1], args.task)
        return
    print(machine_line())
    frames = asyncio.run(captured_frames(args.task))
    raw = raw_river(3000, args.task)
    print(orjson.dumps({"same_run_raw_river_predict_then_learn_per_s": round(raw)}).decode())
    for n in args.annotators:
        result = run(frames, n, args.labels, args.task)
        result["ratio_to_raw_river"] = round(float(result["labels_per_second"]) / raw, 3)
        result["goal_labels_per_second"] = round(0.25 * raw)
        print(orjson.dumps(result).decode(), flush=True)


if __name__ == "__main__":
    main()
