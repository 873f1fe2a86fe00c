"""Dashboard fan-out: push latency to 100 sockets, and one socket that never reads.

Starts ``streamloop serve`` with metrics pushed on every change
(``STREAMLOOP_METRICS_INTERVAL_SECONDS=0``), opens ``--sockets`` dashboard sockets that read,
and one more that completes the WebSocket handshake and then never reads (a 4 KiB receive
buffer, so the server's sends to it block within a few pushes). Then it posts ``--rounds``
events one at a time; after each, every reading socket must see ``events_total`` reach the new
count. Push latency: from the event's HTTP response to each socket's message.

    python bench/fanout.py --sockets 100 --rounds 200
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import socket
import statistics
import tempfile
import time

import httpx
import orjson
from server import Server, machine_line
from websockets.asyncio.client import ClientConnection, connect


def stalled_socket(port: int) -> socket.socket:
    """A WebSocket client that handshakes, then never reads again."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        (
            "GET /ws/projects/bench/dashboard HTTP/1.1\r\n"
            f"Host: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    return sock


async def until(ws: ClientConnection, events_total: int) -> float:
    while True:
        message = orjson.loads(await asyncio.wait_for(ws.recv(), 30))
        if message.get("type") == "metrics" and message["events_total"] >= events_total:
            return time.perf_counter()


async def run(sockets: int, rounds: int) -> dict[str, object]:
    os.environ["STREAMLOOP_METRICS_INTERVAL_SECONDS"] = "0"
    with tempfile.TemporaryDirectory() as data_dir:
        server = Server(data_dir)
        try:
            async with httpx.AsyncClient(base_url=server.base, timeout=60) as http:
                spec = {"name": "bench", "labels": ["a", "b"], "input": "text"}
                (await http.post("/api/projects", json=spec)).raise_for_status()
                url = server.base.replace("http", "ws") + "/ws/projects/bench/dashboard"
                clients = [await connect(url) for _ in range(sockets)]
                stalled = stalled_socket(server.port)
                latencies: list[float] = []
                for n in range(1, rounds + 1):
                    body = {"events": [{"id": f"e{n}", "data": {"text": f"event {n} " * 40}}]}
                    waiting = [asyncio.ensure_future(until(ws, n)) for ws in clients]
                    (await http.post("/api/projects/bench/events", json=body)).raise_for_status()
                    posted = time.perf_counter()
                    for arrived in await asyncio.gather(*waiting):
                        latencies.append(max(0.0, arrived - posted))
                for ws in clients:
                    await ws.close()
                stalled.close()
        finally:
            server.stop()
    latencies.sort()
    return {
        "sockets": sockets,
        "stalled_sockets": 1,
        "rounds": rounds,
        "pushes_received": len(latencies),
        "push_p50_ms": round(1000 * statistics.median(latencies), 2),
        "push_p99_ms": round(1000 * latencies[int(0.99 * (len(latencies) - 1))], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sockets", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=200)
    args = parser.parse_args()
    print(machine_line())
    print(orjson.dumps(asyncio.run(run(args.sockets, args.rounds))).decode())


if __name__ == "__main__":
    main()
