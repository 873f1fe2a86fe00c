"""An annotator's working day (issue 20), the defects of its items 2, 3, 8, 9 and 11 fixed and
kept fixed, and what a day's work needs besides: an honest state line offline and when the
server stops (2); no suggestion until the model has earned one, and then its record, not its
"100 % sure" (3); one's recent answers, across a reload, each correctable (8); no notice left
standing once untrue, a lease's end that keeps the item readable and Continue focused, a
focus ring unlike the suggestion's mark (9); a tall item opening at its top (11); skipping
with a reason and commenting, by touch too; guidelines and label descriptions, rendered
safely, and changed live.
"""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, WebSocketRoute, expect

from browser.pages import PATIENCE_MS, annotator_page, next_item
from browser.test_workday import ANSWER_KEY, DESKTOP, SIZES, stored
from streamloop.config import Settings
from streamloop.streams.export import export_labels
from support import ServeProcess, free_port, running

pytestmark = pytest.mark.browser

LABELS = ["billing", "bug", "other"]
SPAN_LABELS = ["PER", "ORG"]
#: A record the server sends once the model beats a guess clearly.
TRUSTED = {"right": 14, "of": 20, "trusted": True}


def labels_of(task: str) -> list[str]:
    return SPAN_LABELS if task == "spans" else LABELS


def events(count: int, start: int = 0) -> list[dict[str, Any]]:
    return [
        {"id": f"e{n}", "data": {"text": f"Ada of Acme asks about invoice {n}"}}
        for n in range(start, start + count)
    ]


def stub(project: dict[str, Any], items: list[dict[str, Any]], heard: list[Any]) -> Any:
    """A socket route that is the server: hello with ``project``, then ``items`` one by one,
    each after the answer to the one before (acked at once); everything the page sends is
    kept in ``heard``."""

    def route(page_side: WebSocketRoute) -> None:
        page_side.send(json.dumps({"type": "hello", "annotator": "ana", "project": project}))
        queue = list(items)

        def offer() -> None:
            if queue:
                frame = {"type": "item", "item": queue.pop(0)}
                page_side.send(json.dumps(frame | {"lease_expires_at": "2999-01-01T00:00:00Z"}))
            else:
                page_side.send(json.dumps({"type": "idle"}))

        def answered(message: str | bytes) -> None:
            sent = json.loads(message)
            heard.append(sent)
            if sent["type"] in ("label", "correct"):
                page_side.send(json.dumps({"type": "ack", "label_id": sent["label_id"]}))
            if sent["type"] in ("label", "skip"):
                offer()

        page_side.on_message(answered)
        offer()

    return route


def classify_item(item_id: str, record: dict[str, Any] | None, **data: Any) -> dict[str, Any]:
    item: dict[str, Any] = {
        "id": item_id,
        "data": data or {"text": "my invoice is wrong"},
        "prediction": "billing",
        "probabilities": {"billing": 1.0, "bug": 0.0, "other": 0.0},
        "uncertainty": 0.0,
        "model_version": 1,
    }
    if record is not None:
        item["track_record"] = record
    return item


# -- 3. no false confidence ---------------------------------------------------------------------


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("task", ANSWER_KEY)
async def test_after_one_label_the_model_suggests_nothing_and_says_why(
    browser: Browser, sqlite_settings: Settings, task: str, size: str
):
    async with running(sqlite_settings) as service:
        await service.create_project(name="day", labels=labels_of(task), task=task)
        await service.send_events("day", events(4))
        page = await annotator_page(browser, service.base, "ana", project="day", **SIZES[size])
        first = await next_item(page, [])
        await page.keyboard.press(ANSWER_KEY[task])
        await next_item(page, [first])
        # One label taught: no suggestion, no mark on a label, no span put in the answer.
        await expect(page.get_by_test_id("no-suggestion")).to_contain_text("No suggestion yet")
        await expect(page.get_by_test_id("suggested")).to_have_count(0)
        await expect(page.locator("#labels .suggested, #labels .marked")).to_have_count(0)
        await expect(page.locator("mark.span")).to_have_count(0)
        assert "sure" not in (await page.locator("#item").inner_text())


