"""The supervisor's pages (issue 20, 6), from the narrowest phone to a desktop: the home page
and the dashboard are never wider than the screen, whatever a project's or an annotator's name,
and every link to a project's pages is on screen.
"""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import Browser, Page, expect

from browser.pages import PATIENCE_MS
from streamloop.config import Settings
from support import Service, Socket, running, ticket

pytestmark = pytest.mark.browser

DESKTOP = {"viewport": {"width": 1280, "height": 800}}
#: Between a phone and a desktop: a table too wide for the card, not yet restacked.
TABLET = {"viewport": {"width": 700, "height": 1000}}
PHONE = {"viewport": {"width": 390, "height": 844}, "has_touch": True, "is_mobile": True}
NARROW = {"viewport": {"width": 320, "height": 640}, "has_touch": True, "is_mobile": True}
SIZES = {"desktop": DESKTOP, "tablet": TABLET, "phone": PHONE, "narrow": NARROW}

#: The longest names the server takes, with no hyphen or space to break a line at.
LONG_PROJECT = "support_tickets_of_the_emea_region_and_of_every_partner_shop_too"
LONG_ANNOTATOR = "firstname.middlename.lastname@support.emea.example-company.com"
LONG_LABELS = ["billing_and_invoices", "bug_in_the_mobile_app", "account_and_login", "other"]


#: The elements of ``selector`` not wholly in view across: past the screen's left or right
#: edge, or cut off by a box that hides or scrolls what overflows it (a link scrolled out of
#: its table's box is not one a supervisor finds).
CUT_OFF = """([selector, screen]) => [...document.querySelectorAll(selector)].flatMap((node) => {
    const rect = node.getBoundingClientRect();
    const out = (left, right) => rect.left < left - 1 || rect.right > right + 1;
    if (out(0, screen)) return [`${node.textContent}: ${rect.left}-${rect.right} of ${screen}`];
    for (let box = node.parentElement; box && box !== document.body; box = box.parentElement) {
        if (getComputedStyle(box).overflowX === "visible") continue;
        const edge = box.getBoundingClientRect();
        if (out(edge.left, edge.right)) return [`${node.textContent}: cut off by its box`];
    }
    return [];
})"""


async def assert_within_screen(page: Page, selector: str) -> None:
    """The page is no wider than the screen, and each of ``selector`` is wholly in view across.

    Measured against the screen's width as set: on a phone (``is_mobile``) the browser widens
    its layout viewport to a page too wide for it, and ``innerWidth`` with it."""
    screen = page.viewport_size["width"] if page.viewport_size else 0
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= screen, f"the page is {width} px wide on a screen of {screen}"
    assert await page.evaluate(CUT_OFF, [selector, screen]) == []


async def label_all(service: Service, project: str, name: str, answers: list[Any]) -> None:
    """``name`` labels each item of ``project`` offered, with ``answers`` in turn, until idle."""
    socket: Socket
    async with service.annotator(project, name) as socket:
        n = 0
        while (message := await socket.expect("item", "idle"))["type"] == "item":
            item = message["item"]["id"]
            ack = await socket.label(item, answers[n % len(answers)], f"{name}-{item}")
            assert ack["type"] == "ack", ack
            n += 1


# -- 6. the home page's table and the dashboard hold from 320 px up -----------------------------


@pytest.mark.parametrize("size", SIZES)
async def test_the_home_page_fits_the_screen_with_every_projects_links_on_it(
    browser: Browser, sqlite_settings: Settings, size: str
):
    async with running(sqlite_settings) as service:
        await service.create_project(name="support-tickets", labels=LONG_LABELS)
        await service.create_project(name=LONG_PROJECT, labels=LONG_LABELS, task="multilabel")
        await service.create_project(name="names", labels=["PER", "ORG"], task="spans")
        events = [{"id": f"e{n}", "data": ticket("bug", n)} for n in range(3)]
        await service.send_events("support-tickets", events)
        await label_all(service, "support-tickets", "ana", LONG_LABELS)
        page = await (await browser.new_context(**SIZES[size])).new_page()
        await page.goto(service.base)
        await expect(page.locator("tr[data-project]")).to_have_count(3, timeout=PATIENCE_MS)
        await expect(page.locator('tr[data-project="support-tickets"] td').nth(2)).to_have_text("3")
        await assert_within_screen(page, "td.actions a, td.project b")
        links = page.locator(f'tr[data-project="{LONG_PROJECT}"] td.actions a')
        await expect(links).to_have_text(["annotate", "review", "dashboard"])


@pytest.mark.parametrize("size", SIZES)
async def test_the_dashboard_fits_the_screen_and_its_wide_tables_scroll_in_their_boxes(
    browser: Browser, sqlite_settings: Settings, size: str
):
    async with running(sqlite_settings) as service:
        # Every item to two annotators: the kappa matrix and the alpha have pairs to show.
        twice = {"share": 1.0, "annotators": 2}
        await service.create_project(
            name=LONG_PROJECT, labels=LONG_LABELS, overlap=twice, exploration=0.0
        )
        events = [{"id": f"e{n}", "data": ticket("bug", n)} for n in range(4)]
        await service.send_events(LONG_PROJECT, events)
        await label_all(service, LONG_PROJECT, LONG_ANNOTATOR, LONG_LABELS)
        await label_all(service, LONG_PROJECT, "bob", LONG_LABELS[::-1])
        page = await (await browser.new_context(**SIZES[size])).new_page()
        await page.goto(f"{service.base}/static/dashboard.html?project={LONG_PROJECT}")
        await expect(page.locator("#annotators tbody tr")).to_have_count(2, timeout=PATIENCE_MS)
        await expect(page.locator("#kappa")).to_be_visible()
        await expect(page.locator("#confusion tbody tr")).to_have_count(len(LONG_LABELS))
        await assert_within_screen(page, "nav a, #crumb a, h1, #status, .figure b, #review-link")
        # Without a project, the dashboard lists the projects to choose from.
        await page.goto(f"{service.base}/static/dashboard.html")
        await expect(page.locator(".choices a")).to_have_text([LONG_PROJECT])
        await assert_within_screen(page, ".choices a")
