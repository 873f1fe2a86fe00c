"""A working day in the web app (issue 20), each defect fixed and kept fixed, in every task kind
it touches, at a desktop's size and a phone's: no empty-queue card between two items while items
wait (1); nothing wider than the screen, whatever the words, values or label names (5); a
label's key badge is the key that labels it, past the ninth label too (7); the dashboard's
figures whole, items shed and skipped among them (10); right-to-left text read so, and no bidi
control reordering an item (11).

What "never" means is recorded in the page itself: a MutationObserver installed before the work
starts keeps every change it sees, so that a card shown and hidden again between two of the
test's looks is caught as well.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest
from playwright.async_api import Browser, Page, WebSocketRoute, expect

from browser.pages import PATIENCE_MS, annotator_page, next_item
from streamloop.config import Settings
from streamloop.streams.export import export_labels
from support import Socket, running

pytestmark = pytest.mark.browser

PHONE = {"viewport": {"width": 390, "height": 844}, "has_touch": True, "is_mobile": True}
DESKTOP = {"viewport": {"width": 1280, "height": 800}}
SIZES = {"desktop": DESKTOP, "phone": PHONE}

#: Each task kind, and the key that answers one of its items at once (classify: the first
#: label; multilabel: none of these; spans: submit the spans, here none).
ANSWER_KEY = {"classify": "1", "multilabel": "0", "spans": "Enter"}


async def stored(service: Any, project: str) -> list[tuple[str, Any]]:
    """Every answer stored, in learning order: (item, the label, the set or the spans)."""
    store = service.core.store
    rows = await store.run(lambda: list(export_labels(store, project)))
    return [(row["event_id"], answer(row)) for row in rows]


def answer(row: dict[str, Any]) -> Any:
    """An export row's answer: its spans, or its label, or its set of labels."""
    if "spans" in row:
        return row["spans"]
    return row["label"] if row["labels"] is None else row["labels"]


#: Installs a recorder of #idle's `hidden` attribute: each value it had before a change, in
#: order (null: the card was showing). Read with SHOWN_SINCE.
RECORD_IDLE = """() => {
    const card = document.getElementById("idle");
    window.idleBefore = [card.getAttribute("hidden")];
    const observer = new MutationObserver((records) => {
        for (const record of records) window.idleBefore.push(record.oldValue);
    });
    const what = { attributes: true, attributeFilter: ["hidden"], attributeOldValue: true };
    observer.observe(card, what);
    window.idleObserver = observer;
}"""
#: Whether the empty-queue card has shown at any moment since the recorder was installed.
SHOWN_SINCE = """() => {
    window.idleBefore.push(...window.idleObserver.takeRecords().map((r) => r.oldValue));
    return window.idleBefore.includes(null) || !document.getElementById("idle").hidden;
}"""


# -- 1. no empty-queue card between two items -----------------------------------------------


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("task", ANSWER_KEY)
async def test_the_empty_queue_card_never_shows_between_items_only_when_the_queue_is_empty(
    browser: Browser, sqlite_settings: Settings, task: str, size: str
):
    async with running(sqlite_settings) as service:
        labels = ["PER", "ORG"] if task == "spans" else ["billing", "bug", "other"]
        await service.create_project(name="day", labels=labels, task=task, exploration=0.0)
        events = [{"id": f"e{n}", "data": {"text": f"Ada wrote to Acme {n}"}} for n in range(7)]
        await service.send_events("day", events)
        page = await annotator_page(browser, service.base, "ana", project="day", **SIZES[size])
        seen = [await next_item(page, [])]
        await page.evaluate(RECORD_IDLE)
        for _ in range(5):
            await page.keyboard.press(ANSWER_KEY[task])
            seen.append(await next_item(page, seen))
        assert not await page.evaluate(SHOWN_SINCE)
        # The last two: the queue is empty then, and the server says so; the card shows.
        await page.keyboard.press(ANSWER_KEY[task])
        seen.append(await next_item(page, seen))
        await page.keyboard.press(ANSWER_KEY[task])
        await expect(page.locator("#idle")).to_be_visible(timeout=PATIENCE_MS)
        await expect(page.get_by_test_id("waiting")).to_be_hidden()
        await expect(page.get_by_test_id("done")).to_have_text("7", timeout=PATIENCE_MS)
        assert len(await stored(service, "day")) == 7


