"""Span projects in a real browser: the annotator marks spans in a text by mouse, by keys alone
and by touch, keeps, changes or removes the model's; the reviewer settles on spans; the dashboard
shows span figures; the home page creates a span project.

What was given is checked where it counts: the spans the store holds (as ``streamloop export``
writes them), in code points. The texts hold what UTF-16 counts differently (an emoji ZWJ
sequence, a flag), combining marks, and a right-to-left script, so that an offset counted in
the wrong units, or an arrow key moving the wrong way, changes what is stored.
"""

from __future__ import annotations

import json
import re
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest
from playwright.async_api import Browser, Locator, Page, WebSocketRoute, expect

from browser.pages import (
    NOT_YET,
    PATIENCE_MS,
    TRUSTED,
    annotator_page,
    answerable,
    next_item,
    teach,
    watch_csp,
)
from streamloop.config import Settings
from streamloop.online import tokenize
from streamloop.streams.export import export_labels
from support import running

pytestmark = pytest.mark.browser

LABELS = ["PER", "ORG", "LOC"]
PHONE = {"viewport": {"width": 390, "height": 844}, "has_touch": True, "is_mobile": True}
#: The smallest touch target worth the name (WCAG 2.5.5 asks 44 CSS px).
TOUCH_PX = 44

#: A woman technologist (three code points, five UTF-16 units) before the names.
EMOJI = "Ada \U0001f469\u200d\U0001f4bb met Bob Smith at IBM in Z\u00fcrich."
#: Hebrew, right to left: "David lives in Tel Aviv and works at Google".
HEBREW = " ".join(["דוד", "גר", "בתל", "אביב", "ועובד", "בגוגל"])
#: "Nguyễn" spelled with combining marks (8 code points), and a flag (two code points).
MARKS = "Nguye\u0302\u0303n joined Acme \U0001f1eb\U0001f1f7 today"


def at(text: str, words: str, label: str, score: float | None = None) -> dict[str, Any]:
    """The span of ``words`` in ``text``, in code points (Python's string indices)."""
    start = text.index(words)
    span: dict[str, Any] = {"start": start, "end": start + len(words), "label": label}
    if score is not None:
        span["score"] = score
    return span


