"""Multilabel projects in a real browser: the annotator toggles a set and submits it, the
reviewer settles on a set, the dashboard shows set figures, the home page the task.

What an annotator or reviewer gave is checked where it counts: the sets the store holds (as
``streamloop export`` writes them) and the server's metrics.
"""

from __future__ import annotations

import json
import re
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest
from playwright.async_api import Browser, Page, WebSocketRoute, expect

from browser.pages import PATIENCE_MS, annotator_page, answerable, next_item, teach, watch_csp
from streamloop.config import Settings
from streamloop.streams.export import export_labels
from support import Socket, running

pytestmark = pytest.mark.browser

LABELS = ["billing", "bug", "ui"]
WORDS = {"billing": "charged refund", "bug": "crash error", "ui": "button layout"}
PHONE = {"viewport": {"width": 390, "height": 844}, "has_touch": True, "is_mobile": True}
#: The smallest touch target worth the name (WCAG 2.5.5 asks 44 CSS px).
TOUCH_PX = 44


def truth(n: int) -> list[str]:
    """Item n's labels: every subset of the labels in turn."""
    return [label for bit, label in enumerate(LABELS) if (n >> bit) & 1]


def events(count: int) -> list[dict[str, Any]]:
    return [
        {
            "id": f"evt-{n}",
            "data": {"text": f"{' '.join(WORDS[x] for x in truth(n)) or 'thanks'} number {n}"},
        }
        for n in range(count)
    ]


async def topics(service: Any, count: int = 6, **spec: Any) -> None:
    """A multilabel project, topics, with ``count`` events."""
    spec = {"exploration": 0.0, **spec}
    await service.create_project(
        name="topics", labels=LABELS, task="multilabel", model="naive_bayes", **spec
    )
    await service.send_events("topics", events(count))


async def stored(service: Any) -> list[tuple[str, str | None, list[str], bool]]:
    """Every answer stored, in learning order: (item, who, the set, whether it corrects one)."""
    store = service.core.store
    rows = await store.run(lambda: list(export_labels(store, "topics")))
    return [
        (row["event_id"], row["annotator"] or row["source"], row["labels"], bool(row["corrects"]))
        for row in rows
    ]


async def expect_pressed(page: Page, pressed: list[str]) -> None:
    """The toggles pressed are ``pressed``, and only they."""
    for label in LABELS:
        toggle = page.locator(f'#labels button[data-label="{label}"]')
        await expect(toggle).to_have_attribute(
            "aria-pressed", "true" if label in pressed else "false"
        )


#: What the dashboard shows for a kappa or alpha that is undefined.
DASH = "\u2014"


def fixed(value: float, places: str) -> str:
    """``value`` as JavaScript's toFixed writes it (a tie rounds away from zero)."""
    return str(Decimal(value).quantize(Decimal(places), ROUND_HALF_UP))


def percent(value: float | None) -> str:
    """A ratio as the pages show it."""
    return "\u2013" if value is None else f"{fixed(100 * value, '0.1')} %"