# -- 7. a label's badge is its key ------------------------------------------------------------

#: Twenty labels: nine take digits, nine letters, the last two no key at all.
TWENTY = [f"topic-{n:02d}" for n in range(1, 21)]


async def badges(page: Page) -> dict[str, str | None]:
    """Each label button's key badge, by label (None: no badge)."""
    return dict(
        await page.locator("#labels button").evaluate_all(
            "(bs) => bs.map((b) => [b.dataset.label, b.querySelector('kbd')?.textContent ?? null])"
        )
    )


async def test_past_the_ninth_label_each_badge_is_the_key_that_labels_it(
    browser: Browser, sqlite_settings: Settings
):
    async with running(sqlite_settings) as service:
        await service.create_project(name="day", labels=TWENTY, exploration=0.0)
        events = [{"id": f"e{n}", "data": {"text": f"ticket {n}"}} for n in range(20)]
        await service.send_events("day", events)
        page = await annotator_page(browser, service.base, "ana", project="day", **DESKTOP)
        seen = [await next_item(page, [])]
        shown = await badges(page)
        keys = [key for key in shown.values() if key is not None]
        # No two labels share a key; none is a key the page uses for something else.
        assert len(set(keys)) == len(keys) == 18, shown
        assert not {"S", "U", "0"} & set(keys), shown
        assert shown["topic-10"] == "Q" and shown["topic-19"] is None, shown
        # Each badge's key labels its label, and only it.
        expected = []
        for label, key in shown.items():
            if key is None:
                continue
            await page.keyboard.press(key.lower())
            expected.append((seen[-1], label))
            seen.append(await next_item(page, seen))
        await expect(page.get_by_test_id("pending")).to_have_text("0", timeout=PATIENCE_MS)
        await expect(page.get_by_test_id("done")).to_have_text("18", timeout=PATIENCE_MS)
        assert await stored(service, "day") == expected
        # A label without a key is labelled by its button.
        await page.locator('#labels button[data-label="topic-20"]').click()
        await expect(page.get_by_test_id("done")).to_have_text("19", timeout=PATIENCE_MS)
        assert (await stored(service, "day"))[-1] == (seen[-1], "topic-20")


# -- 5. nothing wider than the screen ---------------------------------------------------------

#: A word longer than any screen, a tabular value longer still, label names past a button.
LONG_WORD = "x" * 5000
LONG_LABELS = [
    "billing",
    "a-label-name-so-long-that-it-never-fits-on-its-button-without-wrapping-somewhere-inside",
    "another label with many words that go on and on past the width of any button on a phone",
]


def played(project: dict[str, Any], items: list[dict[str, Any]]) -> Any:
    """A socket route that is the server: hello with ``project``, then the first of ``items``
    and the next one after each answer."""

    def route(page_side: WebSocketRoute) -> None:
        hello = {"type": "hello", "annotator": "ana", "prefetch": 1, "project": project}
        page_side.send(json.dumps(hello))
        queue = list(items)
        lease = "2999-01-01T00:00:00Z"

        def offer() -> None:
            if queue:
                item = queue.pop(0)
                page_side.send(
                    json.dumps({"type": "item", "item": item, "lease_expires_at": lease})
                )
            else:
                page_side.send(json.dumps({"type": "idle"}))

        def answered(message: str | bytes) -> None:
            sent = json.loads(message)
            if sent.get("type") == "label":
                page_side.send(json.dumps({"type": "ack", "label_id": sent["label_id"]}))
                offer()

        page_side.on_message(answered)
        offer()

    return route


def wide_items(task: str) -> list[dict[str, Any]]:
    """An item of a long word, one of a long tabular value (not for spans: text only)."""
    text = {"id": "word", "data": {"text": f"before {LONG_WORD} after"}}
    table = {"id": "table", "data": {"customer": "ada", "note": "y" * 55_000, "n": 3}}
    items = [text] if task == "spans" else [text, table]
    for item in items:
        if task == "spans":
            item["spans"] = None
        elif task == "multilabel":
            item.update(
                labels=[LONG_LABELS[1]], probabilities={label: 0.6 for label in LONG_LABELS}
            )
        else:
            item.update(
                prediction=LONG_LABELS[1], probabilities={label: 0.3 for label in LONG_LABELS}
            )
    return items


