"""The review page and the dashboard's agreement figures, in a real browser.

Annotators label through their sockets (tests/support.py); the reviewer and the supervisor use
the pages. What counts is checked where it counts, on the server.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from playwright.async_api import Browser, Page, WebSocketRoute, expect

from browser.pages import PATIENCE_MS, answerable, watch_csp
from streamloop.config import Settings
from support import Socket, running, ticket

pytestmark = pytest.mark.browser

TWICE = {"share": 1.0, "annotators": 2}


async def label_all(service: Any, name: str, answers: dict[str, str]) -> None:
    """``name`` labels every item offered, from ``answers`` (by item id), until idle."""
    socket: Socket
    async with service.annotator("tickets", name) as socket:
        while (message := await socket.expect("item", "idle"))["type"] == "item":
            item_id = message["item"]["id"]
            ack = await socket.label(item_id, answers[item_id], f"{name}-{item_id}")
            assert ack["type"] == "ack", ack


async def review_page(browser: Browser, base: str, name: str, **context: Any) -> Page:
    page = await (await browser.new_context(**context)).new_page()
    await page.goto(f"{base}/static/review.html?project=tickets&reviewer={name}")
    return page


async def test_a_reviewer_settles_a_disagreement_and_the_model_learns_it(
    browser: Browser, sqlite_settings: Settings
):
    async with running(sqlite_settings) as service:
        await service.create_project(overlap=TWICE)
        await service.send_events("tickets", [{"id": "e0", "data": ticket("bug", 0)}])
        await label_all(service, "alice", {"e0": "bug"})
        await label_all(service, "bob", {"e0": "billing"})
        before = await service.metrics("tickets")
        assert before["review"] == {"waiting": 1, "leased": 0}

        context = await browser.new_context()
        violations = await watch_csp(context)
        page = await context.new_page()
        await page.goto(f"{service.base}/static/review.html?project=tickets&reviewer=rita")
        item = page.locator("#item")
        await answerable(page, "e0")
        await expect(page.get_by_test_id("reason")).to_have_text("Annotators disagreed")
        await expect(page.get_by_test_id("text")).to_have_text(ticket("bug", 0)["text"])
        # Who said what, and which label the model learned (the first one, alice's).
        said = page.get_by_test_id("said").locator("li")
        await expect(said).to_have_count(2)
        await expect(said.filter(has_text="alice")).to_contain_text("said bug")
        await expect(said.filter(has_text="alice")).to_contain_text("learned")
        await expect(said.filter(has_text="bob")).to_contain_text("said billing")
        await expect(said.filter(has_text="bob")).not_to_contain_text("learned")
        # Every label of the project can be chosen, in the project's order.
        buttons = page.locator("#labels button")
        await expect(buttons).to_have_text(["1 billing", "2 bug", "3 other"])
        await expect(page.get_by_test_id("content")).to_be_focused()

        await buttons.filter(has_text="billing").click()
        await expect(page.locator("#idle")).to_be_visible(timeout=PATIENCE_MS)
        await expect(item).to_be_hidden()
        await expect(page.get_by_test_id("done")).to_have_text("1")
        after = await service.metrics("tickets")
        # Learned as a correction of alice's label: one version more, the same label count.
        assert after["model_version"] == before["model_version"] + 1
        assert after["labels_total"] == before["labels_total"]
        assert after["review"] == {"waiting": 0, "leased": 0}
        # A round trip: a violation raised before it has been reported by now.
        await page.evaluate("() => new Promise(requestAnimationFrame)")
        assert violations == []


async def test_the_dashboard_shows_kappa_alpha_and_the_review_desk(
    browser: Browser, sqlite_settings: Settings
):
    async with running(sqlite_settings) as service:
        await service.create_project(overlap=TWICE)
        events = [{"id": f"e{n}", "data": ticket("bug", n)} for n in range(3)]
        await service.send_events("tickets", events)
        context = await browser.new_context()
        violations = await watch_csp(context)
        dashboard = await context.new_page()
        await dashboard.goto(f"{service.base}/static/dashboard.html?project=tickets")
        await expect(dashboard.get_by_test_id("overlap_waiting")).to_have_text(
            "0", timeout=PATIENCE_MS
        )
        await expect(dashboard.locator("[data-kappa]")).to_be_hidden()
        await expect(dashboard.locator("#kappa-none")).to_be_visible()
        await expect(dashboard.locator("#overlap_setting")).to_have_text(
            "100.0 % of items go to 2 annotators"
        )

        # The hand-computed case of tests/ws/test_review.py: kappa 0.4, alpha 4/9 on 3 items.
        await label_all(service, "alice", {"e0": "bug", "e1": "bug", "e2": "billing"})
        await expect(dashboard.get_by_test_id("overlap_waiting")).to_have_text(
            "3", timeout=PATIENCE_MS
        )
        await label_all(service, "bob", {"e0": "bug", "e1": "billing", "e2": "billing"})

        kappa = dashboard.locator("table[data-kappa]")
        await expect(kappa.locator('td[data-pair="alice:bob"]')).to_have_text(
            "0.40", timeout=PATIENCE_MS
        )
        await expect(kappa.locator('td[data-pair="bob:alice"]')).to_have_text("0.40")
        cell = kappa.locator('td[data-pair="alice:bob"]')
        assert await cell.evaluate("(td) => td.style.getPropertyValue('--shade')") == "0.400"
        # The corner's name is for a screen reader only.
        await expect(kappa.locator("thead th")).to_have_text(["Annotator", "alice", "bob"])
        await expect(dashboard.get_by_test_id("alpha")).to_have_text("0.44")
        await expect(dashboard.locator("#alpha_items")).to_have_text("on 3 items")
        await expect(dashboard.get_by_test_id("review_waiting")).to_have_text("1")
        await expect(dashboard.get_by_test_id("overlap_waiting")).to_have_text("0")
        # Per annotator: pace, skips, and the gold column kept (no gold: a dash).
        await expect(dashboard.locator('td[data-seconds="alice"]')).to_have_text(
            re.compile(r"^\d+\.\d s$")
        )
        await expect(dashboard.locator('td[data-skips="bob"]')).to_have_text("0")
        # bob's labels came second on each item: recorded, not learned.
        await expect(dashboard.locator('td[data-labels="bob"]')).to_have_text("0 + 3 recorded")
        await expect(dashboard.locator('td[data-labels="alice"]')).to_have_text("3")
        await expect(dashboard.locator('td[data-gold="bob"]')).to_have_text("\u2013")
        # The desk is one click away.
        await expect(dashboard.locator("#review-link")).to_have_attribute(
            "href", "/static/review.html?project=tickets"
        )
        await dashboard.evaluate("() => new Promise(requestAnimationFrame)")
        assert violations == []


async def test_on_a_phone_a_flagged_item_fits_and_a_skip_leaves_it_to_others(
    browser: Browser, sqlite_settings: Settings
):
    async with running(sqlite_settings) as service:
        await service.create_project()
        await service.send_events("tickets", [{"id": "e0", "data": ticket("billing", 0)}])
        label = {"labels": [{"event_id": "e0", "label": "billing"}]}
        assert (await service.http.post("/api/projects/tickets/labels", json=label)).is_success
        flagged = await service.http.post("/api/projects/tickets/items/e0/review", json={})
        assert flagged.status_code == 202, flagged.text

        phone = {"viewport": {"width": 390, "height": 844}}
        page = await review_page(browser, service.base, "rita-with-a-long-name", **phone)
        await expect(page.locator("#item")).to_have_attribute(
            "data-item-id", "e0", timeout=PATIENCE_MS
        )
        await expect(page.get_by_test_id("reason")).to_have_text("Flagged by a supervisor")
        await expect(page.get_by_test_id("said").locator("li")).to_contain_text(
            ["production said billing learned"]
        )
        width = await page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"the review page is {width} px wide on a 390 px screen"

        await page.keyboard.press("s")
        await expect(page.locator("#idle")).to_be_visible(timeout=PATIENCE_MS)
        metrics = await service.metrics("tickets")
        assert metrics["review"] == {"waiting": 1, "leased": 0}
        # Someone else is offered it.
        other = await review_page(browser, service.base, "rob")
        await expect(other.locator("#item")).to_have_attribute(
            "data-item-id", "e0", timeout=PATIENCE_MS
        )


async def test_after_a_lease_runs_out_continue_brings_the_item_back(
    browser: Browser, sqlite_settings: Settings
):
    # The lease's end is played by Playwright standing between the page and the real server,
    # so no test waits on a clock; what follows it (a fresh session) is the server's.
    connections: list[WebSocketRoute] = []

    def route(page_side: WebSocketRoute) -> None:
        page_side.connect_to_server()
        connections.append(page_side)

    async with running(sqlite_settings) as service:
        await service.create_project()
        await service.send_events("tickets", [{"id": "e0", "data": ticket("bug", 0)}])
        label = {"labels": [{"event_id": "e0", "label": "bug"}]}
        assert (await service.http.post("/api/projects/tickets/labels", json=label)).is_success
        assert (
            await service.http.post("/api/projects/tickets/items/e0/review", json={})
        ).is_success

        page = await (await browser.new_context()).new_page()
        await page.route_web_socket(re.compile(r"/review\?"), route)
        await page.goto(f"{service.base}/static/review.html?project=tickets&reviewer=rita")
        item = page.locator("#item")
        await expect(item).to_have_attribute("data-item-id", "e0", timeout=PATIENCE_MS)
        connections[0].send(json.dumps({"type": "lease_expired", "item_id": "e0"}))
        await expect(page.locator("#expired")).to_be_visible(timeout=PATIENCE_MS)
        await expect(item).to_be_hidden()
        await page.keyboard.press("3")  # no item on screen: nothing to settle
        await page.keyboard.press("Enter")  # a fresh session: the desk offers the item again
        await answerable(page, "e0")
        await expect(page.locator("#expired")).to_be_hidden()
        assert len(connections) == 2
        await page.keyboard.press("3")  # settled on "other", by key
        await expect(page.get_by_test_id("done")).to_have_text("1", timeout=PATIENCE_MS)
        metrics = await service.metrics("tickets")
        assert metrics["review"]["waiting"] == 0 and metrics["model_version"] == 2
