"""The service mode of the label-efficiency benchmark: a real ``streamloop serve``.

Events go in over HTTP, the oracle annotator labels over the annotate WebSocket, and held-out
accuracy is read through ``POST .../predict``, as any client would.
"""

from __future__ import annotations

import asyncio
import atexit
import itertools
import tempfile
from typing import Any

import httpx
import orjson
from server import Server, held_out_accuracy
from websockets.asyncio.client import connect

STEP = 25
_server: dict[str, Server] = {}
_names = itertools.count(1)


def _start() -> str:
    if "server" not in _server:
        server = Server(tempfile.mkdtemp(prefix="streamloop-bench-"))
        atexit.register(server.stop)
        _server["server"] = server
    return str(_server["server"].base)


def run_service(data: Any, variant: Any, seed: int, budget: int, preset: str) -> dict:
    if variant.starvation_boost or variant.candidates != 32:
        raise SystemExit(f"variant {variant.name} sets knobs the service does not expose")
    return asyncio.run(_run(_start(), data, variant, seed, budget, preset))


async def _run(base: str, data: Any, variant: Any, seed: int, budget: int, preset: str) -> dict:
    name = f"bench-{next(_names)}"
    async with httpx.AsyncClient(base_url=base, timeout=120) as http:
        spec = {
            "name": name,
            "labels": data.classes,
            "input": "tabular",
            "model": preset,
            "strategy": variant.strategy,
            "exploration": variant.exploration,
            "warmup": variant.warmup,
            "rehearsal": variant.rehearsal,
            "seed": seed,
        }
        (await http.post("/api/projects", json=spec)).raise_for_status()
        for start in range(0, len(data.pool), 1000):
            events = [
                {"id": str(i), "data": row}
                for i, row in enumerate(data.pool[start : start + 1000], start)
            ]
            (
                await http.post(f"/api/projects/{name}/events", json={"events": events})
            ).raise_for_status()
        curve, estimates = [], []
        url = base.replace("http", "ws") + f"/ws/projects/{name}/annotate?annotator=oracle"
        async with connect(url, max_size=None) as ws:
            labelled = 0
            while labelled < budget:
                message = orjson.loads(await ws.recv())
                if message["type"] == "item":
                    item = message["item"]["id"]
                    await ws.send(
                        orjson.dumps(
                            {
                                "type": "label",
                                "item_id": item,
                                "label": data.pool_labels[int(item)],
                                "label_id": f"{name}-{item}",
                            }
                        ).decode()
                    )
                elif message["type"] == "ack":
                    labelled += 1
                    if labelled % STEP == 0:
                        curve.append(
                            await held_out_accuracy(
                                http, name, data.holdout, data.holdout_labels, 64
                            )
                        )
                        metrics = (await http.get(f"/api/projects/{name}/metrics")).json()
                        u = metrics["unbiased_accuracy"]
                        estimates.append(
                            None if u["estimate"] is None else (u["estimate"], u["low"], u["high"])
                        )
                elif message["type"] == "idle":
                    break
                elif message["type"] == "error":
                    raise RuntimeError(message)
    return {"curve": curve, "unbiased": estimates}