#: The item card's buttons whose content is wider than they are.
BUTTONS = "#labels button, #set-actions button, #item-actions button"
OVERFLOWING = """(selector) => [...document.querySelectorAll(selector)]
    .filter((b) => b.offsetParent !== null && b.scrollWidth > b.clientWidth + 1)
    .map((b) => b.dataset.label ?? b.textContent)"""


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("task", ANSWER_KEY)
async def test_a_long_word_a_long_value_and_long_label_names_stay_inside_the_screen(
    browser: Browser, sqlite_settings: Settings, task: str, size: str
):
    width = SIZES[size]["viewport"]["width"]
    project = {"name": "day", "labels": LONG_LABELS, "task": task}
    async with running(sqlite_settings) as service:
        route = played(project, wide_items(task))
        page = await annotator_page(
            browser, service.base, "ana", route, project="day", **SIZES[size]
        )
        seen: list[str] = []
        for _ in wide_items(task):
            seen.append(await next_item(page, seen))
            assert await page.evaluate("document.documentElement.scrollWidth") <= width, seen[-1]
            assert await page.evaluate(OVERFLOWING, BUTTONS) == [], seen[-1]
            await page.keyboard.press(ANSWER_KEY[task])
        await expect(page.locator("#idle")).to_be_visible(timeout=PATIENCE_MS)


GREEK = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta"]


@pytest.mark.parametrize("size", SIZES)
async def test_a_confusion_matrix_of_long_labels_scrolls_in_its_own_box(
    browser: Browser, sqlite_settings: Settings, size: str
):
    width = SIZES[size]["viewport"]["width"]
    # Names with no place to break a line, as long as a word can be.
    labels = [f"{name}withalongdescriptionofthelabel" for name in GREEK]
    async with running(sqlite_settings) as service:
        await service.create_project(name="day", labels=labels, exploration=0.0)
        events = [{"id": f"e{n}", "data": {"text": f"ticket {n}"}} for n in range(len(labels))]
        await service.send_events("day", events)
        socket: Socket
        async with service.annotator("day", "ana") as socket:
            n = 0
            while (message := await socket.expect("item", "idle"))["type"] == "item":
                item = message["item"]["id"]
                assert (await socket.label(item, labels[n % len(labels)], f"l{n}"))["type"] == "ack"
                n += 1
        page = await (await browser.new_context(**SIZES[size])).new_page()
        await page.goto(f"{service.base}/static/dashboard.html?project=day")
        await expect(page.locator("#confusion tbody tr")).to_have_count(
            len(labels), timeout=PATIENCE_MS
        )
        assert await page.evaluate("document.documentElement.scrollWidth") <= width
        box = page.locator(".wide-table:has(#confusion) .scroll-x")
        assert await box.evaluate("(b) => b.scrollWidth > b.clientWidth")  # it scrolls, itself


# -- 11. right-to-left text, and no bidi control reorders an item -----------------------------

#: A file name that a right-to-left override would show as "evil" + "txt.exe".
SPOOFED = "attachment: evil\u202eexe.txt"
HEBREW = "\u05e9\u05dc\u05d5\u05dd \u05e2\u05d5\u05dc\u05dd"  # "hello world"


def bidi_items(task: str) -> list[dict[str, Any]]:
    items = [
        {"id": "spoofed", "data": {"text": SPOOFED}},
        {"id": "rtl", "data": {"text": HEBREW}},
        {"id": "table", "data": {"file": SPOOFED, "note": HEBREW}},
    ]
    for item in items:
        item.update(labels=None, prediction=None, probabilities=None)
    return items


#: Where the first occurrence of each of ``words`` is drawn, from the left (px), in #content.
DRAWN_AT = """(words) => {
    const content = document.getElementById("content");
    const walker = document.createTreeWalker(content, NodeFilter.SHOW_TEXT);
    const at = {};
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
        for (const word of words) {
            const i = node.data.indexOf(word);
            if (i < 0 || word in at) continue;
            const range = document.createRange();
            range.setStart(node, i);
            range.setEnd(node, i + word.length);
            at[word] = range.getBoundingClientRect().x;
        }
    }
    return at;
}"""