async def test_an_annotator_toggles_by_key_submits_with_enter_answers_none_with_0_and_corrects(
    browser: Browser, sqlite_settings: Settings
):
    async with running(sqlite_settings) as service:
        await topics(service)
        context = await browser.new_context()
        violations = await watch_csp(context)
        page = await context.new_page()
        await page.goto(f"{service.base}/static/annotate.html?project=topics&annotator=ana")
        toggles = page.locator("#labels button")
        submit = page.get_by_test_id("submit")
        notice = page.locator("#notice")
        first = await next_item(page, [])
        # The model knows nothing yet: no label's probability is shown, none is selected.
        await expect(toggles).to_have_text(["1 billing", "2 bug", "3 ui"])
        await expect(page.locator("#keys-multilabel")).to_be_visible()
        await expect(page.locator("#keys-classify")).to_be_hidden()
        await expect(page.get_by_test_id("content")).to_be_focused()
        await expect_pressed(page, [])
        await expect(submit).to_be_disabled()
        # Nothing selected: Enter sends nothing (an empty set is 0's alone), and says so.
        await page.keyboard.press("Enter")
        await expect(notice).to_contain_text("press 0 for none of these")
        await page.keyboard.press("0")  # none of these
        second = await next_item(page, [first])
        await expect(page.get_by_test_id("done")).to_have_text("1", timeout=PATIENCE_MS)

        # A key toggles its label (3 on, then off); Space in between sends nothing.
        for key in ("1", "3", "Space", "3", "2"):
            await page.keyboard.press(key)
        await expect_pressed(page, ["billing", "bug"])
        await expect(submit).to_be_enabled()
        # Selected shows by shape, not colour alone: a tick in the label's box.
        tick = "(box) => getComputedStyle(box, '::before').content"
        assert await toggles.first.locator(".check").evaluate(tick) == '"\u2713"'
        assert await toggles.nth(2).locator(".check").evaluate(tick) in ("none", "normal")
        # Nor does Space on the Submit button, reached by keyboard: Enter is the one key.
        await submit.focus()
        await page.keyboard.press("Space")
        await expect(notice).to_contain_text("Space never does")
        await page.keyboard.press("Enter")
        third = await next_item(page, [first, second])
        await expect_pressed(page, [])  # the next item starts afresh
        await expect(page.get_by_test_id("done")).to_have_text("2", timeout=PATIENCE_MS)

        # Undo: the last answer comes back as it was given, to be corrected, as a set.
        await page.keyboard.press("u")
        await answerable(page, second)
        await expect(page.locator("#correcting")).to_contain_text("billing, bug")
        await expect_pressed(page, ["billing", "bug"])
        for key in ("2", "3", "Enter"):
            await page.keyboard.press(key)
        await expect(page.get_by_test_id("pending")).to_have_text("0", timeout=PATIENCE_MS)
        await expect(page.locator("#item")).to_have_attribute("data-item-id", third)
        await expect_pressed(page, [])

        metrics = await service.metrics("topics")
        assert metrics["labels_total"] == 2 and metrics["model_version"] == 3
        assert metrics["annotators"]["ana"]["corrections"] == 1
        assert await stored(service) == [
            (first, "ana", [], False),
            (second, "ana", ["billing", "bug"], False),
            (second, "ana", ["billing", "ui"], True),
        ]
        await page.evaluate("() => new Promise(requestAnimationFrame)")
        assert violations == []


async def test_on_a_phone_labels_are_toggled_by_tapping_and_sent_by_the_buttons(
    browser: Browser, sqlite_settings: Settings
):
    async with running(sqlite_settings) as service:
        await topics(service)
        page = await annotator_page(browser, service.base, "ana", project="topics", **PHONE)
        first = await next_item(page, [])
        for label in ("billing", "ui", "ui", "bug"):
            await page.locator(f'#labels button[data-label="{label}"]').tap()
        await expect_pressed(page, ["billing", "bug"])
        # Each control is a touch target, and the page fits the screen.
        controls = page.locator("#labels button, #set-actions button")
        await expect(controls).to_have_count(5)
        for n in range(5):
            box = await controls.nth(n).bounding_box()
            assert box is not None and box["height"] >= TOUCH_PX and box["width"] >= TOUCH_PX, box
        width = await page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"the annotator app is {width} px wide on a 390 px screen"

        await page.get_by_test_id("submit").tap()
        second = await next_item(page, [first])
        await expect_pressed(page, [])
        await page.get_by_test_id("none").tap()
        await next_item(page, [first, second])
        await expect(page.get_by_test_id("done")).to_have_text("2", timeout=PATIENCE_MS)
        await expect(page.get_by_test_id("pending")).to_have_text("0")
        assert await stored(service) == [
            (first, "ana", ["billing", "bug"], False),
            (second, "ana", [], False),
        ]


def recording_items(items: dict[str, dict[str, Any]]) -> Any:
    """A socket route that passes everything through and keeps the items the server sent."""

    def route(page_side: WebSocketRoute) -> None:
        server_side = page_side.connect_to_server()

        def from_server(raw: str | bytes) -> None:
            message = json.loads(raw)
            if message["type"] == "item":
                items[message["item"]["id"]] = message["item"]
            page_side.send(raw)

        server_side.on_message(from_server)

    return route