@pytest.mark.parametrize("size", SIZES)
async def test_a_suggestion_the_model_earned_reads_as_its_record_and_a_project_can_hide_it(
    browser: Browser, sqlite_settings: Settings, size: str
):
    project = {"name": "day", "labels": LABELS, "task": "classify"}
    items = [classify_item("a", TRUSTED), classify_item("b", TRUSTED)]
    async with running(sqlite_settings) as service:
        heard: list[Any] = []
        page = await annotator_page(
            browser, service.base, "ana", stub(project, items, heard), project="day", **SIZES[size]
        )
        await next_item(page, [])
        await expect(page.get_by_test_id("suggested")).to_have_text("billing")
        await expect(page.get_by_test_id("track-record")).to_have_text(
            "· right on 14 of the last 20 items answered"
        )
        await expect(page.locator("#labels .suggested .badge")).to_have_text("suggested")
        assert "sure" not in (await page.locator("#item").inner_text())

        hidden = project | {"hide_suggestion": True}
        page = await annotator_page(
            browser, service.base, "bo", stub(hidden, items, heard), project="day", **SIZES[size]
        )
        await next_item(page, [])
        await expect(page.locator("#suggestion")).to_contain_text("No model suggestion")
        await expect(page.get_by_test_id("suggested")).to_have_count(0)
        await expect(page.locator("#labels .suggested")).to_have_count(0)


# -- 2. an honest state line ----------------------------------------------------------------


@pytest.mark.parametrize("size", SIZES)
async def test_a_stopped_server_and_answers_kept_offline_are_said_as_they_are(
    browser: Browser, tmp_path: Path, size: str
):
    port = free_port()
    args = ["--data-dir", str(tmp_path / "data")]
    server = ServeProcess(args, port=port)
    await server.ready()
    try:
        async with server.http() as http:
            spec = {"name": "day", "labels": LABELS, "exploration": 0.0}
            assert (await http.post("/api/projects", json=spec)).status_code == 201
            body = {"events": events(3)}
            assert (await http.post("/api/projects/day/events", json=body)).status_code == 200
        page = await annotator_page(browser, server.base, "ana", project="day", **SIZES[size])
        first = await next_item(page, [])
        status = page.locator("#status")
        await expect(status).to_have_attribute("data-state", "connected")

        server.kill(signal.SIGTERM)  # a normal shutdown
        await expect(status).to_contain_text("the server stopped", timeout=PATIENCE_MS)
        await page.keyboard.press("1")  # answered while it is down: kept on this device
        await expect(page.get_by_test_id("pending")).to_have_text("1")
        await expect(status).to_contain_text("1 answer kept on this device")
        waiting = page.get_by_test_id("waiting")
        await expect(waiting).to_contain_text("Not connected")
        await expect(page.locator("#idle")).to_be_hidden()

        server = ServeProcess(args, port=port)
        await server.ready()
        await expect(status).to_have_attribute("data-state", "connected", timeout=PATIENCE_MS)
        await expect(page.get_by_test_id("pending")).to_have_text("0", timeout=PATIENCE_MS)
        await expect(status).not_to_contain_text("kept on this device")
        await next_item(page, [first])
    finally:
        server.kill(signal.SIGTERM)