async def test_a_skip_reason_and_a_comment_show_a_bidi_control_as_a_mark_in_their_own_direction(
    browser: Browser, sqlite_settings: Settings
):
    async with running(sqlite_settings) as service:
        await service.create_project(name="day", labels=["billing", "bug"], exploration=0.0)
        events = [{"id": f"e{n}", "data": {"text": f"ticket {n}"}} for n in range(3)]
        await service.send_events("day", events)
        async with service.annotator("day", "ana") as ana:
            first = (await ana.next_item())["item"]["id"]
            await ana.send({"type": "skip", "item_id": first, "reason": SPOOFED})
            second = (await ana.next_item())["item"]["id"]
            label = {"type": "label", "item_id": second, "label": "bug", "label_id": "l1"}
            await ana.send(label | {"comment": HEBREW + " \u202e" + "txt"})
            assert (await ana.expect("ack", keep_items=True))["type"] == "ack"
        flagged = await service.http.post(f"/api/projects/day/items/{second}/review", json={})
        assert flagged.status_code in (200, 201, 202), flagged.text

        board = await (await browser.new_context()).new_page()
        await board.goto(f"{service.base}/static/dashboard.html?project=day")
        reasons = board.get_by_test_id("skip_reasons")
        await expect(reasons.locator(".bidi-control")).to_have_text("\u27e8RLO\u27e9")
        assert "\u202e" not in (await reasons.text_content() or "")
        assert await reasons.locator("[dir=auto]").count() == 1
        desk = await (await browser.new_context()).new_page()
        await desk.goto(f"{service.base}/static/review.html?project=day&reviewer=rita")
        comment = desk.get_by_test_id("said-comment")
        await expect(comment.locator(".bidi-control")).to_have_text(
            "\u27e8RLO\u27e9", timeout=PATIENCE_MS
        )
        assert "\u202e" not in (await comment.text_content() or "")
        direction = "(node) => getComputedStyle(node).direction"
        assert await comment.locator("[dir=auto]").evaluate(direction) == "rtl"


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("task", ["classify", "multilabel"])
async def test_an_items_text_takes_its_own_direction_and_no_bidi_control_reorders_it(
    browser: Browser, sqlite_settings: Settings, task: str, size: str
):
    project = {"name": "day", "labels": ["billing", "bug"], "task": task}
    async with running(sqlite_settings) as service:
        route = played(project, bidi_items(task))
        page = await annotator_page(
            browser, service.base, "ana", route, project="day", **SIZES[size]
        )
        content = page.get_by_test_id("content")
        # The override shows as a mark of its own, and the file name reads as it is stored.
        assert await next_item(page, []) == "spoofed"
        await expect(content.locator(".bidi-control")).to_have_text("\u27e8RLO\u27e9")
        assert "\u202e" not in (await content.text_content() or "")
        at = await page.evaluate(DRAWN_AT, ["evil", "exe", "txt"])
        assert at["evil"] < at["exe"] < at["txt"], at
        # Right-to-left text reads right to left, on its own line and in a table's cell.
        await page.keyboard.press(ANSWER_KEY[task])
        assert await next_item(page, ["spoofed"]) == "rtl"
        direction = "(node) => getComputedStyle(node).direction"
        assert await page.get_by_test_id("text").evaluate(direction) == "rtl"
        await page.keyboard.press(ANSWER_KEY[task])
        assert await next_item(page, ["spoofed", "rtl"]) == "table"
        cells = page.get_by_test_id("fields").locator("td")
        assert await cells.nth(1).evaluate(direction) == "rtl"
        assert await cells.nth(0).evaluate(direction) == "ltr"
        await expect(cells.nth(0).locator(".bidi-control")).to_have_text("\u27e8RLO\u27e9")
        at = await page.evaluate(DRAWN_AT, ["evil", "exe", "txt"])
        assert at["evil"] < at["exe"] < at["txt"], at


# -- 10. the dashboard's figures --------------------------------------------------------------