@pytest.mark.parametrize("preselect", [True, False])
async def test_preselect_starts_from_the_models_predicted_set(
    browser: Browser, sqlite_settings: Settings, preselect: bool
):
    async with running(sqlite_settings) as service:
        await service.create_project(
            name="topics",
            labels=LABELS,
            task="multilabel",
            model="naive_bayes",
            exploration=0.0,
            preselect=preselect,
        )
        # Enough for the model to predict bug for a crash, and for its record to earn its
        # suggestion a place on screen (beating both a guess and the commonest set).
        kinds = [(WORDS[label], [label]) for label in ("bug", "billing", "ui")]
        taught = [({"text": f"{kinds[n % 3][0]} taught {n}"}, kinds[n % 3][1]) for n in range(15)]
        await teach(service, "topics", taught)
        crashes = [{"id": f"c{n}", "data": {"text": f"crash error number {n}"}} for n in range(5)]
        await service.send_events("topics", crashes)

        sent: dict[str, dict[str, Any]] = {}
        page = await annotator_page(
            browser, service.base, "ana", recording_items(sent), project="topics"
        )
        item = await next_item(page, [])
        predicted = sent[item]["labels"]
        assert predicted == ["bug"], sent[item]
        record = sent[item]["track_record"]
        assert record["trusted"], sent[item]
        await expect(page.get_by_test_id("suggested")).to_have_text("bug")
        await expect(page.get_by_test_id("track-record")).to_have_text(
            f" · right on {record['right']} of the last {record['of']} items answered"
        )
        # Each label's own probability is shown as a hint, selected or not.
        await expect(page.locator('#labels button[data-label="bug"] .hint-value')).to_have_text(
            f"{100 * sent[item]['probabilities']['bug']:.0f} %"
        )
        await expect_pressed(page, predicted if preselect else [])

        # Enter sends the set as it stands: the model's, if preselected; else nothing is
        # selected, and only 0 answers none.
        await page.keyboard.press("Enter")
        if not preselect:
            await expect(page.locator("#notice")).to_contain_text("Nothing is selected")
            await page.keyboard.press("0")
        await expect(page.get_by_test_id("done")).to_have_text("1", timeout=PATIENCE_MS)
        assert (await stored(service))[-1] == (item, "ana", predicted if preselect else [], False)


async def label_sets(service: Any, name: str, answer: list[str]) -> None:
    """``name`` answers ``answer`` to every item offered, until idle."""
    socket: Socket
    async with service.annotator("topics", name) as socket:
        while (message := await socket.expect("item", "idle"))["type"] == "item":
            item_id = message["item"]["id"]
            ack = await socket.label(item_id, answer, f"{name}-{item_id}")
            assert ack["type"] == "ack", ack