def plain(spans: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Spans as an answer holds them: start, end and label, in text order."""
    return sorted(
        ({key: span[key] for key in ("start", "end", "label")} for span in spans),
        key=lambda span: (span["start"], span["end"]),
    )


async def ner(service: Any, **spec: Any) -> None:
    """A span project, ner, with no events yet."""
    await service.create_project(
        name="ner", labels=LABELS, task="spans", **{"exploration": 0.0, **spec}
    )


async def send(service: Any, event_id: str, text: str) -> None:
    await service.send_events("ner", [{"id": event_id, "data": {"text": text}}])


async def stored(service: Any) -> list[tuple[str, str | None, list[dict[str, Any]], bool]]:
    """Every answer stored, in learning order: (item, who, its spans, whether it corrects one)."""
    store = service.core.store
    rows = await store.run(lambda: list(export_labels(store, "ner")))
    return [
        (
            row["event_id"],
            row["annotator"] or row["source"],
            plain(row["spans"]),
            bool(row["corrects"]),
        )
        for row in rows
    ]


def suggesting(suggestions: dict[str, list[dict[str, Any]] | None], sent: dict[str, Any]) -> Any:
    """A socket route that passes everything through, keeps each item the server sent in
    ``sent``, and gives the items named in ``suggestions`` those spans as the model's, with a
    record that earns them a place on screen (`TRUSTED`); None: a model with nothing to suggest
    yet, not tested on enough labels (`NOT_YET`)."""

    def route(page_side: WebSocketRoute) -> None:
        server_side = page_side.connect_to_server()

        def from_server(raw: str | bytes) -> None:
            message = json.loads(raw)
            if message["type"] == "item":
                item = message["item"]
                sent[item["id"]] = dict(item)
                if item["id"] in suggestions:
                    spans = suggestions[item["id"]]
                    item["spans"] = spans
                    item["track_record"] = NOT_YET if spans is None else TRUSTED
                    raw = json.dumps(message)
            page_side.send(raw)

        server_side.on_message(from_server)

    return route


def mark(page: Page, text: str, words: str) -> Locator:
    """The mark of the span over ``words``."""
    span = at(text, words, "")
    return page.locator(f'mark.span[data-start="{span["start"]}"][data-end="{span["end"]}"]')


def token(page: Page, text: str, words: str) -> Locator:
    """The token that starts ``words`` (a word of the text)."""
    return page.locator(f'.span-text .tok[data-start="{text.index(words)}"]')


async def drag(page: Page, first: Locator, last: Locator) -> None:
    """Press the mouse on ``first``, move over to ``last``, let go."""
    start, end = await first.bounding_box(), await last.bounding_box()
    assert start is not None and end is not None
    await page.mouse.move(start["x"] + 2, start["y"] + start["height"] / 2)
    await page.mouse.down()
    await page.mouse.move(end["x"] + end["width"] - 2, end["y"] + end["height"] / 2, steps=6)
    await page.mouse.up()


#: The text a span editor shows, without its spans' tags and remove buttons.
SHOWN_TEXT = """(box) => {
    const copy = box.cloneNode(true);
    for (const node of copy.querySelectorAll(".span-tag, .span-remove")) node.remove();
    return copy.textContent;
}"""


async def expect_marks(page: Page, text: str, spans: list[dict[str, Any]]) -> None:
    """The text shows ``spans`` marked, and no other, each with its label; and the text is
    whole, each character once (a span made or removed redraws its own stretch only)."""
    marks = page.locator(".span-text mark.span")
    await expect(marks).to_have_count(len(spans))
    for n, span in enumerate(plain(spans)):
        shown = marks.nth(n)
        await expect(shown).to_have_attribute("data-start", str(span["start"]))
        await expect(shown).to_have_attribute("data-end", str(span["end"]))
        await expect(shown).to_have_attribute("data-label", span["label"])
        words = text[span["start"] : span["end"]]
        await expect(shown).to_have_attribute(
            "aria-label", re.compile(f"^{span['label']}: “{re.escape(words)}”")
        )
    assert await page.get_by_test_id("span-text").evaluate(SHOWN_TEXT) == text


async def saved(page: Page, done: int) -> None:
    """Wait until ``done`` answers are acked and none waits."""
    await expect(page.get_by_test_id("done")).to_have_text(str(done), timeout=PATIENCE_MS)
    await expect(page.get_by_test_id("pending")).to_have_text("0", timeout=PATIENCE_MS)


async def test_an_annotator_keeps_changes_removes_and_makes_spans_with_the_mouse(
    browser: Browser, sqlite_settings: Settings
):
    async with running(sqlite_settings) as service:
        await ner(service)
        await send(service, "evt-0", EMOJI)
        suggestions = {
            "evt-0": [
                at(EMOJI, "Ada", "PER", 0.91),  # right: kept as it is
                at(EMOJI, "Bob Smith", "ORG", 0.62),  # the wrong label: relabelled
                at(EMOJI, "met", "LOC", 0.3),  # no entity: removed
                at(EMOJI, "at IBM", "ORG", 0.55),  # too wide: adjusted to "IBM"
            ]
        }
        sent: dict[str, Any] = {}
        context = await browser.new_context()
        violations = await watch_csp(context)
        page = await context.new_page()
        await page.route_web_socket(re.compile(r"/annotate\?"), suggesting(suggestions, sent))
        await page.goto(f"{service.base}/static/annotate.html?project=ner&annotator=ana")
        await next_item(page, [])
        # The server's tokens, in code points, are the words a selection snaps to.
        assert sent["evt-0"]["tokens"][1] == [4, 7], sent["evt-0"]["tokens"]
        await expect(page.locator("#keys-spans")).to_be_visible()
        await expect(page.locator("#keys-classify")).to_be_hidden()
        await expect(page.locator("#labels button")).to_have_text(["1 PER", "2 ORG", "3 LOC"])
        # The model's spans are in the answer already, dashed, with their scores.
        await expect_marks(page, EMOJI, suggestions["evt-0"])
        await expect(page.locator('mark.span[data-origin="suggested"]')).to_have_count(4)
        await expect(mark(page, EMOJI, "Ada")).to_have_attribute("title", re.compile("91 % sure"))
        await expect(mark(page, EMOJI, "Ada").locator(".span-tag")).to_have_text("PER 91 %")
        await expect(page.get_by_test_id("submit")).to_have_text("Submit 4 spans Enter")

        # Relabel: a click on a span selects it; a label button gives it that label.
        await token(page, EMOJI, "Bob").click()
        await expect(mark(page, EMOJI, "Bob Smith")).to_have_class(re.compile("selected"))
        await page.locator('#labels button[data-label="PER"]').click()
        # Remove: the span's own remove button.
        await mark(page, EMOJI, "met").locator(".span-remove").click()
        # Adjust: a click on "IBM" selects the span over "at IBM", a second click the word
        # alone; labelled, it replaces the span.
        await token(page, EMOJI, "IBM").click()
        await expect(page.locator(".span-text .tok.selected")).to_have_text(["at", "IBM"])
        await token(page, EMOJI, "IBM").click()
        await expect(page.locator(".span-text .tok.selected")).to_have_text(["IBM"])
        await page.locator('#labels button[data-label="ORG"]').click()
        # Make: a drag from "in" to "Zürich" selects both words; LOC labels them, and the new
        # span stays selected. Shrink it: a click on "Zürich" in it selects the word alone,
        # and LOC makes that the span.
        await drag(page, token(page, EMOJI, "in Z"), token(page, EMOJI, "Z\u00fcrich"))
        await expect(page.locator(".span-text .tok.selected")).to_have_text(["in", "Zürich"])
        await page.locator('#labels button[data-label="LOC"]').click()
        await expect(mark(page, EMOJI, "in Z\u00fcrich")).to_have_attribute("data-label", "LOC")
        await token(page, EMOJI, "Z\u00fcrich").click()
        await expect(page.locator(".span-text .tok.selected")).to_have_text(["Zürich"])
        await page.locator('#labels button[data-label="LOC"]').click()
        expected = [
            at(EMOJI, "Ada", "PER"),
            at(EMOJI, "Bob Smith", "PER"),
            at(EMOJI, "IBM", "ORG"),
            at(EMOJI, "Z\u00fcrich", "LOC"),
        ]
        await expect_marks(page, EMOJI, expected)
        await expect(page.get_by_test_id("span-list")).to_have_text(
            "4 spans: PER “Ada”, PER “Bob Smith”, ORG “IBM”, LOC “Zürich”"
        )
        # Kept as suggested stays dashed; changed or made is the annotator's.
        await expect(page.locator('mark.span[data-origin="suggested"]')).to_have_count(1)
        await page.get_by_test_id("submit").click()
        await saved(page, 1)
        assert await stored(service) == [("evt-0", "ana", plain(expected), False)]
        await page.evaluate("() => new Promise(requestAnimationFrame)")
        assert violations == []


async def test_an_annotator_does_it_all_by_keys_in_a_right_to_left_text_and_corrects(
    browser: Browser, sqlite_settings: Settings
):
    async with running(sqlite_settings) as service:
        await ner(service)
        await send(service, "heb", HEBREW)
        words = HEBREW.split(" ")  # דוד גר בתל אביב ועובד בגוגל
        suggestions = {
            "heb": [
                at(HEBREW, words[1], "LOC", 0.4),  # "lives": removed
                at(HEBREW, words[2], "ORG", 0.5),  # "Tel": widened to "Tel Aviv", and LOC
            ],
            "marks": None,  # the model has nothing to suggest
            "none": [],  # the model finds no span
        }
        sent: dict[str, Any] = {}
        page = await annotator_page(
            browser, service.base, "ana", suggesting(suggestions, sent), project="ner"
        )
        await next_item(page, [])
        box = page.get_by_test_id("span-text")
        await expect(box).to_have_attribute("dir", "auto")
        assert await box.evaluate("(node) => node.matches(':dir(rtl)')")
        # Right to left: Left goes on to the next word. The first press shows the cursor on
        # the first word; 1 makes it a PER span.
        await page.keyboard.press("ArrowLeft")
        await expect(page.locator(".span-text .tok.cursor")).to_have_text(words[0])
        await page.keyboard.press("1")
        await page.keyboard.press("ArrowLeft")
        await expect(page.locator(".span-text .tok.cursor")).to_have_text(words[1])
        await page.keyboard.press("Delete")  # "lives" is no place
        # "Tel" was suggested alone: Shift+Left takes in "Aviv", and 3 makes "Tel Aviv" LOC.
        await page.keyboard.press("ArrowLeft")
        await page.keyboard.press("Shift+ArrowLeft")
        await expect(page.locator(".span-text .tok.selected")).to_have_text(words[2:4])
        await page.keyboard.press("3")
        # "and works" and "at Google" made ORG together, too wide; then "at Google" alone,
        # selected with Shift (Right goes back a word, Left on again), and 2 makes that word
        # the ORG span: one word selected with Shift is a selection, not a cursor to relabel.
        await page.keyboard.press("ArrowLeft")
        await page.keyboard.press("Shift+ArrowLeft")
        await page.keyboard.press("2")
        await expect_marks(
            page,
            HEBREW,
            [
                at(HEBREW, words[0], "PER"),
                at(HEBREW, f"{words[2]} {words[3]}", "LOC"),
                at(HEBREW, f"{words[4]} {words[5]}", "ORG"),
            ],
        )
        await page.keyboard.press("ArrowLeft")
        await page.keyboard.press("Shift+ArrowRight")
        await expect(page.locator(".span-text .tok.selected")).to_have_text(words[4:6])
        await page.keyboard.press("Shift+ArrowLeft")
        await expect(page.locator(".span-text .tok.selected")).to_have_text([words[5]])
        await page.keyboard.press("2")
        first = [
            at(HEBREW, words[0], "PER"),
            at(HEBREW, f"{words[2]} {words[3]}", "LOC"),
            at(HEBREW, words[5], "ORG"),
        ]
        await expect_marks(page, HEBREW, first)
        await expect(page.get_by_test_id("submit")).to_have_text("Submit 3 spans Enter")
        await page.keyboard.press("Enter")
        await saved(page, 1)

        # Combining marks and a flag; the model suggests nothing: "Nguyễn" is PER, "Acme" ORG.
        # In an item's first moments no key changes or sends it: the second press of a double
        # one is not an answer to the item that appeared in between.
        await send(service, "marks", MARKS)
        await next_item(page, ["heb"], ready=False)
        for key in ("ArrowRight", "1", "Enter"):
            await page.keyboard.press(key)
        await answerable(page, "marks")
        await expect(page.locator(".span-text mark.span")).to_have_count(0)
        await expect(page.locator(".span-text .tok.cursor")).to_have_count(0)
        await expect(page.get_by_test_id("done")).to_have_text("1")
        await expect(page.get_by_test_id("no-suggestion")).to_contain_text("No suggestion yet")
        await expect(page.get_by_test_id("submit")).to_have_text("Submit: no spans Enter")
        for key in ("ArrowRight", "1", "ArrowRight", "ArrowRight", "2", "End"):
            await page.keyboard.press(key)
        await expect(page.locator(".span-text .tok.cursor")).to_have_text("today")
        await page.keyboard.press("Enter")
        await saved(page, 2)
        second = [at(MARKS, "Nguye\u0302\u0303n", "PER"), at(MARKS, "Acme", "ORG")]

        # Undo brings the answer back to correct: Acme is not an entity after all.
        await page.keyboard.press("u")
        await answerable(page, "marks")
        await expect(page.locator("#correcting")).to_contain_text(
            f"Correcting your answer: PER “{MARKS[:8]}”, ORG “Acme”."
        )
        await expect_marks(page, MARKS, second)
        await page.keyboard.press("End")
        for _ in range(2):
            await page.keyboard.press("ArrowLeft")  # the flag, then "Acme"
        await expect(page.locator(".span-text .tok.cursor")).to_have_text("Acme")
        await page.keyboard.press("Backspace")
        await page.keyboard.press("Enter")
        await saved(page, 2)

        # A text with no entity: Enter sends the empty set, which the button says.
        await send(service, "none", "thanks a lot")
        await next_item(page, ["heb", "marks"])
        await expect(page.get_by_test_id("span-list")).to_have_text(
            "No spans: submitting says this text has none."
        )
        await page.keyboard.press("Enter")
        await saved(page, 3)
        assert await stored(service) == [
            ("heb", "ana", plain(first), False),
            ("marks", "ana", plain(second), False),
            ("marks", "ana", plain(second[:1]), True),
            ("none", "ana", [], False),
        ]


async def test_on_a_phone_a_span_is_made_by_tapping_and_sent_by_the_button(
    browser: Browser, sqlite_settings: Settings
):
    async with running(sqlite_settings) as service:
        await ner(service)
        await send(service, "evt-0", EMOJI)
        suggestions = {"evt-0": [at(EMOJI, "met", "LOC", 0.3), at(EMOJI, "IBM", "ORG", 0.8)]}
        page = await annotator_page(
            browser, service.base, "ana", suggesting(suggestions, {}), project="ner", **PHONE
        )
        await next_item(page, [])
        # A tap starts a selection, the next tap extends it; a label button labels it.
        await token(page, EMOJI, "Bob").tap()
        await token(page, EMOJI, "Smith").tap()
        await expect(page.locator(".span-text .tok.selected")).to_have_text(["Bob", "Smith"])
        await page.locator('#labels button[data-label="PER"]').tap()
        # Tapping a span selects it; Remove span takes it out.
        await token(page, EMOJI, "met").tap()
        await page.get_by_test_id("remove-span").tap()
        await token(page, EMOJI, "Ada").tap()
        await page.locator('#labels button[data-label="PER"]').tap()
        expected = [at(EMOJI, "Ada", "PER"), at(EMOJI, "Bob Smith", "PER"), at(EMOJI, "IBM", "ORG")]
        await expect_marks(page, EMOJI, expected)
        # Each control is a touch target, and the page fits the screen.
        controls = page.locator("#labels button, #set-actions button, #item-actions button:visible")
        for n in range(await controls.count()):
            box = await controls.nth(n).bounding_box()
            assert box is not None and box["height"] >= TOUCH_PX and box["width"] >= TOUCH_PX, box
        width = await page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"the annotator app is {width} px wide on a 390 px screen"
        await page.get_by_test_id("submit").tap()
        await saved(page, 1)
        assert await stored(service) == [("evt-0", "ana", plain(expected), False)]


async def test_the_models_own_suggestions_are_shown_and_kept_when_accepted(
    browser: Browser, sqlite_settings: Settings
):
    async with running(sqlite_settings) as service:
        await ner(service)
        # Fifteen labels, of three shapes: enough to suggest something, and for its record to
        # earn a place on screen (beating both a guess and the commonest answer).
        shapes = [
            ("Alice Moreau visited Lyon on day {n}", "Alice Moreau", "Lyon"),
            ("On day {n} Bruno Keller flew to Oslo", "Bruno Keller", "Oslo"),
            ("Clara Diaz has lived in Porto since {n}", "Clara Diaz", "Porto"),
        ]
        taught = []
        for n in range(15):
            shape, person, place = shapes[n % 3]
            said = shape.format(n=n)
            spans = [at(said, person, "PER"), at(said, place, "LOC")]
            taught.append(({"text": said}, spans))
        await teach(service, "ner", taught)
        text = "Alice Moreau visited Lyon \U0001f3d9 again"
        await send(service, "new", text)
        sent: dict[str, Any] = {}
        page = await annotator_page(
            browser, service.base, "ana", suggesting({}, sent), project="ner"
        )
        await next_item(page, [])
        suggested = sent["new"]["spans"]
        assert suggested, sent["new"]  # the model learned enough to suggest something
        record = sent["new"]["track_record"]
        assert record["trusted"], sent["new"]
        await expect_marks(page, text, suggested)
        await expect(page.get_by_test_id("suggested")).to_have_text(
            ", ".join(f"{s['label']} “{text[s['start'] : s['end']]}”" for s in plain(suggested))
        )
        await expect(page.get_by_test_id("track-record")).to_have_text(
            f" · right on {record['right']} of the last {record['of']} items answered"
        )
        await page.keyboard.press("Enter")
        await saved(page, 1)
        assert (await stored(service))[-1] == ("new", "ana", plain(suggested), False)


async def test_a_reviewer_sees_each_answers_spans_and_settles_on_spans(
    browser: Browser, sqlite_settings: Settings
):
    async with running(sqlite_settings) as service:
        await ner(service, overlap={"share": 1.0, "annotators": 2})
        await send(service, "evt-0", EMOJI)
        answers = {
            "alice": [
                at(EMOJI, "Ada", "PER"),
                at(EMOJI, "Bob Smith", "PER"),
                at(EMOJI, "IBM", "ORG"),
            ],
            "bob": [at(EMOJI, "Ada", "PER"), at(EMOJI, "Bob", "PER"), at(EMOJI, "IBM", "LOC")],
        }
        for name, spans in answers.items():
            async with service.annotator("ner", name) as socket:
                item = (await socket.next_item())["item"]
                await socket.send(
                    {"type": "label", "item_id": item["id"], "spans": spans, "label_id": name}
                )
                assert (await socket.expect("ack", "error"))["type"] == "ack"
        assert (await service.metrics("ner"))["review"]["waiting"] == 1

        context = await browser.new_context()
        violations = await watch_csp(context)
        page = await context.new_page()
        await page.goto(f"{service.base}/static/review.html?project=ner&reviewer=rita")
        await answerable(page, "evt-0")
        alice, bob = (page.locator(f'#said li[data-annotator="{name}"]') for name in answers)
        await expect(alice).to_contain_text("alice said PER “Ada”, PER “Bob Smith”, ORG “IBM”")
        await expect(alice).to_contain_text("learned")
        await expect(bob).to_contain_text("bob said PER “Ada”, PER “Bob”, LOC “IBM”")
        # The words a selection snaps to are the server's tokens.
        shown = await page.locator(".span-text .tok").evaluate_all(
            "(tokens) => tokens.map((t) => [Number(t.dataset.start), Number(t.dataset.end)])"
        )
        assert shown == [[t.start, t.end] for t in tokenize(EMOJI)]
        # The editor starts from what both said; either answer can be the start instead.
        await expect_marks(page, EMOJI, [at(EMOJI, "Ada", "PER")])
        await alice.get_by_test_id("start-from").click()
        await expect_marks(page, EMOJI, answers["alice"])
        await token(page, EMOJI, "IBM").click()
        await page.keyboard.press("3")  # IBM is a place here, as bob said
        await expect(page.get_by_test_id("submit")).to_have_text("Settle 3 spans Enter")
        await page.keyboard.press("Enter")
        await expect(page.locator("#idle")).to_be_visible(timeout=PATIENCE_MS)
        settled = [at(EMOJI, "Ada", "PER"), at(EMOJI, "Bob Smith", "PER"), at(EMOJI, "IBM", "LOC")]
        assert (await stored(service))[-1] == ("evt-0", "rita", plain(settled), False)

        # The dashboard's agreement on spans: span F1 between annotators, in alpha's place, per
        # label and per pair (in kappa's).
        agreement = (await service.metrics("ner"))["agreement"]
        assert agreement["measure"] == "span_f1" and agreement["f1"] is not None, agreement
        dashboard = await context.new_page()
        await dashboard.goto(f"{service.base}/static/dashboard.html?project=ner")
        await expect(dashboard.get_by_test_id("alpha")).to_have_text(
            fixed(agreement["f1"], "0.01"), timeout=PATIENCE_MS
        )
        await expect(dashboard.locator("#alpha-name")).to_have_text("Span F1 between annotators")
        await expect(dashboard.get_by_test_id("alpha-per-label")).to_contain_text(
            "Span F1 per label: "
        )
        await expect(dashboard.locator('#kappa td[data-pair="alice:bob"]')).to_have_attribute(
            "title", re.compile("^span F1 of alice and bob")
        )
        await expect(dashboard.get_by_test_id("kappa-hint")).to_be_hidden()
        for shown in (page, dashboard):
            await shown.evaluate("() => new Promise(requestAnimationFrame)")
        assert violations == []


def fixed(value: float, places: str) -> str:
    """``value`` as JavaScript's toFixed writes it (a tie rounds away from zero)."""
    return str(Decimal(value).quantize(Decimal(places), ROUND_HALF_UP))


def percent(value: float | None) -> str:
    """A ratio as the pages show it."""
    return "\u2013" if value is None else f"{fixed(100 * value, '0.1')} %"


async def test_the_dashboard_shows_span_figures_per_label_and_no_confusion(
    browser: Browser, sqlite_settings: Settings
):
    async with running(sqlite_settings) as service:
        await ner(service, exploration=1.0)  # every item drawn at random: figures over draws
        texts = [f"Ada met Bob in Paris {n}" for n in range(4)]
        await service.send_events(
            "ner", [{"id": f"e{n}", "data": {"text": text}} for n, text in enumerate(texts)]
        )
        async with service.annotator("ner", "alice") as socket:
            for n in range(3):
                item = (await socket.next_item())["item"]
                text = item["data"]["text"]
                spans = [at(text, "Ada", "PER"), at(text, "Paris", "LOC")]
                await socket.send(
                    {"type": "label", "item_id": item["id"], "spans": spans, "label_id": f"a{n}"}
                )
                assert (await socket.expect("ack", "error", keep_items=True))["type"] == "ack"
        metrics = await service.metrics("ner")
        unbiased = metrics["spans"]["unbiased"]
        page = await (await browser.new_context()).new_page()
        await page.goto(f"{service.base}/static/dashboard.html?project=ner")
        await expect(page.get_by_test_id("labels_total")).to_have_text("3", timeout=PATIENCE_MS)
        await expect(page.locator("#spans")).to_be_visible()
        await expect(page.locator("#multilabel")).to_be_hidden()
        await expect(page.locator("#confusion-card")).to_be_hidden()
        for key in ("f1", "rolling_f1", "precision", "recall", "macro_f1", "token_accuracy"):
            await expect(page.get_by_test_id(f"span_{key}")).to_have_text(percent(metrics[key]))
        for key in ("f1", "precision", "recall", "token_accuracy"):
            await expect(page.get_by_test_id(f"span_unbiased_{key}")).to_have_text(
                percent(unbiased[key])
            )
        await expect(page.get_by_test_id("span_unbiased_labels_total")).to_have_text(
            str(unbiased["labels_total"])
        )
        await expect(page.locator("#accuracy")).to_have_text(percent(metrics["accuracy"]))
        await expect(page.locator("#accuracy-name")).to_have_text(
            "Exact match on annotators' items"
        )
        heads = page.locator("#per-class thead th:visible")
        await expect(heads).to_have_text(["Label", "Precision", "Recall", "F1", "Support"])
        for label, figures in metrics["per_class"].items():
            row = page.locator(f'#per-class tr[data-label="{label}"]')
            await expect(row.locator("td")).to_have_text(
                [
                    label,
                    percent(figures["precision"]),
                    percent(figures["recall"]),
                    percent(figures["f1"]),
                    str(figures["support"]),
                ]
            )


async def test_the_home_page_creates_a_span_project_of_text(
    browser: Browser, sqlite_settings: Settings
):
    async with running(sqlite_settings) as service:
        page = await (await browser.new_context()).new_page()
        await page.goto(f"{service.base}/")
        await page.fill("[name=name]", "entities")
        await page.fill("[name=labels]", "PER, ORG")
        await page.select_option("[name=input]", "tabular")
        await page.select_option("[name=task]", "spans")
        # Spans are marked in text, by the one model a span project takes.
        await expect(page.locator("[name=input]")).to_have_value("text")
        await expect(page.locator('[name=input] option[value="tabular"]')).to_be_disabled()
        await expect(page.locator("[name=strategy] option")).to_have_text(
            ["least_confidence", "token_entropy", "total_token_entropy", "min_margin", "random"]
        )
        models = page.locator("[name=model] option")
        await expect(models.filter(has_text=re.compile("^naive_bayes$"))).to_be_disabled()
        await expect(models.filter(has_text=re.compile("^logistic_regression$"))).to_be_enabled()
        await page.select_option("[name=strategy]", "token_entropy")
        await page.press("[name=labels]", "Enter")
        await page.wait_for_url("**/dashboard.html?project=entities", timeout=PATIENCE_MS)
        project = (await service.http.get("/api/projects/entities")).json()
        assert (project["task"], project["input"], project["model"], project["strategy"]) == (
            "spans",
            "text",
            "logistic_regression",
            "token_entropy",
        )
        await page.goto(f"{service.base}/")
        await expect(page.locator('[data-settings="entities"]')).to_have_text(
            "text \u00b7 spans \u00b7 logistic_regression \u00b7 token_entropy",
            timeout=PATIENCE_MS,
        )


#: Texts the tokenizer treats each in its own way: punctuation, decomposed accents, emoji with
#: skin tones and joiners, flags, points, scripts without spaces, joiners, tag sequences.
TOKENIZED = [
    "Dr. O'Neil paid $4.50 in Z\u00fcrich!",
    MARKS,
    "great \U0001f44d\U0001f3fd\U0001f469\u200d\U0001f4bb \U0001f1eb\U0001f1f7",
    "\u05e9\u05c1\u05b8\u05dc\u05d5\u05b9\u05dd \u05e2\u05d5\u05b9\u05dc\u05b8\u05dd",
    "\u0928\u092e\u0938\u094d\u0924\u0947 \u0926\u0941\u0928\u093f\u092f\u093e",
    "\u6771\u4eac\u90fd\u306b\u4f4f\u3080",
    "\u0645\u0631\u062d\u0628\u0627 \u0628\u0627\u0644\u0639\u0627\u0644\u0645\u060c"
    " \u0643\u064a\u0641\u061f",
    "a\u200cb c\u200d tab\tnew\nline  \u00bd \u216b x_y",
    "\U0001f3f4\U000e0067\U000e0062\U000e0065\U000e006e\U000e0067\U000e007f co-op",
]


async def test_the_pages_own_tokenizer_cuts_text_as_the_server_does(
    browser: Browser, sqlite_settings: Settings
):
    # Items carry their tokens; the page cuts a text itself only when they are missing, and
    # must then cut it as the server would, in code points.
    async with running(sqlite_settings) as service:
        page = await (await browser.new_context()).new_page()
        await page.goto(f"{service.base}/static/review.html")
        cut = await page.evaluate(
            "(texts) => import('/static/spantext.js').then((m) => texts.map(m.tokenize))", TOKENIZED
        )
        assert cut == [[[t.start, t.end] for t in tokenize(text)] for text in TOKENIZED]
