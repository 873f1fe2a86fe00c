"""The supervisor's pages (issue 20, 6 and 10), from the narrowest phone to a desktop: the home
page and the dashboard are never wider than the screen, whatever a project's or an annotator's
name, and every link to a project's pages is on screen; the dashboard says why its model
version is above its labels tested, says so when its chart is still empty, and the rolling
accuracy stays visible where it lies on the accuracy line.
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


# -- 10. what the dashboard's figures and chart say ---------------------------------------------

BOTH = {"desktop": DESKTOP, "phone": PHONE}


@pytest.mark.parametrize("size", BOTH)
async def test_the_dashboard_says_why_the_model_version_is_above_the_labels_tested(
    browser: Browser, sqlite_settings: Settings, size: str
):
    async with running(sqlite_settings) as service:
        await service.create_project(name="tickets", exploration=0.0)
        events = [{"id": f"e{n}", "data": ticket("bug", n)} for n in range(4)]
        await service.send_events("tickets", events)
        page = await (await browser.new_context(**BOTH[size])).new_page()
        await page.goto(f"{service.base}/static/dashboard.html?project=tickets")
        why = page.get_by_test_id("model_version_why")
        await expect(why).to_have_text("untrained: no label learned yet", timeout=PATIENCE_MS)
        socket: Socket
        async with service.annotator("tickets", "ana") as socket:
            for n in range(3):
                item = (await socket.next_item())["item"]["id"]
                assert (await socket.label(item, "billing", f"l{n}"))["type"] == "ack"
            await expect(page.get_by_test_id("model_version")).to_have_text(
                "3", timeout=PATIENCE_MS
            )
            await expect(why).to_have_text("one for each label learned")
            correction = {"type": "correct", "corrects": "l0", "label": "bug", "label_id": "c0"}
            await socket.send(correction)
            assert (await socket.expect("ack", keep_items=True))["corrects"] == "l0"
        await expect(page.get_by_test_id("model_version")).to_have_text("4", timeout=PATIENCE_MS)
        await expect(page.get_by_test_id("labels_total")).to_have_text("3")
        await expect(why).to_have_text("3 labels tested + 1 correction")
        await expect(why).to_be_visible()
        await expect(page.locator(".figure:has(#labels_total) > span")).to_have_text(
            "Labels tested"
        )


#: Per task: its project, an answer, what its empty chart says, and its x axis after one label.
EMPTY_CHART = {
    "classify": ({"labels": ["billing", "bug"]}, "bug", "No labels yet", "1 label"),
    "multilabel": (
        {"labels": ["billing", "bug"], "task": "multilabel"},
        ["bug"],
        "No label sets yet",
        "1 label set",
    ),
    "spans": (
        {"labels": ["PER"], "task": "spans"},
        [{"start": 0, "end": 3, "label": "PER"}],
        "No items labelled yet",
        "1 item",
    ),
}


@pytest.mark.parametrize("size", BOTH)
@pytest.mark.parametrize("task", EMPTY_CHART)
async def test_an_empty_chart_says_there_is_nothing_yet_and_one_label_is_singular(
    browser: Browser, sqlite_settings: Settings, task: str, size: str
):
    spec, answer, empty, one = EMPTY_CHART[task]
    async with running(sqlite_settings) as service:
        await service.create_project(name="day", exploration=0.0, **spec)
        await service.send_events("day", [{"id": "e0", "data": {"text": "Ada wrote to Acme"}}])
        page = await (await browser.new_context(**BOTH[size])).new_page()
        await page.goto(f"{service.base}/static/dashboard.html?project=day")
        await expect(page.locator("#status")).to_have_attribute(
            "data-state", "connected", timeout=PATIENCE_MS
        )
        await expect(page.get_by_test_id("labels_total")).to_have_text("0")
        await expect(page.locator("#chart .empty")).to_have_text(empty)
        await expect(page.locator("#chart .x-axis")).to_have_count(0)
        await label_all(service, "day", "ana", [answer])
        await expect(page.locator("#chart .x-axis")).to_have_text(one, timeout=PATIENCE_MS)
        await expect(page.locator("#chart .empty")).to_have_count(0)


#: How each series' line is drawn: its dashes, width and colour, and its place among the
#: chart's lines (a later one is drawn on top); and how each legend key's line is drawn.
STROKES = """() => {
    const paths = [...document.querySelectorAll("#chart path[data-series]")];
    const lines = Object.fromEntries(paths.map((path, order) => [path.dataset.series, {
        dash: path.getAttribute("stroke-dasharray"),
        width: path.getAttribute("stroke-width"),
        color: path.getAttribute("stroke"),
        order,
        d: path.getAttribute("d"),
    }]));
    const keys = [...document.querySelectorAll("#chart .legend .key")].map((key) => {
        const style = getComputedStyle(key, "::before");
        return [key.textContent, style.borderTopStyle, style.borderTopWidth, style.borderTopColor];
    });
    return { lines, keys };
}"""


@pytest.mark.parametrize("size", BOTH)
async def test_the_rolling_line_shows_on_top_of_the_accuracy_line_where_they_coincide(
    browser: Browser, sqlite_settings: Settings, size: str
):
    async with running(sqlite_settings) as service:
        await service.create_project(name="tickets", exploration=0.0)
        events = [{"id": f"e{n}", "data": ticket("bug", n)} for n in range(5)]
        await service.send_events("tickets", events)
        await label_all(service, "tickets", "ana", ["bug", "billing"])
        page = await (await browser.new_context(**BOTH[size])).new_page()
        await page.goto(f"{service.base}/static/dashboard.html?project=tickets")
        rolling = page.locator('#chart path[data-series="rolling accuracy"]')
        await expect(rolling).to_have_attribute("data-points", "5", timeout=PATIENCE_MS)
        drawn = await page.evaluate(STROKES)
        accuracy, rolling_line = drawn["lines"]["accuracy"], drawn["lines"]["rolling accuracy"]
        # Fewer labels than the window: the two figures are the same, and so are their lines.
        assert rolling_line["d"] == accuracy["d"]
        assert rolling_line["order"] > accuracy["order"], "the rolling line is drawn first, under"
        assert rolling_line["dash"] not in (None, "none", accuracy["dash"]), drawn["lines"]
        assert rolling_line["color"] != accuracy["color"]
        keys = {text: rest for text, *rest in drawn["keys"]}
        assert keys["annotators' items, rolling"] != keys["annotators' items (hardest)"], keys
        assert keys["annotators' items, rolling"][0] == "dotted", keys
        # A figure in a line of words never breaks between its number and its unit either.
        lines = await page.locator(".figure small").all_text_contents()
        assert [line for line in lines if " %" in line] == [], lines