async def test_a_reviewer_sees_each_set_and_settles_on_a_set(
    browser: Browser, sqlite_settings: Settings
):
    async with running(sqlite_settings) as service:
        await topics(service, 1, overlap={"share": 1.0, "annotators": 2})
        await label_sets(service, "alice", ["billing", "bug"])
        await label_sets(service, "bob", ["ui"])
        before = await service.metrics("topics")
        assert before["review"] == {"waiting": 1, "leased": 0}

        context = await browser.new_context()
        violations = await watch_csp(context)
        page = await context.new_page()
        await page.goto(f"{service.base}/static/review.html?project=topics&reviewer=rita")
        await answerable(page, "evt-0")
        said = page.get_by_test_id("said").locator("li")
        await expect(said.filter(has_text="alice")).to_contain_text("said billing, bug")
        await expect(said.filter(has_text="alice")).to_contain_text("learned")
        await expect(said.filter(has_text="bob")).to_contain_text("said ui")
        await expect(said.filter(has_text="bob")).not_to_contain_text("learned")
        # Every label can be chosen; each says how many said it, and a badge marks the labels
        # of the set the model learned, which a line names in full. None is selected: the
        # reviewer judges afresh, not from the set learned.
        await expect(page.locator("#labels button")).to_have_text(
            [
                "1 billing 1 of 2 said it learned",
                "2 bug 1 of 2 said it learned",
                "3 ui 1 of 2 said it",
            ]
        )
        await expect(page.locator("#labels button .badge")).to_have_count(2)
        await expect(page.locator('#labels button[data-marked="true"]')).to_have_count(2)
        await expect(page.locator('#labels button[data-label="ui"] .badge')).to_have_count(0)
        await expect(page.locator('#labels button[data-label="bug"]')).to_have_accessible_name(
            "2 bug 1 of 2 said it learned"
        )
        await expect(page.get_by_test_id("learned-note")).to_have_text(
            "The model learned alice's set: billing, bug. The set you settle on replaces it."
        )
        await expect_pressed(page, [])
        await expect(page.get_by_test_id("content")).to_be_focused()

        for key in ("2", "3"):
            await page.keyboard.press(key)
        await expect_pressed(page, ["bug", "ui"])
        # Space on Settle says which key settles, in the page's own words.
        await page.get_by_test_id("submit").focus()
        await page.keyboard.press("Space")
        await expect(page.locator("#notice")).to_have_text(
            "Press Enter to settle on the selected labels, or 0 for none of these: "
            "Space never does."
        )
        await page.get_by_test_id("content").focus()
        await page.keyboard.press("Enter")
        await expect(page.locator("#idle")).to_be_visible(timeout=PATIENCE_MS)
        await expect(page.get_by_test_id("done")).to_have_text("1")
        after = await service.metrics("topics")
        assert after["model_version"] == before["model_version"] + 1
        assert after["review"] == {"waiting": 0, "leased": 0}
        assert (await stored(service))[-1] == ("evt-0", "rita", ["bug", "ui"], False)

        # The dashboard's agreement on sets: alpha by the MASI distance, and each label's alpha.
        dashboard = await context.new_page()
        await dashboard.goto(f"{service.base}/static/dashboard.html?project=topics")
        await expect(dashboard.locator("#alpha_items")).to_contain_text("MASI", timeout=PATIENCE_MS)
        alphas = after["agreement"]["per_label"]
        await expect(dashboard.get_by_test_id("alpha-per-label")).to_be_visible()
        await expect(
            dashboard.get_by_test_id("alpha-per-label").locator("[data-alpha]")
        ).to_have_text(
            [f"{label} {DASH if a is None else fixed(a, '0.01')}" for label, a in alphas.items()]
        )
        for shown in (page, dashboard):
            await shown.evaluate("() => new Promise(requestAnimationFrame)")
        assert violations == []


async def test_the_dashboard_shows_set_figures_per_label_and_no_confusion(
    browser: Browser, sqlite_settings: Settings
):
    async with running(sqlite_settings) as service:
        # Every item drawn at random: the unbiased figures have labels to count.
        await topics(service, 4, exploration=1.0)
        await service.create_project(name="plain")  # a classify project, as before
        socket: Socket
        async with service.annotator("topics", "alice") as socket:
            for n in range(3):
                item = (await socket.next_item())["item"]
                answer = truth(int(item["id"].split("-")[1]))
                assert (await socket.label(item["id"], answer, f"a{n}"))["type"] == "ack"
        metrics = await service.metrics("topics")
        unbiased = metrics["multilabel"]["unbiased"]
        drawn = unbiased["labels_total"]
        assert drawn > 0 and unbiased["micro_f1"] is not None, unbiased

        context = await browser.new_context()
        violations = await watch_csp(context)
        page = await context.new_page()
        await page.goto(f"{service.base}/static/dashboard.html?project=topics")
        await expect(page.get_by_test_id("labels_total")).to_have_text("3", timeout=PATIENCE_MS)
        await expect(page.locator("#multilabel")).to_be_visible()
        await expect(page.locator("#confusion-card")).to_be_hidden()
        for key in ("micro_f1", "macro_f1", "hamming_loss", "exact_match"):
            await expect(page.get_by_test_id(key)).to_have_text(percent(metrics[key]))
            await expect(page.get_by_test_id(f"unbiased_{key}")).to_have_text(
                percent(unbiased[key])
            )
        await expect(page.get_by_test_id("unbiased_labels_total")).to_have_text(str(drawn))
        # The accuracy figures are the exact match of whole sets, and say so.
        await expect(page.locator("#accuracy")).to_have_text(percent(metrics["accuracy"]))
        await expect(page.locator("#accuracy-name")).to_have_text(
            "Exact match on annotators' items"
        )
        await expect(page.locator("#chart .legend")).to_contain_text("exact match")
        heads = page.locator("#per-class thead th")
        await expect(heads).to_have_text(
            ["Label", "Precision", "Recall", "F1", "Support", "Threshold"]
        )
        await expect(heads.filter(has_text="F1")).to_be_visible()
        for label, figures in metrics["per_class"].items():
            row = page.locator(f'#per-class tr[data-label="{label}"]')
            await expect(row.locator("td")).to_have_text(
                [
                    label,
                    percent(figures["precision"]),
                    percent(figures["recall"]),
                    percent(figures["f1"]),
                    str(figures["support"]),
                    "0.50",
                ]
            )

        plain = await context.new_page()
        await plain.goto(f"{service.base}/static/dashboard.html?project=plain")
        await expect(plain.get_by_test_id("labels_total")).to_have_text("0", timeout=PATIENCE_MS)
        await expect(plain.locator("#confusion-card")).to_be_visible()
        await expect(plain.locator("#multilabel")).to_be_hidden()
        await expect(plain.locator("#per-class thead th").filter(has_text="F1")).to_be_hidden()
        await expect(plain.locator("#accuracy-name")).to_have_text("Accuracy on annotators' items")
        for shown in (page, plain):
            await shown.evaluate("() => new Promise(requestAnimationFrame)")
        assert violations == []


