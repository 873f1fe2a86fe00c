"""What the browser tests share: a seeded project, an annotator's page, a page on another origin,
a watch on CSP violations."""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import uvicorn
from playwright.async_api import Browser, BrowserContext, Page, WebSocketRoute, expect

from support import project_spec, ticket

LABELS = ["billing", "bug", "other"]
#: Generous: a safety net against hangs (each expect returns as soon as its condition holds).
PATIENCE_MS = 30_000
#: An item's ``track_record`` that earns the model's suggestion its place on screen: right on
#: 14 of the last 20, clearly better than a guess (`streamloop.online.suggestion`). The page
#: shows no suggestion on an item without it; a test that plays the server gives it to the
#: items whose suggestion is its subject.
TRUSTED = {"right": 14, "of": 20, "trusted": True}
#: A model not yet tested on enough labels: the page shows no suggestion, whatever it predicts.
NOT_YET = {"right": 0, "of": 0, "trusted": False}


async def seed(http: httpx.AsyncClient, count: int, **spec: object) -> None:
    assert (await http.post("/api/projects", json=project_spec(**spec))).status_code == 201
    events = [{"id": f"evt-{n}", "data": ticket(LABELS[n % 3], n)} for n in range(count)]
    response = await http.post("/api/projects/tickets/events", json={"events": events})
    assert response.status_code == 200


async def teach(service: Any, project: str, taught: list[tuple[dict[str, Any], Any]]) -> None:
    """Teach ``project``'s model ``taught``, each an item's data and its answer (a label, a
    set of labels, or spans), as production labels on new items (``taught-0``, ...), before
    any annotator comes. Then its suggestions are shown: its track record beats a guess."""
    field = {"classify": "label", "multilabel": "labels", "spans": "spans"}
    task = service.core.project(project).record.task
    events = [{"id": f"taught-{n}", "data": data} for n, (data, _) in enumerate(taught)]
    await service.send_events(project, events)
    labels = [
        {"event_id": event["id"], field[task]: answer}
        for event, (_, answer) in zip(events, taught, strict=True)
    ]
    response = await service.http.post(f"/api/projects/{project}/labels", json={"labels": labels})
    assert response.status_code == 200, response.text
    record = service.core.project(project).track_record()
    assert record["trusted"], record


async def annotator_page(
    browser: Browser,
    base: str,
    name: str,
    socket_route: Callable[[WebSocketRoute], Any] | None = None,
    project: str = "tickets",
    **context: Any,
) -> Page:
    """An annotator's page on ``project``; ``socket_route`` stands between it and the server;
    ``context`` goes to the browser context (a viewport, touch)."""
    page = await (await browser.new_context(**context)).new_page()  # a separate annotator
    if socket_route is not None:
        await page.route_web_socket(re.compile(r"/annotate\?"), socket_route)
    await page.goto(f"{base}/static/annotate.html?project={project}&annotator={name}")
    return page


async def next_item(page: Page, seen: list[str], *, ready: bool = True) -> str:
    """Wait for an item this page has not shown before; its event id. With ``ready``, until
    the item takes an answer too: in its first moments it takes none (static/lib.js,
    FirstLook), and says when it does, ``data-ready="true"``."""
    handle = await page.wait_for_function(
        """([seen, ready]) => {
            const item = document.getElementById("item");
            if (ready && item.dataset.ready !== "true") return false;
            return !item.hidden && !seen.includes(item.dataset.itemId) && item.dataset.itemId;
        }""",
        arg=[seen, ready],
        timeout=PATIENCE_MS,
    )
    item_id = await handle.json_value()
    assert isinstance(item_id, str)
    return item_id


async def answerable(page: Page, item_id: str) -> None:
    """Wait until ``item_id`` is on screen and takes an answer (past its first moments)."""
    ready = f'#item[data-item-id="{item_id}"][data-ready="true"]'
    await expect(page.locator(ready)).to_be_visible(timeout=PATIENCE_MS)


@contextlib.asynccontextmanager
async def another_origin(html: str) -> AsyncIterator[str]:
    """``html`` served at every path of another loopback port: a page of another origin."""

    async def app(scope: dict[str, Any], _receive: Any, send: Any) -> None:
        assert scope["type"] == "http"
        headers = [(b"content-type", b"text/html; charset=utf-8")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": html.encode()})

    # Listening before uvicorn starts: a request made at once waits in the backlog.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    config = uvicorn.Config(app, lifespan="off", log_level="warning")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[listener]))
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
        listener.close()


#: Reports each CSP violation in the page to the test (an init script is not subject to CSP).
REPORT_VIOLATIONS = """document.addEventListener("securitypolicyviolation", (event) => {
    window.reportViolation(
        `${location.pathname}: ${event.violatedDirective} ${event.blockedURI} ${event.sample}`);
});"""


async def watch_csp(context: BrowserContext) -> list[str]:
    """Every CSP violation in the context's pages, reported or logged, as it happens."""
    violations: list[str] = []

    def report(violation: str) -> None:
        violations.append(violation)

    await context.expose_function("reportViolation", report)
    await context.add_init_script(REPORT_VIOLATIONS)

    def logged(page: Page) -> None:
        page.on(
            "console",
            lambda message: (
                violations.append(message.text)
                if "Content Security Policy" in message.text
                else None
            ),
        )

    context.on("page", logged)
    return violations
