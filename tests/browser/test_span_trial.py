"""What a new user's trial of the span editor found, each held by the browser: a long text keeps
its labels and Submit in sight, long label names stay inside their buttons, a phone says what
a tap does and a tap extends a selection into a span, the review desk starts from someone's
work rather than from nothing, a score reads the right way round in a right-to-left text, the
screen reader's line starts afresh with each item, the cursor shows where a span was removed,
and the home page takes one label for a span project.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from playwright.async_api import Browser, Route, expect

from browser.pages import PATIENCE_MS, annotator_page, answerable, next_item
from browser.test_spans import (
    EMOJI,
    HEBREW,
    PHONE,
    at,
    expect_marks,
    mark,
    ner,
    plain,
    saved,
    send,
    stored,
    suggesting,
    token,
)
from streamloop.config import Settings
from support import running

pytestmark = pytest.mark.browser

DESKTOP = {"viewport": {"width": 1280, "height": 800}}
#: Names too long for a button of the old fixed width (about 143 px at 1280 px).
LONG_LABELS = ["PER", "ORGANIZATION_NAME", "ORDER_ID", "LOC"]


async def test_a_long_text_keeps_the_labels_and_submit_in_sight(
    browser: Browser, sqlite_settings: Settings
):
    async with running(sqlite_settings) as service:
        await service.create_project(name="ner", labels=LONG_LABELS, task="spans", exploration=0.0)
        text = " ".join(f"Ada{n:02d} saw the town." for n in range(100))
        assert len(text) >= 1999
        spans = [at(text, f"Ada{n:02d}", "PER", 0.8) for n in range(100)]
        await send(service, "long", text)
        page = await annotator_page(
            browser, service.base, "ana", suggesting({"long": spans}, {}), project="ner", **DESKTOP
        )
        await next_item(page, [])
        await expect(page.locator(".span-text mark.span")).to_have_count(len(spans))
        more = len(spans) - 5
        # Both summaries name the first five spans and how many more, on a line or two.
        first = ", ".join(f"PER “Ada{n:02d}”" for n in range(5))
        await expect(page.get_by_test_id("suggested")).to_have_text(f"{first}, and {more} more")
        listed = page.get_by_test_id("span-list")
        await expect(listed.locator("summary")).to_have_text(
            f"{len(spans)} spans: {first}, and {more} more (show all)"
        )
        for summary in (listed, page.locator("#suggestion")):
            height = await summary.evaluate("(node) => node.getBoundingClientRect().height")
            assert height < 80, f"a summary of the spans is {height} px tall"
        # The label buttons and Submit show without scrolling the page; each name fits its button.
        assert await page.evaluate("window.scrollY") == 0
        await expect(page.get_by_test_id("submit")).to_be_in_viewport(ratio=1)
        buttons = page.locator("#labels button")
        await expect(buttons).to_have_count(len(LONG_LABELS))
        for n in range(len(LONG_LABELS)):
            await expect(buttons.nth(n)).to_be_in_viewport(ratio=1)
            fits = await buttons.nth(n).evaluate("(b) => b.scrollWidth <= b.clientWidth")
            assert fits, f"{LONG_LABELS[n]} overflows its button"
        # The whole list is there on demand, and stays open as the spans change.
        assert "Ada99" not in (await listed.inner_text())
        await listed.locator("summary").click()
        await expect(listed.locator(".span-all")).to_contain_text("PER “Ada99”")
        await mark(page, text, "Ada99").locator(".span-remove").click()
        await expect(listed.locator(".span-all")).to_be_visible()
        await expect(listed.locator(".span-all")).not_to_contain_text("Ada99")
        # A desktop has keys: their line shows, the touch hint does not.
        await expect(page.locator("#keys-spans")).to_be_visible()
        await expect(page.get_by_test_id("touch-hint")).to_be_hidden()


async def test_a_phone_says_what_a_tap_does_and_a_second_tap_extends_into_a_span(
    browser: Browser, sqlite_settings: Settings
):
    async with running(sqlite_settings) as service:
        await ner(service)
        await send(service, "evt-0", EMOJI)
        suggestions = {"evt-0": [at(EMOJI, "IBM", "ORG", 0.8)]}
        page = await annotator_page(
            browser, service.base, "ana", suggesting(suggestions, {}), project="ner", **PHONE
        )
        await next_item(page, [])
        await expect(page.locator("#keys-spans")).to_be_hidden()
        await expect(page.get_by_test_id("touch-hint")).to_be_visible()
        await expect(page.get_by_test_id("touch-hint")).to_have_text(
            "Tap a word, tap another to extend, then a label. Tap a span to select it."
        )
        # A selection started on "Bob" extends into the suggested span over "IBM"; labelled, it
        # replaces that span.
        await token(page, EMOJI, "Bob").tap()
        await token(page, EMOJI, "IBM").tap()
        await expect(page.locator(".span-text .tok.selected")).to_have_text(
            ["Bob", "Smith", "at", "IBM"]
        )
        await page.locator('#labels button[data-label="ORG"]').tap()
        expected = [at(EMOJI, "Bob Smith at IBM", "ORG")]
        await expect_marks(page, EMOJI, expected)
        # With nothing selected, a tap on a span still selects the span.
        await page.get_by_test_id("clear-selection").tap()
        await token(page, EMOJI, "Smith").tap()
        await expect(mark(page, EMOJI, "Bob Smith at IBM")).to_have_class(re.compile("selected"))
        await page.get_by_test_id("submit").tap()
        await saved(page, 1)
        assert await stored(service) == [("evt-0", "ana", plain(expected), False)]


async def test_the_review_desk_starts_from_an_answer_when_no_span_has_a_majority(
    browser: Browser, sqlite_settings: Settings
):
    async with running(sqlite_settings) as service:
        await ner(service, overlap={"share": 1.0, "annotators": 2})
        await send(service, "evt-0", EMOJI)
        answers = {"alice": [at(EMOJI, "Ada", "PER"), at(EMOJI, "IBM", "ORG")], "bob": []}
        for name, spans in answers.items():
            async with service.annotator("ner", name) as socket:
                item = (await socket.next_item())["item"]
                await socket.send(
                    {"type": "label", "item_id": item["id"], "spans": spans, "label_id": name}
                )
                assert (await socket.expect("ack", "error"))["type"] == "ack"
        page = await (await browser.new_context(**DESKTOP)).new_page()
        await page.goto(f"{service.base}/static/review.html?project=ner&reviewer=rita")
        await answerable(page, "evt-0")
        # No span is in most answers: the editor holds alice's, and the page says so in sight.
        await expect_marks(page, EMOJI, answers["alice"])
        note = page.get_by_test_id("start-note")
        await expect(note).to_be_visible()
        await expect(note).to_have_text("Starting from alice's spans: no span is in most answers.")
        await expect(page.get_by_test_id("submit")).to_have_text("Settle 2 spans Enter")
        # Emptied by hand, the list says what settling then means; bob's answer is the start.
        await page.locator('#said li[data-annotator="bob"]').get_by_test_id("start-from").click()
        await expect(note).to_have_text("Starting from bob's spans.")
        await expect(page.get_by_test_id("span-list")).to_have_text(
            "No spans: settling says this text has none."
        )
        await page.locator('#said li[data-annotator="alice"]').get_by_test_id("start-from").click()
        await expect_marks(page, EMOJI, answers["alice"])
        # Enter by reflex settles on alice's work, not on nothing.
        await page.keyboard.press("Enter")
        await expect(page.locator("#idle")).to_be_visible(timeout=PATIENCE_MS)
        assert (await stored(service))[-1] == ("evt-0", "rita", plain(answers["alice"]), False)


#: Where a span's label and its score sit, left to right, on screen.
TAG_PLACES = """(tag) => {
    const range = document.createRange();
    range.selectNodeContents(tag.firstChild);
    const label = range.getBoundingClientRect();
    const score = tag.querySelector(".span-score").getBoundingClientRect();
    return {labelRight: label.right, scoreLeft: score.left};
}"""


async def test_scores_read_right_and_the_cursor_and_live_line_follow_the_work(
    browser: Browser, sqlite_settings: Settings
):
    async with running(sqlite_settings) as service:
        await ner(service)
        await send(service, "heb", HEBREW)
        words = HEBREW.split(" ")
        suggestions = {
            "heb": [at(HEBREW, f"{words[2]} {words[3]}", "LOC", 0.97)],
            "emoji": [at(EMOJI, "Bob Smith", "PER", 0.7)],
        }
        page = await annotator_page(
            browser, service.base, "ana", suggesting(suggestions, {}), project="ner", **DESKTOP
        )
        await next_item(page, [])
        # In a right-to-left text a tag still reads "LOC 97 %": its score right of its label.
        tag = mark(page, HEBREW, f"{words[2]} {words[3]}").locator(".span-tag")
        await expect(tag).to_have_text("LOC 97 %")
        places = await tag.evaluate(TAG_PLACES)
        assert places["scoreLeft"] >= places["labelRight"] - 1, places
        await page.keyboard.press("ArrowLeft")
        live = page.get_by_test_id("span-cursor")
        await expect(live).to_have_text(f"“{words[0]}”")
        await page.keyboard.press("Enter")
        await saved(page, 1)

        # The next item's live line starts empty, not with the last item's words.
        await send(service, "emoji", EMOJI)
        await next_item(page, ["heb"])
        await expect(live).to_have_text("")
        # A span removed by its remove button leaves the cursor, in sight, on its first word, where
        # the keys go on from.
        await mark(page, EMOJI, "Bob Smith").locator(".span-remove").click()
        await expect(page.locator(".span-text mark.span")).to_have_count(0)
        await expect(page.locator(".span-text .tok.cursor")).to_have_text("Bob")
        await page.keyboard.press("Shift+ArrowRight")
        await page.keyboard.press("2")
        await expect_marks(page, EMOJI, [at(EMOJI, "Bob Smith", "ORG")])


async def test_the_home_page_takes_one_label_for_a_span_project_only(
    browser: Browser, sqlite_settings: Settings
):
    async with running(sqlite_settings) as service:
        page = await (await browser.new_context()).new_page()
        posted: list[dict[str, Any]] = []

        async def create(route: Route) -> None:
            if route.request.method != "POST":
                await route.continue_()
                return
            posted.append(json.loads(route.request.post_data or "null"))
            await route.fulfill(status=201, json={"name": posted[-1]["name"]})

        await page.route(re.compile(r"/api/projects$"), create)
        await page.goto(f"{service.base}/")
        await page.fill("[name=name]", "persons")
        await page.fill("[name=labels]", "PER")
        # One label is not enough to classify with.
        await page.press("[name=labels]", "Enter")
        await expect(page.locator('.field-error[data-for="labels"]')).to_have_text(
            "Give at least two labels."
        )
        await page.select_option("[name=task]", "spans")
        await page.press("[name=labels]", "Enter")
        await page.wait_for_url("**/dashboard.html?project=persons", timeout=PATIENCE_MS)
        assert [(p["labels"], p.get("task")) for p in posted] == [(["PER"], "spans")]