# -- 8. recent answers, across a reload -------------------------------------------------------


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("task", ["classify", "spans"])
async def test_recent_answers_outlast_a_reload_and_any_of_them_can_be_corrected(
    browser: Browser, sqlite_settings: Settings, task: str, size: str
):
    async with running(sqlite_settings) as service:
        await service.create_project(name="day", labels=labels_of(task), task=task)
        await service.send_events("day", events(6))
        page = await annotator_page(browser, service.base, "ana", project="day", **SIZES[size])
        seen: list[str] = []
        for _ in range(3):
            seen.append(await next_item(page, seen))
            await page.keyboard.press(ANSWER_KEY[task])
        await expect(page.get_by_test_id("done")).to_have_text("3", timeout=PATIENCE_MS)
        showing = await next_item(page, seen)

        await page.reload()
        # The same item, the session's count, and the three answers, newest first.
        assert await next_item(page, []) == showing
        await expect(page.get_by_test_id("done")).to_have_text("3")
        await expect(page.get_by_test_id("labelled")).to_have_text("3")
        recent = page.get_by_test_id("recent")
        await recent.locator("summary").click()
        rows = recent.locator("li")
        await expect(rows).to_have_count(3, timeout=PATIENCE_MS)
        ids = await rows.evaluate_all("(rows) => rows.map((row) => row.dataset.labelId)")
        assert len(set(ids)) == 3

        # The oldest, corrected from the list: its new answer replaces it.
        await rows.nth(2).get_by_test_id("correct").click()
        await expect(page.locator("#correcting")).to_be_visible()
        await expect(page.locator("#item")).to_have_attribute("data-item-id", seen[0])
        await expect(page.locator("#item")).to_have_attribute("data-ready", "true")
        if task == "spans":
            await page.keyboard.press("Shift+ArrowRight")
            await page.keyboard.press("1")
            await page.keyboard.press("Enter")
        else:
            await page.keyboard.press("2")
        await expect(page.locator("#item")).to_have_attribute("data-item-id", showing)
        await expect(rows.nth(2).get_by_test_id("correct")).to_be_enabled(timeout=PATIENCE_MS)
        answers = dict(await stored(service, "day"))
        if task == "classify":
            assert answers[seen[0]] == "bug", answers
        else:
            assert answers[seen[0]], answers  # a span now, where there was none
        # Undo after the reload brings back the latest answer.
        await expect(page.locator("#correcting")).to_be_hidden()
        await expect(page.locator("#item")).to_have_attribute("data-ready", "true")
        await page.keyboard.press("u")
        await expect(page.locator("#correcting")).to_be_visible()
        await expect(page.locator("#item")).to_have_attribute("data-item-id", seen[2])


# -- 9. notices that stop being true, a lease's end, the focus ring ----------------------------


@pytest.mark.parametrize("size", SIZES)
async def test_a_notice_goes_once_untrue_and_a_lease_end_keeps_the_item_with_continue_focused(
    browser: Browser, sqlite_settings: Settings, size: str
):
    project = {"name": "day", "labels": LABELS, "task": "classify"}
    held: list[str] = []

    def route(page_side: WebSocketRoute) -> None:
        page_side.send(json.dumps({"type": "hello", "annotator": "ana", "project": project}))
        lease = {"lease_expires_at": "2999-01-01T00:00:00Z"}
        page_side.send(json.dumps({"type": "item", "item": classify_item("a", None)} | lease))

        def heard(message: str | bytes) -> None:
            sent = json.loads(message)
            if sent["type"] == "label" and sent["item_id"] == "a":
                held.append(sent["label_id"])  # its ack waits
                page_side.send(
                    json.dumps({"type": "item", "item": classify_item("b", None)} | lease)
                )

        page_side.on_message(heard)
        route.side = page_side  # type: ignore[attr-defined]

    async with running(sqlite_settings) as service:
        page = await annotator_page(
            browser, service.base, "ana", route, project="day", **SIZES[size]
        )
        await next_item(page, [])
        await page.keyboard.press("1")
        await next_item(page, ["a"])
        await page.keyboard.press("u")  # its label is not saved yet
        notice = page.locator("#notice")
        await expect(notice).to_contain_text("still being saved")
        side = route.side  # type: ignore[attr-defined]
        side.send(json.dumps({"type": "ack", "label_id": held[0], "item_id": "a"}))
        await expect(notice).to_be_hidden()

        # Someone else labelled "b": the notice says so until the next answer.
        side.send(json.dumps({"type": "lease_revoked", "item_id": "b", "reason": "labelled"}))
        await expect(notice).to_contain_text("Someone else labelled")
        lease = {"lease_expires_at": "2999-01-01T00:00:00Z"}
        side.send(json.dumps({"type": "item", "item": classify_item("c", None)} | lease))
        await next_item(page, ["a", "b"])
        await page.keyboard.press("2")
        await expect(notice).to_be_hidden()

        # A lease ends mid-read: the item stays, read-only, and Continue has the focus.
        side.send(json.dumps({"type": "item", "item": classify_item("d", None)} | lease))
        await next_item(page, ["a", "b", "c"])
        side.send(json.dumps({"type": "lease_expired", "item_id": "d"}))
        await expect(page.locator("#expired")).to_be_visible()
        await expect(page.locator("#item")).to_be_visible()
        await expect(page.get_by_test_id("content")).to_contain_text("my invoice is wrong")
        await expect(page.get_by_test_id("resume")).to_be_focused()
        colours = await page.get_by_test_id("resume").evaluate(
            """(button) => [getComputedStyle(button.querySelector('kbd')).color,
                            getComputedStyle(button).backgroundColor]"""
        )
        assert colours[0] != colours[1], colours
        pending = await page.get_by_test_id("pending").text_content()
        await page.keyboard.press("1")  # answers nothing: the item is read-only now
        await expect(page.get_by_test_id("pending")).to_have_text(pending or "")
        await page.keyboard.press("Enter")
        await expect(page.locator("#expired")).to_be_hidden()
        await expect(page.locator("#item")).to_be_hidden()


