"""A key or a click answers the item it was meant for, on the annotate and review pages.

A double press (Enter Enter, 2 2, a double click) is one gesture to a person: its second press
comes as the next item appears, and must not answer that item, unseen. A test plays it by
pressing again the moment the next item is on screen (the page's state, waited for): what a
person's second press, some 150 ms after the first, meets. An item says when it takes answers
(``data-ready``), which `answerable` waits for.

Enter on a control of the page's own that has focus (Skip, Undo, a link) is that control's,
never the label-set picker's. What was answered is checked where it counts, in the store.
"""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import Browser, Page, expect

from browser.pages import PATIENCE_MS, annotator_page, answerable, next_item, seed, teach
from streamloop.config import Settings
from streamloop.streams.export import export_labels
from support import Socket, running, ticket

pytestmark = pytest.mark.browser

LABELS = ["billing", "bug", "ui"]


async def stored(service: Any, project: str) -> list[tuple[str, str | None, Any]]:
    """Every answer stored, in learning order: (item, who, the label or the set)."""
    store = service.core.store
    rows = await store.run(lambda: list(export_labels(store, project)))
    return [
        (
            row["event_id"],
            row["annotator"] or row["source"],
            row["label"] if row["labels"] is None else row["labels"],
        )
        for row in rows
    ]


async def predicting_bug(service: Any, count: int, **spec: Any) -> None:
    """A multilabel project, topics, of ``count`` crash reports; its model predicts {bug} for
    each, taught by fifteen labels of three kinds: enough for its suggestion (and a preselected
    set) to show, being right more often than always answering {bug} would be."""
    await service.create_project(
        name="topics",
        labels=LABELS,
        task="multilabel",
        model="naive_bayes",
        exploration=0.0,
        **spec,
    )
    kinds = [("crash error", ["bug"]), ("charged refund", ["billing"]), ("button layout", ["ui"])]
    taught = [({"text": f"{kinds[n % 3][0]} taught {n}"}, kinds[n % 3][1]) for n in range(15)]
    await teach(service, "topics", taught)
    crashes = [{"id": f"c{n}", "data": {"text": f"crash error number {n}"}} for n in range(count)]
    await service.send_events("topics", crashes)


async def settled(page: Page, done: int) -> None:
    """Every answer given on ``page`` is acked: ``done`` of them."""
    await expect(page.get_by_test_id("done")).to_have_text(str(done), timeout=PATIENCE_MS)
    await expect(page.get_by_test_id("pending")).to_have_text("0", timeout=PATIENCE_MS)


# -- a double press -----------------------------------------------------------------------------


async def test_with_preselect_a_double_enter_0_or_click_never_answers_the_next_item(
    browser: Browser, sqlite_settings: Settings
):
    async with running(sqlite_settings) as service:
        await predicting_bug(service, 9, preselect=True)
        page = await annotator_page(browser, service.base, "ana", project="topics")
        pressed = page.locator('#labels button[aria-pressed="true"]')
        submit = page.get_by_test_id("submit")
        seen: list[str] = []

        async def double(first_press: Any, second_press: Any) -> str:
            """The first press answers the item on screen; the second meets the next item as it
            appears, and answers nothing. The next item's id."""
            item = await next_item(page, seen)
            seen.append(item)
            await expect(pressed).to_have_count(1)  # the model's set, {bug}
            await expect(pressed).to_have_attribute("data-label", "bug")
            await first_press()
            after = await next_item(page, seen, ready=False)
            await second_press()
            # Still on screen, unanswered; once past its first moments, it takes an answer.
            await answerable(page, after)
            await expect(page.get_by_test_id("pending")).to_have_text("0")
            return after

        async def enter() -> None:
            await page.keyboard.press("Enter")

        async def none() -> None:
            await page.keyboard.press("0")

        b = await double(enter, enter)
        await enter()  # now on purpose: b gets the model's set
        d = await double(submit.click, submit.click)  # c by a click, not d
        await submit.click()
        f = await double(none, none)  # e answered none of these, not f
        await settled(page, 5)
        a, c, e = (x for x in seen if x not in (b, d, f))
        rows = await stored(service, "topics")
        assert [row for row in rows if row[1] == "ana"] == [
            (a, "ana", ["bug"]),
            (b, "ana", ["bug"]),
            (c, "ana", ["bug"]),
            (d, "ana", ["bug"]),
            (e, "ana", []),
        ]


async def test_a_double_number_key_or_click_never_labels_the_next_item_nor_a_held_key(
    browser: Browser, sqlite_settings: Settings
):
    async with running(sqlite_settings) as service:
        await seed(service.http, 6, exploration=0.0)
        page = await annotator_page(browser, service.base, "ana")
        other = page.locator('#labels button[data-label="other"]')
        a = await next_item(page, [])
        await page.keyboard.press("2")
        b = await next_item(page, [a], ready=False)
        await page.keyboard.press("2")  # the second press of a double one
        await answerable(page, b)
        await other.click()
        c = await next_item(page, [a, b], ready=False)
        await other.click()  # the second click of a double one
        await answerable(page, c)
        # A key held down labels once: its repeats never label the items that follow.
        await page.keyboard.down("1")
        d = await next_item(page, [a, b, c])
        await page.keyboard.down("1")  # a repeat, past d's first moments
        await page.keyboard.up("1")
        await answerable(page, d)
        await page.keyboard.press("3")
        await settled(page, 4)
        assert await stored(service, "tickets") == [
            (a, "ana", "bug"),
            (b, "ana", "other"),
            (c, "ana", "billing"),
            (d, "ana", "other"),
        ]


