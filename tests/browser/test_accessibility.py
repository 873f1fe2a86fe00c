"""Every page of the web app, in every state the browser tests reach, passes axe-core with no
serious or critical violation, at a desktop's size and a phone's (issue 20, 13); and no live
region holds a control: a new item is said by a short status line, not by the whole card.

One service a size, seeded with a project of each task kind: a classify project two annotators
labelled (one item they disagreed on waits for review, the dashboard has every table filled),
a multilabel and a span project each with an item flagged for review and items to label, and
a project with nothing in it (the empty-queue cards). Every page in every state is checked
before the test fails, so that its failure lists all there is to fix.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from playwright.async_api import Browser, Page, WebSocketRoute, expect

from browser.axe import violations
from browser.pages import PATIENCE_MS, next_item
from streamloop.config import Settings
from support import Service, Socket, running, ticket

pytestmark = pytest.mark.browser

PHONE = {"viewport": {"width": 390, "height": 844}, "has_touch": True, "is_mobile": True}
DESKTOP = {"viewport": {"width": 1280, "height": 800}}
SIZES = {"desktop": DESKTOP, "phone": PHONE}

#: The project of each task kind, and the answer given to the item flagged for its review desk.
KINDS: dict[str, tuple[str, dict[str, Any]]] = {
    "classify": ("tickets", {"label": "bug"}),
    "multilabel": ("topics", {"labels": ["billing", "bug"]}),
    "spans": ("names", {"spans": [{"start": 0, "end": 3, "label": "PER"}]}),
}
TEXTS = ["Ada wrote to Acme about a refund", "Bob says the app crashes", "hello from Zürich"]


async def label_all(service: Service, name: str, answers: dict[str, str]) -> None:
    """``name`` labels every item of tickets offered, from ``answers`` (by item id), until
    idle."""
    socket: Socket
    async with service.annotator("tickets", name) as socket:
        while (message := await socket.expect("item", "idle"))["type"] == "item":
            item_id = message["item"]["id"]
            ack = await socket.label(item_id, answers[item_id], f"{name}-{item_id}")
            assert ack["type"] == "ack", ack


async def seeded(service: Service) -> dict[str, str]:
    """The projects above; each item's text, by id."""
    texts = {f"e{n}": ticket("bug", n)["text"] for n in range(3)}
    texts["e3"] = ticket("billing", 3)["text"]
    twice = {"share": 1.0, "annotators": 2}
    await service.create_project(name="tickets", overlap=twice, exploration=0.0)
    await service.send_events(
        "tickets", [{"id": f"e{n}", "data": ticket("bug", n)} for n in range(3)]
    )
    await label_all(service, "alice", {"e0": "bug", "e1": "bug", "e2": "other"})
    await label_all(service, "bob", {"e0": "billing", "e1": "bug", "e2": "other"})
    await service.send_events("tickets", [{"id": "e3", "data": {"text": texts["e3"]}}])
    await service.create_project(name="topics", task="multilabel")
    await service.create_project(name="names", labels=["PER", "ORG"], task="spans")
    for name, answer in (KINDS["multilabel"], KINDS["spans"]):
        texts.update({f"{name}-{n}": text for n, text in enumerate(TEXTS)})
        events = [{"id": f"{name}-{n}", "data": {"text": text}} for n, text in enumerate(TEXTS)]
        await service.send_events(name, events)
        label = {"labels": [{"event_id": f"{name}-0", **answer}]}
        assert (await service.http.post(f"/api/projects/{name}/labels", json=label)).is_success
        flagged = await service.http.post(f"/api/projects/{name}/items/{name}-0/review", json={})
        assert flagged.status_code == 202, flagged.text
    await service.create_project(name="quiet")
    return texts


async def announced(page: Page, text: str) -> None:
    """The status line says the item is new, with its first words (the card itself is no live
    region: `violations` checks that every live region holds no control)."""
    first = " ".join(text.split()[:3])
    line = page.get_by_test_id("item-announce")
    await expect(line).to_have_text(re.compile(rf"^New item: {re.escape(first)}"))


@pytest.mark.parametrize("size", SIZES)
async def test_every_page_in_every_state_is_accessible(
    browser: Browser, sqlite_settings: Settings, size: str
):
    found: list[str] = []

    async def audit(page: Page, context: str) -> None:
        found.extend(await violations(page, f"{context} ({size})"))

    async with running(sqlite_settings) as service:
        texts = await seeded(service)
        # The lease's end is played by Playwright standing between the page and the server.
        sockets: list[WebSocketRoute] = []

        def route(page_side: WebSocketRoute) -> None:
            page_side.connect_to_server()
            sockets.append(page_side)

        page = await (await browser.new_context(**SIZES[size])).new_page()
        await page.route_web_socket(re.compile(r"/annotate\?"), route)

        await page.goto(f"{service.base}/")
        await expect(page.locator("#projects tbody tr")).to_have_count(4, timeout=PATIENCE_MS)
        await audit(page, "home")
        for role in ("annotate", "review"):
            await page.goto(f"{service.base}/static/{role}.html")
            await expect(page.locator("#join-project option")).to_have_count(4)
            await audit(page, f"{role}, the join form")

        for kind, (project, _answer) in KINDS.items():
            await page.goto(f"{service.base}/static/annotate.html?project={project}&annotator=ana")
            item = await next_item(page, [])
            await announced(page, texts[item])
            await audit(page, f"annotate, a {kind} item")
        # The card is the same whatever the task.
        sockets[-1].send(json.dumps({"type": "lease_expired", "item_id": item}))
        await expect(page.locator("#expired")).to_be_visible(timeout=PATIENCE_MS)
        await audit(page, "annotate, a lease ran out")
        await page.goto(f"{service.base}/static/annotate.html?project=quiet&annotator=ana")
        await expect(page.locator("#idle")).to_be_visible(timeout=PATIENCE_MS)
        await audit(page, "annotate, the empty queue")

        for kind, (project, _answer) in KINDS.items():
            await page.goto(f"{service.base}/static/review.html?project={project}&reviewer=rita")
            item = await next_item(page, [])
            await announced(page, texts[item])
            await audit(page, f"review, a {kind} item")
        await page.goto(f"{service.base}/static/review.html?project=quiet&reviewer=rita")
        await expect(page.locator("#idle")).to_be_visible(timeout=PATIENCE_MS)
        await audit(page, "review, nothing to review")

        await page.goto(f"{service.base}/static/dashboard.html")
        await expect(page.locator("main li a")).to_have_count(4, timeout=PATIENCE_MS)
        await audit(page, "dashboard, choosing a project")
        for kind, (project, _answer) in KINDS.items():
            await page.goto(f"{service.base}/static/dashboard.html?project={project}")
            await expect(page.get_by_test_id("labels_total")).to_have_text(
                re.compile(r"^[1-9]"), timeout=PATIENCE_MS
            )
            if kind == "classify":
                await expect(page.locator("#kappa")).to_be_visible()
                await expect(page.locator("#annotators tbody tr")).to_have_count(2)
            await audit(page, f"dashboard, a {kind} project")
    assert not found, "Not accessible:\n" + "\n".join(found)