async def test_the_focus_ring_looks_nothing_like_the_suggestions_mark(
    browser: Browser, sqlite_settings: Settings
):
    project = {"name": "day", "labels": LABELS, "task": "classify"}
    async with running(sqlite_settings) as service:
        route = stub(project, [classify_item("a", TRUSTED)], [])
        page = await annotator_page(browser, service.base, "ana", route, project="day", **DESKTOP)
        await next_item(page, [])
        look = """(b) => { const s = getComputedStyle(b);
            return [s.outlineStyle, s.outlineColor, s.borderStyle, s.borderTopColor]; }"""
        suggested = page.locator('#labels button[data-label="billing"]')
        other = page.locator('#labels button[data-label="bug"]')
        await other.focus()
        await page.keyboard.press("Shift+Tab")
        await page.keyboard.press("Tab")  # focused by keyboard: :focus-visible
        focused = await other.evaluate(look)
        marked = await suggested.evaluate(look)
        assert marked[2] == "dashed" and focused[0] == "solid", (marked, focused)
        assert focused[1] != marked[3], (marked, focused)


# -- 11. a tall item opens at its top ----------------------------------------------------------


@pytest.mark.parametrize("size", SIZES)
async def test_an_item_of_sixty_fields_opens_at_its_top(
    browser: Browser, sqlite_settings: Settings, size: str
):
    project = {"name": "day", "labels": LABELS, "task": "classify", "input": "tabular"}
    fields = {f"field_{n:02d}": f"value {n}" for n in range(60)}
    items = [classify_item("short", None), classify_item("tall", None, **fields)]
    async with running(sqlite_settings) as service:
        route = stub(project, items, [])
        page = await annotator_page(
            browser, service.base, "ana", route, project="day", **SIZES[size]
        )
        await next_item(page, [])
        await page.keyboard.press("1")
        await next_item(page, ["short"])
        top = await page.locator("#item").evaluate("(item) => item.getBoundingClientRect().top")
        assert 0 <= top < page.viewport_size["height"] / 2, top  # type: ignore[index]
        await expect(page.get_by_test_id("fields").locator("th").first).to_be_in_viewport()


# -- 4. skip with a reason, comment, by touch or keys ------------------------------------------