async def test_a_reviewers_double_key_never_settles_the_next_item(
    browser: Browser, sqlite_settings: Settings
):
    async with running(sqlite_settings) as service:
        await service.create_project(overlap={"share": 1.0, "annotators": 2}, exploration=0.0)
        events = [{"id": f"e{n}", "data": ticket("bug", n)} for n in range(2)]
        await service.send_events("tickets", events)
        for name, label in (("alice", "bug"), ("bob", "billing")):
            socket: Socket
            async with service.annotator("tickets", name) as socket:
                while (message := await socket.expect("item", "idle"))["type"] == "item":
                    item = message["item"]["id"]
                    assert (await socket.label(item, label, f"{name}-{item}"))["type"] == "ack"
        page = await (await browser.new_context()).new_page()
        await page.goto(f"{service.base}/static/review.html?project=tickets&reviewer=rita")
        first = await next_item(page, [])
        await page.keyboard.press("2")
        second = await next_item(page, [first], ready=False)
        await page.keyboard.press("2")  # the second press of a double one
        await answerable(page, second)
        await page.keyboard.press("3")
        await expect(page.locator("#idle")).to_be_visible(timeout=PATIENCE_MS)
        await expect(page.get_by_test_id("done")).to_have_text("2")
        rita = [row for row in await stored(service, "tickets") if row[1] == "rita"]
        assert rita == [(first, "rita", "bug"), (second, "rita", "other")]


# -- Enter on a control of the page's own --------------------------------------------------------


async def test_in_review_enter_on_the_skip_button_skips_and_settles_nothing(
    browser: Browser, sqlite_settings: Settings
):
    async with running(sqlite_settings) as service:
        await service.create_project(
            name="topics",
            labels=LABELS,
            task="multilabel",
            model="naive_bayes",
            overlap={"share": 1.0, "annotators": 2},
        )
        await service.send_events("topics", [{"id": "e0", "data": {"text": "crash"}}])
        for name, answer in (("alice", ["bug"]), ("bob", ["ui"])):
            socket: Socket
            async with service.annotator("topics", name) as socket:
                item = (await socket.next_item())["item"]["id"]
                assert (await socket.label(item, answer, f"{name}-0"))["type"] == "ack"
        page = await (await browser.new_context()).new_page()
        await page.goto(f"{service.base}/static/review.html?project=topics&reviewer=rita")
        await answerable(page, "e0")
        await page.keyboard.press("1")  # billing selected: Enter would settle on it
        await page.locator("#skip").focus()
        await page.keyboard.press("Enter")
        await expect(page.locator("#idle")).to_be_visible(timeout=PATIENCE_MS)
        # Skipped: back on the desk for another reviewer, nothing settled.
        metrics = await service.metrics("topics")
        assert metrics["review"] == {"waiting": 1, "leased": 0}
        assert [row for row in await stored(service, "topics") if row[1] == "rita"] == []
        assert await page.get_by_test_id("done").text_content() == "0"


async def test_on_the_annotator_page_enter_on_skip_undo_or_a_link_is_that_controls(
    browser: Browser, sqlite_settings: Settings
):
    async with running(sqlite_settings) as service:
        await predicting_bug(service, 7, preselect=True)
        page = await annotator_page(browser, service.base, "ana", project="topics")
        a = await next_item(page, [])
        await page.keyboard.press("Enter")  # the model's set, {bug}
        b = await next_item(page, [a])
        # Undo, then Keep my answer: each by Enter on its button.
        await page.get_by_test_id("undo").focus()
        await page.keyboard.press("Enter")
        await answerable(page, a)
        await expect(page.locator("#correcting")).to_be_visible()
        await page.get_by_test_id("cancel-undo").focus()
        await page.keyboard.press("Enter")
        await answerable(page, b)
        await expect(page.locator("#correcting")).to_be_hidden()
        # Skip, by Enter on its button: its reasons open, the set on screen unsent; Enter again
        # skips without a reason, and b is left to others, unanswered.
        await page.get_by_test_id("skip").focus()
        await page.keyboard.press("Enter")
        await expect(page.get_by_test_id("skip-reasons")).to_be_visible()
        await expect(page.locator("#item")).to_have_attribute("data-item-id", b)
        await expect(page.get_by_test_id("done")).to_have_text("1")
        await expect(page.get_by_test_id("pending")).to_have_text("0")
        await page.keyboard.press("Enter")
        c = await next_item(page, [a, b])
        # A link follows, the set on screen unsent.
        await page.locator("#crumb a").focus()
        await page.keyboard.press("Enter")
        await page.wait_for_url("**/dashboard.html?project=topics", timeout=PATIENCE_MS)
        metrics = await service.metrics("topics")
        assert metrics["annotators"]["ana"]["skips"] == 1
        rows = await stored(service, "topics")
        assert [row for row in rows if row[1] == "ana"] == [(a, "ana", ["bug"])]
        assert c not in {row[0] for row in rows}