#: The set figures a multilabel project's metrics carry at their top level.
SET_FIGURES = (
    "micro_f1",
    "macro_f1",
    "hamming_loss",
    "exact_match",
    "rolling_micro_f1",
    "rolling_exact_match",
)


async def test_the_dashboard_reads_each_set_figure_where_the_server_puts_it(
    browser: Browser, sqlite_settings: Settings
):
    # Each frame is rewritten: its set figures null at the top level, and a figure of the same
    # name under `multilabel` (which holds the thresholds and the figures over random draws):
    # a null reads as a dash, never as a figure from elsewhere in the frame.
    def route(page_side: WebSocketRoute) -> None:
        server_side = page_side.connect_to_server()

        def from_server(raw: str | bytes) -> None:
            message = json.loads(raw)
            if message["type"] == "metrics":
                message.update(dict.fromkeys(SET_FIGURES))
                message["multilabel"].update(dict.fromkeys(SET_FIGURES, 0.5))
                raw = json.dumps(message)
            page_side.send(raw)

        server_side.on_message(from_server)

    async with running(sqlite_settings) as service:
        await topics(service, 4, exploration=1.0)
        socket: Socket
        async with service.annotator("topics", "alice") as socket:
            for n in range(2):
                item = (await socket.next_item())["item"]
                answer = truth(int(item["id"].split("-")[1]))
                assert (await socket.label(item["id"], answer, f"a{n}"))["type"] == "ack"
        unbiased = (await service.metrics("topics"))["multilabel"]["unbiased"]
        page = await (await browser.new_context()).new_page()
        await page.route_web_socket(re.compile(r"/dashboard$"), route)
        await page.goto(f"{service.base}/static/dashboard.html?project=topics")
        await expect(page.get_by_test_id("labels_total")).to_have_text("2", timeout=PATIENCE_MS)
        for key in SET_FIGURES:
            await expect(page.locator(f"#{key}")).to_have_text("\u2013")
        for key in ("micro_f1", "macro_f1", "hamming_loss", "exact_match"):
            await expect(page.get_by_test_id(f"unbiased_{key}")).to_have_text(
                percent(unbiased[key])
            )


async def test_the_home_page_shows_the_task_and_creates_a_multilabel_project(
    browser: Browser, sqlite_settings: Settings
):
    async with running(sqlite_settings) as service:
        await topics(service, 1, preselect=True)
        page = await (await browser.new_context()).new_page()
        await page.goto(f"{service.base}/")
        await expect(page.locator('[data-settings="topics"]')).to_have_text(
            "text \u00b7 multilabel (preselect) \u00b7 naive_bayes \u00b7 min_margin",
            timeout=PATIENCE_MS,
        )
        await expect(page.locator("[name=preselect]")).to_be_hidden()
        await page.fill("[name=name]", "sets")
        await page.fill("[name=labels]", "a, b, c")
        await page.select_option("[name=task]", "multilabel")
        await expect(page.locator("[name=strategy]")).to_have_value("min_margin")
        await page.check("[name=preselect]")
        await page.press("[name=labels]", "Enter")
        await page.wait_for_url("**/dashboard.html?project=sets", timeout=PATIENCE_MS)
        project = (await service.http.get("/api/projects/sets")).json()
        assert (project["task"], project["preselect"], project["strategy"]) == (
            "multilabel",
            True,
            "min_margin",
        )