@pytest.mark.parametrize("size", SIZES)
async def test_skips_take_a_reason_and_answers_a_comment_by_touch_or_keys(
    browser: Browser, sqlite_settings: Settings, size: str
):
    async with running(sqlite_settings) as service:
        await service.create_project(name="day", labels=LABELS, exploration=0.0, target=4)
        await service.send_events("day", events(4))
        page = await annotator_page(browser, service.base, "ana", project="day", **SIZES[size])
        first = await next_item(page, [])
        touch = size == "phone"
        if touch:
            await page.get_by_test_id("skip").tap()
            await page.get_by_role("button", name="No label fits").tap()
        else:
            await page.keyboard.press("s")
            await expect(page.get_by_test_id("skip-reasons")).to_be_visible()
            await page.keyboard.press("3")
        second = await next_item(page, [first])
        if touch:
            await page.get_by_test_id("comment-open").tap()
        else:
            await page.keyboard.press("c")
        await expect(page.get_by_test_id("comment")).to_be_focused()
        await page.keyboard.type("customer wrote twice")
        if touch:
            await page.locator('#labels button[data-label="bug"]').tap()
        else:
            await page.keyboard.press("Escape")
            await page.keyboard.press("2")
        third = await next_item(page, [first, second])
        # S, Enter: a skip without a reason, as quick as ever.
        if not touch:
            await page.keyboard.press("s")
            await page.keyboard.press("Enter")
            await next_item(page, [first, second, third])

        skips = (await service.http.get("/api/projects/day/skips")).json()["skips"]
        reasons = {skip["event_id"]: skip["reason"] for skip in skips}
        assert reasons[first] == "No label fits", reasons
        if not touch:
            assert not reasons[third], reasons
        rows = {row["event_id"]: row for row in await export_rows(service)}
        assert rows[second]["label"] == "bug"
        assert rows[second]["comment"] == "customer wrote twice"

        # The supervisor reads the reasons and the progress; a reviewer, the comment.
        board = await (await browser.new_context(**SIZES[size])).new_page()
        await board.goto(f"{service.base}/static/dashboard.html?project=day")
        await expect(board.get_by_test_id("skip_reasons")).to_contain_text("1 “No label fits”")
        await expect(board.get_by_test_id("progress")).to_have_text("25.0 %")
        await expect(board.get_by_test_id("progress_detail")).to_have_text("1 of 4 items labelled")
        flagged = await service.http.post(f"/api/projects/day/items/{second}/review", json={})
        assert flagged.status_code in (200, 201, 202), flagged.text
        desk = await (await browser.new_context(**SIZES[size])).new_page()
        await desk.goto(f"{service.base}/static/review.html?project=day&reviewer=rita")
        await expect(desk.get_by_test_id("said-comment")).to_contain_text(
            "customer wrote twice", timeout=PATIENCE_MS
        )


async def export_rows(service: Any) -> list[dict[str, Any]]:
    store = service.core.store
    return await store.run(lambda: list(export_labels(store, "day")))


# -- guidelines and label descriptions -----------------------------------------------------------

GUIDELINES = """# Billing or bug?

A **billing** ticket is about money; a *bug* is about the app. See `invoice` fields.

- Refunds are billing
- Crashes are bugs

<img src=x onerror="window.pwned=1"> [the wiki](https://example.org/wiki)
[bad](javascript:window.pwned=2)
"""


