"""Supervisors: the metrics object over HTTP, and pushed live over a WebSocket.

One hub per project computes and serialises the metrics once per change (at most every
``metrics_interval_seconds``) and every dashboard socket sends the newest copy in its own
task, so a slow socket only skips versions; it never holds up the others.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket, WebSocketDisconnect

from streamloop.errors import StreamloopError
from streamloop.streams import ProjectRuntime
from streamloop.ws.context import dashboards_of, refused_of, service_of, settings_of
from streamloop.ws.handlers import send_error_and_close
from streamloop.ws.limits import Refusals
from streamloop.ws.payloads import OrjsonResponse, dumps

__all__ = ["DashboardHubs", "dashboard", "get_metrics"]

#: Longest time a dashboard goes without fresh figures while nothing happens.
_IDLE_REFRESH_SECONDS = 5.0


async def get_metrics(request: Request) -> Response:
    runtime = service_of(request).project(request.path_params["project"])
    return OrjsonResponse(runtime.metrics())


class _Hub:
    def __init__(self, runtime: ProjectRuntime, interval: float) -> None:
        self.runtime = runtime
        self.interval = interval
        self.latest = self._render()
        #: How many renders there have been: a socket that skipped some dropped old figures.
        self.renders = 1
        self.sockets: set[asyncio.Event] = set()
        self._dirty = asyncio.Event()
        self._unsubscribe = runtime.subscribe(self._dirty.set)
        self._task = asyncio.create_task(self._run(), name=f"dashboard-{runtime.record.name}")

    def _render(self) -> bytes:
        return dumps({"type": "metrics", **self.runtime.metrics()})

    async def _run(self) -> None:
        while True:
            # Figures such as labels per minute also change with time alone: refresh them
            # now and then even when nothing happens.
            # (`asyncio.timeout`, not `wait_for`: on Python 3.11, `wait_for` can swallow a
            # cancellation that comes as the event is set, and then closing waits for ever.)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(_IDLE_REFRESH_SECONDS):
                    await self._dirty.wait()
            self._dirty.clear()
            latest = self._render()
            if latest != self.latest:
                self.latest = latest
                self.renders += 1
                for wake in self.sockets:
                    wake.set()
            # Throttle: at most one push per interval, however fast the project changes.
            await asyncio.sleep(self.interval)

    async def close(self) -> None:
        self._unsubscribe()
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


class DashboardHubs:
    """The hubs of every project with a dashboard open."""

    def __init__(self) -> None:
        self._hubs: dict[int, _Hub] = {}

    def hub(self, runtime: ProjectRuntime, interval: float) -> _Hub:
        hub = self._hubs.get(runtime.record.id)
        if hub is None:
            hub = self._hubs[runtime.record.id] = _Hub(runtime, interval)
        return hub

    async def close(self) -> None:
        for hub in self._hubs.values():
            await hub.close()
        self._hubs.clear()


async def get_history(request: Request) -> Response:
    runtime = service_of(request).project(request.path_params["project"])
    return OrjsonResponse(runtime.history())


async def dashboard(websocket: WebSocket) -> None:
    await websocket.accept()
    try:
        runtime = service_of(websocket).project(websocket.path_params["project"])
    except StreamloopError as exc:
        await send_error_and_close(websocket, exc)
        return
    # The curve so far first, so a chart opened late starts complete; metrics follow.
    await websocket.send_text(dumps({"type": "history", **runtime.history()}).decode())
    hub = dashboards_of(websocket).hub(runtime, settings_of(websocket).metrics_interval_seconds)
    wake = asyncio.Event()
    hub.sockets.add(wake)
    pusher = asyncio.create_task(_push(websocket, hub, wake, refused_of(websocket)))
    try:
        await _drain(websocket)
    finally:
        hub.sockets.discard(wake)
        pusher.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await pusher


async def _push(websocket: WebSocket, hub: _Hub, wake: asyncio.Event, refused: Refusals) -> None:
    # A socket slower than the figures change gets only the newest: the ones it missed are
    # dropped (and counted), never queued, and nobody else waits for it.
    sent: bytes | None = None
    sent_render = hub.renders
    while True:
        if hub.latest is not sent:
            sent = hub.latest
            if hub.renders - sent_render > 1:
                refused["dashboard_push_dropped"] += hub.renders - sent_render - 1
            sent_render = hub.renders
            await websocket.send_text(sent.decode())
        await wake.wait()
        wake.clear()


async def _drain(websocket: WebSocket) -> Any:
    # The dashboard only listens; reading is how a closed socket is noticed.
    while True:
        try:
            message = await websocket.receive()
        except WebSocketDisconnect:
            return
        if message["type"] == "websocket.disconnect":
            return
