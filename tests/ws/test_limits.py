"""Limits and back-pressure: refusals in the contract's shape, counted, and nothing lost."""

from __future__ import annotations

import asyncio
import dataclasses
import threading
from collections.abc import AsyncIterator
from types import SimpleNamespace

import orjson

from streamloop.ws.dashboard import _push
from streamloop.ws.limits import Refusals
from support import running, ticket


def events(start: int, count: int) -> list[dict[str, object]]:
    return [{"id": f"e{n}", "data": ticket("bug", n)} for n in range(start, start + count)]


def refused(prometheus_text: str, reason: str) -> float:
    for line in prometheus_text.splitlines():
        if line.startswith(f'streamloop_refused_total{{reason="{reason}"}}'):
            return float(line.split()[-1])
    return 0.0


async def test_a_socket_over_its_message_rate_is_refused_per_message_and_stays_open(settings):
    # Under one message of burst: nothing gets through, so the refusals are certain.
    limited = dataclasses.replace(settings, socket_messages_per_second=0.1)
    async with running(limited) as service:
        await service.create_project()
        await service.send_events("tickets", events(0, 3))
        async with service.annotator("tickets", "alice") as socket:
            item = await socket.next_item()
            for n in range(5):
                await socket.send(
                    {
                        "type": "label",
                        "item_id": item["item"]["id"],
                        "label": "bug",
                        "label_id": f"l{n}",
                    }
                )
                error = await socket.expect("error")
                assert (error["code"], error["label_id"]) == ("rate_limited", f"l{n}")
            assert (await service.metrics("tickets"))["labels_total"] == 0
        text = (await service.http.get("/metrics")).text
        assert refused(text, "rate_limited") == 5


async def test_events_get_429_with_retry_after_while_the_store_is_behind(settings):
    behind = dataclasses.replace(settings, store_backlog_max=1)
    async with running(behind) as service:
        await service.create_project()
        await service.send_events("tickets", events(0, 2))
        store = service.engine.store
        release = threading.Event()
        # Occupy the store's one thread: the next database call has to wait behind this one.
        holding = asyncio.create_task(store.run(release.wait, 30))
        try:
            response = await service.http.post(
                "/api/projects/tickets/events", json={"events": events(2, 2)}
            )
        finally:
            release.set()
            assert await holding
        assert response.status_code == 429, response.text
        assert response.headers["retry-after"] == "1"
        assert response.json()["error"]["code"] == "store_busy"
        assert refused((await service.http.get("/metrics")).text, "store_busy") == 1

        # Retried once the store caught up: accepted, and nothing was stored twice or lost.
        await service.send_events("tickets", events(2, 2))
        assert (await service.metrics("tickets"))["events_total"] == 4


class _BlockedSocket:
    """A dashboard socket whose client reads only when told to."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.reading = asyncio.Event()
        self.written = asyncio.Event()

    async def send_text(self, text: str) -> None:
        self.sent.append(text)
        self.written.set()
        await self.reading.wait()
        self.reading.clear()


async def test_a_slow_dashboard_gets_only_the_newest_figures_and_the_dropped_are_counted():
    hub = SimpleNamespace(latest=b"v1", renders=1)
    socket, wake, counts = _BlockedSocket(), asyncio.Event(), Refusals()
    pusher = asyncio.create_task(_push(socket, hub, wake, counts))  # type: ignore[arg-type]
    try:
        await socket.written.wait()  # v1 is on its way; the client does not read it yet
        socket.written.clear()
        for version in range(2, 7):  # five renders meanwhile, each waking the pusher
            hub.latest, hub.renders = f"v{version}".encode(), version
            wake.set()
        socket.reading.set()
        await socket.written.wait()
    finally:
        pusher.cancel()
    assert socket.sent == ["v1", "v6"]  # never queued behind: v2..v5 were dropped
    assert counts["dashboard_push_dropped"] == 4


async def test_a_request_still_sending_its_body_holds_its_place(settings):
    # Admission is held from before the body is read until the answer: slow senders cannot
    # pile up bodies in memory behind the cap.
    one = dataclasses.replace(settings, store_backlog_max=1)
    async with running(one) as service:
        await service.create_project()
        body = orjson.dumps({"events": events(0, 2)})
        go_on, started = asyncio.Event(), asyncio.Event()

        async def slowly() -> AsyncIterator[bytes]:
            yield body[:10]
            started.set()
            await go_on.wait()
            yield body[10:]

        first = asyncio.create_task(
            service.http.post("/api/projects/tickets/events", content=slowly())
        )
        await started.wait()
        refused = await service.http.post(
            "/api/projects/tickets/events", json={"events": events(2, 1)}
        )
        go_on.set()
        assert (await first).status_code == 200
        assert refused.status_code == 429
        assert refused.json()["error"]["code"] == "store_busy"
        assert (await service.metrics("tickets"))["events_total"] == 2