@pytest.mark.parametrize("size", SIZES)
async def test_guidelines_and_label_descriptions_show_safely_and_change_live(
    browser: Browser, sqlite_settings: Settings, size: str
):
    async with running(sqlite_settings) as service:
        await service.create_project(
            name="day",
            labels=LABELS,
            guidelines=GUIDELINES,
            label_descriptions={"billing": "Money: invoices, refunds, plans"},
        )
        await service.send_events("day", events(2))
        page = await annotator_page(browser, service.base, "ana", project="day", **SIZES[size])
        await next_item(page, [])
        panel = page.get_by_test_id("guidelines")
        await expect(panel).to_have_attribute("open", "")  # open at the first visit
        await expect(panel.locator("h3")).to_have_text("Billing or bug?")
        await expect(panel.locator("strong")).to_have_text("billing")
        await expect(panel.locator("li")).to_have_count(2)
        await expect(panel.locator("a")).to_have_count(1)
        await expect(panel.locator("a")).to_have_attribute("href", "https://example.org/wiki")
        await expect(panel.locator("img")).to_have_count(0)
        await expect(panel).to_contain_text('<img src=x onerror="window.pwned=1">')
        await expect(panel.locator("dd")).to_have_text("Money: invoices, refunds, plans")
        button = page.locator('#labels button[data-label="billing"]')
        await expect(button).to_have_attribute("title", "Money: invoices, refunds, plans")
        assert await page.evaluate("() => window.pwned") is None

        # Closed, it stays closed on the next visit; changed, it opens again, live.
        await panel.locator("summary").click()
        await expect(panel).not_to_have_attribute("open", "")
        await page.reload()
        await next_item(page, [])
        await expect(panel).not_to_have_attribute("open", "")
        patched = await service.http.patch(
            "/api/projects/day", json={"guidelines": "Refunds are **billing** now."}
        )
        assert patched.status_code == 200, patched.text
        await expect(panel).to_have_attribute("open", "", timeout=PATIENCE_MS)
        await expect(panel.locator("p")).to_have_text("Refunds are billing now.")


@pytest.mark.parametrize("size", SIZES)
async def test_the_home_page_creates_a_project_with_guidelines_descriptions_a_target_and_no_hint(
    browser: Browser, sqlite_settings: Settings, size: str
):
    async with running(sqlite_settings) as service:
        page = await (await browser.new_context(**SIZES[size])).new_page()
        await page.goto(f"{service.base}/")
        await page.fill("[name=name]", "day")
        await page.fill("[name=labels]", "billing, bug")
        await page.fill("[name=target]", "500")
        await page.check("[name=hide_suggestion]")
        await page.fill("[name=guidelines]", "Refunds are **billing**.")
        await page.fill("[name=label_descriptions]", "billing: money\nnope: not a label")
        await page.click("#create button[type=submit]")
        error = page.locator('.field-error[data-for="label_descriptions"]')
        await expect(error).to_have_text("“nope” is not one of the labels.")
        await page.fill("[name=label_descriptions]", "billing: money\nbug: the app is wrong")
        await page.click("#create button[type=submit]")
        await page.wait_for_url("**/dashboard.html?project=day", timeout=PATIENCE_MS)
        project = (await service.http.get("/api/projects/day")).json()
        assert project["target"] == 500
        assert project["hide_suggestion"] is True
        assert project["guidelines"] == "Refunds are **billing**."
        assert project["label_descriptions"] == {"billing": "money", "bug": "the app is wrong"}
        await expect(page.get_by_test_id("progress_detail")).to_have_text("0 of 500 items labelled")


# -- the review's findings: items offered again, refused skips, the reasons row by keys ---------


class Played:
    """A socket route that is the server, driven by the test: ``side`` once the page is
    connected; what the page sends, in ``heard``."""

    def __init__(self, project: dict[str, Any], hello: dict[str, Any] | None = None) -> None:
        self.project = project
        self.hello = hello or {}
        self.heard: list[dict[str, Any]] = []
        self.side: WebSocketRoute | None = None

    def __call__(self, page_side: WebSocketRoute) -> None:
        frame = {"type": "hello", "annotator": "ana", "project": self.project, **self.hello}
        page_side.send(json.dumps(frame))
        page_side.on_message(lambda message: self.heard.append(json.loads(message)))
        self.side = page_side

    def send(self, frame: dict[str, Any]) -> None:
        assert self.side is not None
        self.side.send(json.dumps(frame))

    def offer(self, item: dict[str, Any]) -> None:
        self.send({"type": "item", "item": item, "lease_expires_at": "2999-01-01T00:00:00Z"})

    def sent(self, kind: str) -> list[dict[str, Any]]:
        return [message for message in self.heard if message["type"] == kind]


