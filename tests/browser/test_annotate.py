"""The annotator app labels only on purpose, and resends what the server says to resend.

Labels are counted where they count, on the server; a refusal or a closed socket is played by
Playwright standing between the page and the real server (``page.route_web_socket``).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from playwright.async_api import Browser, WebSocketRoute, expect

from browser.pages import PATIENCE_MS, annotator_page, answerable, next_item, seed
from streamloop.config import Settings
from support import running

pytestmark = pytest.mark.browser


def refusing_first_label(refusal: dict[str, Any], sent: list[dict[str, Any]]) -> Any:
    """A socket route that answers the page's first label with ``refusal`` in the server's
    stead, and passes everything else through; ``sent`` collects the labels the page sent."""

    def route(page_side: WebSocketRoute) -> None:
        server_side = page_side.connect_to_server()

        def from_page(raw: str | bytes) -> None:
            message = json.loads(raw)
            if message["type"] == "label":
                sent.append(message)
                if len(sent) == 1:
                    page_side.send(json.dumps({**refusal, "label_id": message["label_id"]}))
                    if not refusal["retryable"]:
                        # Refused for good, the item goes back, as the server does.
                        skip = {"type": "skip", "item_id": message["item_id"]}
                        server_side.send(json.dumps(skip))
                    return
            server_side.send(raw)

        page_side.on_message(from_page)

    return route


async def test_space_and_enter_never_label_a_fresh_item(
    browser: Browser, sqlite_settings: Settings
):
    async with running(sqlite_settings) as service:
        await seed(service.http, 8, exploration=0.0)
        page = await annotator_page(browser, service.base, "ana")
        content = page.get_by_test_id("content")
        buttons = page.locator("#labels button")
        first = await next_item(page, [])
        await expect(content).to_be_focused()
        await page.keyboard.press("Space")
        await page.keyboard.press("Enter")
        await page.keyboard.press("Tab")  # onto a label button: it still takes no Space or Enter
        await expect(buttons.first).to_be_focused()
        await page.keyboard.press("Space")
        await page.keyboard.press("Enter")
        await expect(page.locator("#notice")).to_contain_text("Press 1 to label")

        # A click labels; the button clicked is not left focused for the next item's keys.
        await buttons.first.click()
        await next_item(page, [first])
        await expect(content).to_be_focused()
        await page.keyboard.press("Space")
        await page.keyboard.press("Enter")
        await page.keyboard.press("2")

        # Acked in order on one socket: a label from Space or Enter would be counted by now.
        await expect(page.get_by_test_id("done")).to_have_text("2", timeout=PATIENCE_MS)
        await expect(page.get_by_test_id("pending")).to_have_text("0")
        metrics = await service.metrics("tickets")
        assert metrics["labels_total"] == 2
        assert metrics["annotators"]["ana"]["labels"] == 2
        supports = {label: c["support"] for label, c in metrics["per_class"].items()}
        assert supports == {"billing": 1, "bug": 1, "other": 0}


async def test_a_retryable_refusal_is_sent_again_until_acked(
    browser: Browser, sqlite_settings: Settings
):
    refusal = {
        "type": "error",
        "code": "learner_failed",  # a code the page has never heard of: the flag decides
        "message": "The learner failed; try again.",
        "retryable": True,
    }
    sent: list[dict[str, Any]] = []
    async with running(sqlite_settings) as service:
        await seed(service.http, 3, exploration=0.0)
        page = await annotator_page(
            browser, service.base, "ana", refusing_first_label(refusal, sent)
        )
        await next_item(page, [])
        await page.keyboard.press("1")
        await expect(page.get_by_test_id("done")).to_have_text("1", timeout=PATIENCE_MS)
        await expect(page.get_by_test_id("pending")).to_have_text("0")
        await expect(page.locator("#notice")).to_be_hidden()
        # Sent again as it was, label_id and all, and learned once.
        assert len(sent) == 2 and sent[0] == sent[1], sent
        metrics = await service.metrics("tickets")
        assert metrics["labels_total"] == 1
        assert metrics["annotators"]["ana"]["labels"] == 1


async def test_a_refusal_that_is_not_retryable_is_dropped_and_shown(
    browser: Browser, sqlite_settings: Settings
):
    refusal = {
        "type": "error",
        "code": "store_unavailable",  # the page's old list resent this one: the flag decides
        "message": "This label cannot be stored.",
        "retryable": False,
    }
    sent: list[dict[str, Any]] = []
    async with running(sqlite_settings) as service:
        await seed(service.http, 3, exploration=0.0)
        page = await annotator_page(
            browser, service.base, "ana", refusing_first_label(refusal, sent)
        )
        first = await next_item(page, [])
        await page.keyboard.press("1")
        await expect(page.locator("#notice")).to_contain_text("This label cannot be stored.")
        await expect(page.locator("#notice")).to_contain_text("billing")
        # Out of the outbox with no ack: a label resent and acked would count as done with it.
        await expect(page.get_by_test_id("pending")).to_have_text("0")
        assert await page.get_by_test_id("done").text_content() == "0"
        assert await page.evaluate("localStorage.getItem('streamloop:outbox:tickets:ana')") == "[]"

        # The work goes on.
        await next_item(page, [first])
        await page.keyboard.press("2")
        await expect(page.get_by_test_id("done")).to_have_text("1", timeout=PATIENCE_MS)
        await expect(page.get_by_test_id("pending")).to_have_text("0")
        assert [m["label"] for m in sent] == ["billing", "bug"], sent
        assert sent[0]["label_id"] != sent[1]["label_id"]
        metrics = await service.metrics("tickets")
        assert metrics["labels_total"] == 1


async def test_a_socket_closed_with_try_again_later_reconnects_and_a_policy_close_is_final(
    browser: Browser, sqlite_settings: Settings
):
    connections: list[WebSocketRoute] = []
    items: list[list[str]] = []  # per connection, the items the server sent on it
    reconnected = asyncio.Event()  # and an item came on the new connection

    def route(page_side: WebSocketRoute) -> None:
        server_side = page_side.connect_to_server()
        n = len(connections)
        connections.append(page_side)
        items.append([])

        def from_server(raw: str | bytes) -> None:
            message = json.loads(raw)
            if message["type"] == "item":
                items[n].append(message["item"]["id"])
                if n == 1:
                    reconnected.set()
            page_side.send(raw)

        server_side.on_message(from_server)

    async with running(sqlite_settings) as service:
        await seed(service.http, 5, exploration=0.0)
        page = await annotator_page(browser, service.base, "ana", route)
        status = page.locator("#status")
        await next_item(page, [])
        await expect(status).to_have_attribute("data-state", "connected")
        # What the server does to a reader too slow for its messages.
        await connections[0].close(code=1013, reason="not reading messages")
        await asyncio.wait_for(reconnected.wait(), PATIENCE_MS / 1000)
        await expect(status).to_have_attribute("data-state", "connected", timeout=PATIENCE_MS)

        # The labelling goes on, on the new connection.
        item = items[1][0]
        await answerable(page, item)
        await page.keyboard.press("1")
        await next_item(page, [item])
        await page.keyboard.press("2")
        await expect(page.get_by_test_id("done")).to_have_text("2", timeout=PATIENCE_MS)
        await expect(page.get_by_test_id("pending")).to_have_text("0")
        assert (await service.metrics("tickets"))["labels_total"] == 2

        # A refusal of the connection itself is final, and says why.
        await connections[1].close(code=1008, reason="token revoked")
        await expect(status).to_have_attribute("data-state", "offline", timeout=PATIENCE_MS)
        await expect(status).to_contain_text("refused: token revoked")
