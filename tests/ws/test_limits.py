"""Limits and back-pressure: refusals in the contract's shape, counted, and nothing lost."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import logging
import threading
from collections.abc import AsyncIterator, Iterator
from types import SimpleNamespace

import orjson
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from streamloop.ws.dashboard import _push
from streamloop.ws.limits import Refusals
from support import RECEIVE_TIMEOUT, running, ticket


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
        store = service.core.store
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
            service.http.post(
                "/api/projects/tickets/events",
                content=slowly(),
                headers={"content-type": "application/json"},
            )
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


def nested(depth: int) -> dict[str, object]:
    data: dict[str, object] = {"text": "deep"}
    inner: dict[str, object] = data
    for _ in range(depth - 1):
        inner["more"] = {}
        inner = inner["more"]  # type: ignore[assignment]
    return data


async def test_data_nested_too_deep_or_too_wide_is_refused_whole(settings):
    async with running(settings) as service:
        await service.create_project()
        assert (await service.create_project(name="table", input="tabular"))["name"] == "table"
        good = {"id": "good", "data": ticket("bug", 1)}
        wide = {f"f{n}": n for n in range(settings.max_data_fields + 1)}
        cases = [
            ("tickets", nested(settings.max_data_depth + 1), "too_deep"),
            ("tickets", nested(253), "too_deep"),  # stored before, and broke every socket
            ("tickets", nested(300), "too_deep"),  # a 500 before: past orjson's own limit
            ("table", wide, "too_many_fields"),
        ]
        for project, data, code in cases:
            for path, body in [
                ("events", {"events": [good, {"id": "bad", "data": data}]}),
                ("predict", {"data": data}),
            ]:
                response = await service.http.post(f"/api/projects/{project}/{path}", json=body)
                assert response.status_code == 422, (path, code, response.text[:300])
                assert response.json()["error"]["code"] == code
        assert (await service.metrics("tickets"))["events_total"] == 0
        # At the limit it is accepted, and an annotator gets it.
        deepest = {"id": "deepest", "data": nested(settings.max_data_depth)}
        assert (await service.send_events("tickets", [deepest]))[0]["queued"] is True
        async with service.annotator("tickets", "alice") as alice:
            assert (await alice.next_item())["item"]["id"] == "deepest"


async def stall(service, path: str) -> bytes:
    """Send a request's headers and the start of its body, then nothing: the server's answer."""
    host, port = service.base.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(
            f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
            "Content-Length: 1000\r\n\r\n{".encode()
        )
        await writer.drain()
        step = "the answer's head"
        try:
            async with asyncio.timeout(RECEIVE_TIMEOUT):
                head = await reader.readuntil(b"\r\n\r\n")
                step = f"the body of {head!r}"
                length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
                answer = head + await reader.readexactly(length)
                # The rest of that body could still come: the server does not keep the
                # connection.
                step = f"the connection to close after {answer!r}"
                assert await reader.read(1) == b""
                return answer
        except TimeoutError:
            raise AssertionError(f"{path}: waited {RECEIVE_TIMEOUT} s for {step}") from None
    finally:
        writer.close()


async def test_a_body_that_stops_arriving_is_cut_off_and_frees_its_place(settings):
    impatient = dataclasses.replace(
        settings, body_timeout_seconds=0.2, store_backlog_max=1, keep_alive_seconds=600
    )
    async with running(impatient) as service:
        await service.create_project()
        for path in ("events", "predict", "labels"):
            answer = await stall(service, f"/api/projects/tickets/{path}")
            head, _, body = answer.partition(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 408"), answer
            error = orjson.loads(body)["error"]
            assert (error["code"], error["retryable"]) == ("body_timeout", True)
        # The one place under the store's cap is free again.
        assert len(await service.send_events("tickets", events(0, 1))) == 1


async def held_body(started: asyncio.Event, go_on: asyncio.Event) -> AsyncIterator[bytes]:
    yield b'{"data": '
    started.set()
    await go_on.wait()
    yield orjson.dumps(ticket("bug", 1)) + b"}"


async def test_bodies_being_read_are_admitted_on_every_endpoint_that_reads_one(settings):
    one = dataclasses.replace(settings, bodies_in_flight_max=1, store_backlog_max=1)
    async with running(one) as service:
        await service.create_project()
        await service.send_events("tickets", events(0, 1))
        json_headers = {"content-type": "application/json"}
        for path, admitted_too in [
            ("/api/projects/tickets/predict", "/api/projects"),
            ("/api/projects/tickets/labels", "/api/projects/tickets/events"),
        ]:
            started = asyncio.Event()
            go_on = asyncio.Event()

            held = asyncio.create_task(
                service.http.post(path, content=held_body(started, go_on), headers=json_headers)
            )
            await started.wait()
            for busy in (path, admitted_too):
                refused = await service.http.post(busy, json={}, headers=json_headers)
                assert refused.status_code == 429, (busy, refused.text)
                assert refused.headers["retry-after"] == "1"
                assert refused.json()["error"]["retryable"] is True
            go_on.set()
            await held
        again = await service.http.post(
            "/api/projects/tickets/predict", json={"data": ticket("bug", 2)}
        )
        assert again.status_code == 200


@pytest.mark.parametrize("sent", [b"", b"G", b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n"])
async def test_a_connection_that_never_completes_a_request_is_closed(settings, sent):
    quick = dataclasses.replace(settings, keep_alive_seconds=1)
    async with running(quick) as service:
        host, port = service.base.removeprefix("http://").split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            # Says nothing, or the start of a request: the server closes it (EOF) instead of
            # holding it for ever.
            writer.write(sent)
            assert await asyncio.wait_for(reader.read(1), timeout=RECEIVE_TIMEOUT) == b""
        finally:
            writer.close()


async def test_a_client_that_goes_away_mid_body_is_not_a_server_error(settings, caplog):
    async with running(settings) as service:
        await service.create_project()
        host, port = service.base.removeprefix("http://").split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(
            b"POST /api/projects/tickets/events HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b'Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"events": ['
        )
        await writer.drain()
        writer.close()
        await writer.wait_closed()
        await reader.read()
        # The request was seen and answered (to nobody), counted without a 500.
        text = ""
        async with asyncio.timeout(RECEIVE_TIMEOUT):  # the answer is recorded as it is sent
            while 'route="/api/projects/{project}/events"' not in text:
                text = (await service.http.get("/metrics")).text
        assert 'status="500"' not in text
        assert refused(text, "client_disconnected") == 1
        assert not [r for r in caplog.records if r.levelname in ("ERROR", "CRITICAL")]
        assert len(await service.send_events("tickets", events(0, 1))) == 1


async def test_one_annotator_cannot_take_every_lease(settings):
    capped = dataclasses.replace(settings, sockets_per_annotator_max=2, leases_per_annotator_max=3)
    async with running(capped) as service:
        await service.create_project()
        await service.send_events("tickets", events(0, 10))
        async with (
            service.annotator("tickets", "alice", prefetch=2) as first,
            service.annotator("tickets", "alice", prefetch=1) as second,
        ):
            await first.next_item()
            await second.next_item()
            async with service.annotator("tickets", "alice", prefetch=1) as third:
                error = await third.expect("error")
                assert (error["code"], error["retryable"]) == ("too_many_sockets", True)
                with pytest.raises(ConnectionClosed) as closed:
                    await third.recv()
                assert closed.value.rcvd is not None and closed.value.rcvd.code == 1013
            async with service.annotator("tickets", "bob", prefetch=3) as bob:
                assert (await bob.next_item())["type"] == "item"  # others still get work
        async with service.annotator("tickets", "alice", prefetch=2) as held:
            await held.next_item()  # joined: its leases count against the next socket
            async with service.annotator("tickets", "alice", prefetch=2) as greedy:
                error = await greedy.expect("error")
                assert (error["code"], error["retryable"]) == ("too_many_leases", True)
        # A prefetch over the cap by itself never passes: not worth trying again.
        async with service.annotator("tickets", "carol", prefetch=4) as greedy:
            error = await greedy.expect("error")
            assert (error["code"], error["retryable"]) == ("too_many_leases", False)


async def test_a_burst_over_the_rate_limit_gets_a_reply_each_and_the_socket_stays(settings):
    limited = dataclasses.replace(settings, socket_messages_per_second=0.1)
    async with running(limited) as service:
        await service.create_project()
        async with service.annotator("tickets", "alice") as alice:
            await alice.expect("idle")
            burst = 3000  # three times the outbox: the replies alone used to overflow it
            frames = [
                orjson.dumps({"type": "skip", "item_id": f"i{n}"}).decode() for n in range(burst)
            ]
            sending = asyncio.create_task(_send_all_frames(alice.ws, frames))
            codes = [(await alice.expect("error"))["code"] for _ in range(burst)]
            await sending
            assert set(codes) == {"rate_limited"}
            await alice.send({"type": "resume"})  # still open
        text = (await service.http.get("/metrics")).text
        assert refused(text, "annotate_not_reading") == 0


async def test_an_annotator_that_stops_reading_is_closed_with_try_again_later(
    settings, monkeypatch
):
    # Items far larger than the kernel's buffers, and room for three waiting messages: the
    # writer blocks on a client that reads nothing, and the outbox overflows.
    monkeypatch.setattr("streamloop.ws.annotate.OUTBOX_MAX", 3)
    async with running(settings) as service:
        await service.create_project()
        big = "word " * 180_000  # 900 kB
        for n in range(30):
            await service.send_events("tickets", [{"id": f"big{n}", "data": {"text": big}}])
        watched = WatchedRefusals()
        service.app.state.refused = watched  # read by each socket as it opens
        params = "annotator=alice&prefetch=30"
        url = f"{service.ws_base}/ws/projects/tickets/annotate?{params}"
        with logged_errors() as errors:
            # Raw, not support.annotator: this client stops reading on purpose.
            async with connect(url, max_size=None, max_queue=1) as ws:
                # The bound only guards against a hang: 27 MB of items to write on a busy
                # machine (the suite runs in two processes) may outlast one receive.
                await asyncio.wait_for(watched.counted("annotate_not_reading"), RECEIVE_TIMEOUT * 3)
                assert watched["annotate_not_reading"] == 1
                with pytest.raises(ConnectionClosed) as closed:
                    await read_to_the_end(ws)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1013
            assert (await service.metrics("tickets"))["leased"] == 0  # its leases came back
        assert not errors, [record.getMessage() for record in errors]  # closed, not crashed


@contextlib.contextmanager
def logged_errors() -> Iterator[list[logging.LogRecord]]:
    """Error records of the server (uvicorn's loggers do not reach pytest's caplog)."""
    records: list[logging.LogRecord] = []
    handler = logging.Handler(logging.ERROR)
    handler.emit = records.append  # type: ignore[method-assign]
    loggers = [logging.getLogger(name) for name in ("uvicorn.error", "streamloop")]
    for logger in loggers:
        logger.addHandler(handler)
    try:
        yield records
    finally:
        for logger in loggers:
            logger.removeHandler(handler)


class WatchedRefusals(Refusals):
    """The refusals counter, telling when it changes."""

    def __init__(self) -> None:
        super().__init__()
        self.changed = asyncio.Event()

    def __setitem__(self, reason: str, count: int) -> None:
        super().__setitem__(reason, count)
        self.changed.set()

    async def counted(self, reason: str) -> None:
        """Return once ``reason`` has been counted."""
        while not self[reason]:
            self.changed.clear()
            await self.changed.wait()


async def read_to_the_end(ws) -> None:
    while True:
        await asyncio.wait_for(ws.recv(), RECEIVE_TIMEOUT)


async def test_an_annotator_that_floods_then_stops_reading_is_closed(settings):
    # Its replies fill the outbox past the read pause; it never reads: closed within the
    # patience allowed, its leases returned, instead of holding them until a ping times out.
    impatient = dataclasses.replace(settings, slow_reader_seconds=0.5)
    async with running(impatient) as service:
        await service.create_project()
        big = "word " * 180_000  # 900 kB: the kernel's buffers fill, and the writer waits
        for n in range(30):
            await service.send_events("tickets", [{"id": f"big{n}", "data": {"text": big}}])
        watched = WatchedRefusals()
        service.app.state.refused = watched
        url = f"{service.ws_base}/ws/projects/tickets/annotate?annotator=alice&prefetch=30"
        # Raw, not support.annotator: this client stops reading on purpose.
        async with connect(url, max_size=None, max_queue=1) as ws:
            # It floods until it is closed: with a shared store (PostgreSQL) its items are
            # claimed in the store before they are sent, and a flood that ended before they
            # blocked the writer would have had its replies written, leaving nothing unread.
            flooding = asyncio.create_task(_flood_with_skips(ws))
            # Other refusals may be counted first (a flood is rate limited too): wait for this one.
            # The bound only guards against a hang: 27 MB of items to write on a busy
            # machine (the suite runs in two processes) may outlast one receive.
            await asyncio.wait_for(watched.counted("annotate_not_reading"), RECEIVE_TIMEOUT * 3)
            assert watched["annotate_not_reading"] == 1
            flooding.cancel()
            with pytest.raises(ConnectionClosed) as closed:
                await read_to_the_end(ws)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1013
        assert (await service.metrics("tickets"))["leased"] == 0


async def _send_all_frames(ws, frames: list[str]) -> None:
    for frame in frames:
        await ws.send(frame)


async def _flood_with_skips(ws) -> None:
    for n in itertools.count():
        await ws.send(orjson.dumps({"type": "skip", "item_id": f"nope{n}"}).decode())