def set_item(item_id: str) -> dict[str, Any]:
    return {
        "id": item_id,
        "data": {"text": f"ticket {item_id}"},
        "labels": [],
        "probabilities": {"billing": 0.1, "bug": 0.1, "other": 0.1},
        "uncertainty": 0.5,
        "model_version": 1,
        "track_record": TRUSTED,
    }


@pytest.mark.parametrize("size", SIZES)
async def test_an_item_offered_again_keeps_its_work_and_one_answered_here_is_not_shown_again(
    browser: Browser, sqlite_settings: Settings, size: str
):
    server = Played({"name": "day", "labels": LABELS, "task": "multilabel"}, {"labelled": 5})
    async with running(sqlite_settings) as service:
        page = await annotator_page(
            browser, service.base, "ana", server, project="day", **SIZES[size]
        )
        await expect(page.locator("#status")).to_have_attribute("data-state", "connected")
        server.offer(set_item("a"))
        await next_item(page, [])
        first = page.locator('#labels button[data-label="billing"]')
        await first.click()
        await page.get_by_test_id("comment-open").click()
        await page.get_by_test_id("comment").fill("half written")
        # Offered again (a reconnect's returned lease): the toggle and the comment stay.
        server.offer(set_item("a"))
        await expect(page.get_by_test_id("comment")).to_have_value("half written")
        await expect(first).to_have_attribute("aria-pressed", "true")
        await page.locator("#set-actions button", has_text="Submit").click()
        await expect(page.locator("#item")).to_be_hidden()
        # Its answer still on its way, the same item offered again is not shown again.
        server.offer(set_item("a"))
        [label] = server.sent("label")
        assert label["comment"] == "half written" and label["labels"] == ["billing"]
        await expect(page.get_by_test_id("waiting")).to_be_visible()
        await expect(page.locator("#item")).to_be_hidden()
        server.send({"type": "ack", "label_id": label["label_id"], "item_id": "a"})
        await expect(page.get_by_test_id("labelled")).to_have_text("6")  # in all, counted on
        server.offer(set_item("b"))
        assert await next_item(page, ["a"]) == "b"


@pytest.mark.parametrize("size", SIZES)
async def test_a_refused_skip_brings_the_item_back_and_the_reasons_row_works_by_keys(
    browser: Browser, sqlite_settings: Settings, size: str
):
    server = Played({"name": "day", "labels": LABELS, "task": "classify"})
    async with running(sqlite_settings) as service:
        page = await annotator_page(
            browser, service.base, "ana", server, project="day", **SIZES[size]
        )
        await expect(page.locator("#status")).to_have_attribute("data-state", "connected")
        server.offer(classify_item("a", TRUSTED))
        await next_item(page, [])
        await page.get_by_test_id("skip").click()
        await page.get_by_test_id("skip-now").click()
        await expect(page.locator("#item")).to_be_hidden()
        refusal = {"code": "store_unavailable", "message": "the store is unavailable"}
        server.send({"type": "error", **refusal, "retryable": True, "item_id": "a"})
        await expect(page.locator("#item")).to_have_attribute("data-item-id", "a")
        await expect(page.locator("#item")).to_be_visible()
        await expect(page.locator("#notice")).to_contain_text("Your skip was not saved")
        if size == "desktop":
            # S opens the row on "No reason"; Shift+Tab reaches the field for another.
            await page.keyboard.press("s")
            await expect(page.get_by_test_id("skip-now")).to_be_focused()
            await page.keyboard.press("Shift+Tab")
            await expect(page.get_by_test_id("skip-other")).to_be_focused()
            await page.keyboard.type("duplicate of a12")
            await page.keyboard.press("Enter")
        else:
            await page.get_by_test_id("skip").tap()
            await page.get_by_test_id("skip-other").fill("duplicate of a12")
            await page.get_by_test_id("skip-other").press("Enter")
        await expect(page.locator("#item")).to_be_hidden()
        assert [skip.get("reason") for skip in server.sent("skip")] == [None, "duplicate of a12"]