@pytest.mark.parametrize("size", SIZES)
async def test_the_dashboard_shows_items_shed_and_skipped_and_keeps_each_figure_on_one_line(
    browser: Browser, sqlite_settings: Settings, size: str
):
    settings = dataclasses.replace(sqlite_settings, queue_capacity=4)
    async with running(settings) as service:
        await service.create_project(name="day", exploration=0.0)
        events = [{"id": f"e{n}", "data": {"text": f"ticket {n}"}} for n in range(7)]
        await service.send_events("day", events)
        socket: Socket
        async with service.annotator("day", "ana") as socket:
            for _ in range(2):
                item = (await socket.expect("item"))["item"]["id"]
                await socket.send({"type": "skip", "item_id": item})
            item = (await socket.expect("item"))["item"]["id"]
            assert (await socket.label(item, "bug", "l1"))["type"] == "ack"
            page = await (await browser.new_context(**SIZES[size])).new_page()
            await page.goto(f"{service.base}/static/dashboard.html?project=day")
            await expect(page.get_by_test_id("labels_total")).to_have_text("1", timeout=PATIENCE_MS)
            await expect(page.get_by_test_id("shed_total")).to_have_text("3")
            await expect(page.get_by_test_id("skips_total")).to_have_text("2")
            # A figure ("66.7 %") never breaks between its number and its unit.
            spaces = await page.locator(".figure b").evaluate_all(
                "(bs) => bs.map((b) => getComputedStyle(b).whiteSpace)"
            )
            assert set(spaces) == {"nowrap"}, spaces
            assert (
                await page.evaluate("document.documentElement.scrollWidth")
                <= (SIZES[size]["viewport"]["width"])
            )


@pytest.mark.parametrize("size", SIZES)
async def test_a_span_projects_bidi_control_shows_as_a_mark_and_spans_keep_their_offsets(
    browser: Browser, sqlite_settings: Settings, size: str
):
    text = f"mail from {SPOOFED[len('attachment: ') :]} today"
    async with running(sqlite_settings) as service:
        await service.create_project(
            name="day", labels=["PER", "ORG"], task="spans", exploration=0.0
        )
        await service.send_events("day", [{"id": "spoofed", "data": {"text": text}}])
        page = await annotator_page(browser, service.base, "ana", project="day", **SIZES[size])
        await next_item(page, [])
        box = page.get_by_test_id("span-text")
        await expect(box.locator(".bidi-control")).to_have_text("\u27e8RLO\u27e9")
        at = await page.evaluate(DRAWN_AT, ["evil", "exe", "txt"])
        assert at["evil"] < at["exe"] < at["txt"], at
        # A span after the control is stored at its offsets in the text as it came.
        today = box.locator(".tok", has_text="today")
        if size == "phone":
            await today.tap()
            await page.locator('#labels button[data-label="ORG"]').tap()
            await page.get_by_test_id("submit").tap()
        else:
            await today.click()
            await page.keyboard.press("2")
            await page.keyboard.press("Enter")
        await expect(page.locator("#idle")).to_be_visible(timeout=PATIENCE_MS)
        start = text.index("today")
        spans = (await stored(service, "day"))[0][1]
        assert [(s["start"], s["end"], s["label"]) for s in spans] == [(start, start + 5, "ORG")]


async def test_a_reviewer_settles_on_a_label_past_the_ninth_by_the_key_its_badge_shows(
    browser: Browser, sqlite_settings: Settings
):
    async with running(sqlite_settings) as service:
        await service.create_project(
            name="day", labels=TWENTY, overlap={"share": 1.0, "annotators": 2}, exploration=0.0
        )
        await service.send_events("day", [{"id": "e0", "data": {"text": "ticket 0"}}])
        for name, label in (("alice", "topic-01"), ("bob", "topic-02")):
            socket: Socket
            async with service.annotator("day", name) as socket:
                item = (await socket.expect("item"))["item"]["id"]
                assert (await socket.label(item, label, f"{name}-{item}"))["type"] == "ack"
        page = await (await browser.new_context(**DESKTOP)).new_page()
        await page.goto(f"{service.base}/static/review.html?project=day&reviewer=rita")
        await next_item(page, [])
        shown = await badges(page)
        assert shown["topic-10"] == "Q" and shown["topic-19"] is None, shown
        await page.keyboard.press("q")
        await expect(page.locator("#idle")).to_be_visible(timeout=PATIENCE_MS)
        assert (await stored(service, "day"))[-1] == ("e0", "topic-10")
