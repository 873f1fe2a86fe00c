"""What a new user of multilabel projects ran into, each fixed and kept fixed: why a label is
suggested (its badge, its threshold, a probability that never reads as on the wrong side of
it), Skip and Undo on a phone, the home form's refusals beside their fields, the words of
multilabel dashboards, a toggle grid laid out alike, nothing wider than a phone, hint lines in
English, the set the model learned on the review page.

Where the page's own reading of a message is what counts, Playwright plays the server's socket
(the probabilities and thresholds are then exactly those given); elsewhere the real server runs.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from playwright.async_api import Browser, Page, WebSocketRoute, expect

from browser.pages import PATIENCE_MS, TRUSTED, annotator_page, next_item
from streamloop.config import Settings
from support import Socket, running, ticket

pytestmark = pytest.mark.browser

PHONE = {"viewport": {"width": 390, "height": 844}, "has_touch": True, "is_mobile": True}
DESKTOP = {"viewport": {"width": 1280, "height": 800}}
#: The smallest touch target worth the name (WCAG 2.5.5 asks 44 CSS px).
TOUCH_PX = 44
LABELS = ["billing", "bug", "ui"]
WORDS = {"billing": "charged refund", "bug": "crash error", "ui": "button layout"}
#: The new user's fourteen labels, two of them long, one long without a space.
MANY = [
    "billing", "bug", "account", "feature", "security", "performance", "documentation",
    "integration-with-third-party-accounting-software", "mobile", "ui", "refund", "legal",
    "onboarding", "other-very-long-label-name-that-goes-on-and-on-without-spaces-to-test-overflow",
]  # fmt: skip


def played_server(project: dict[str, Any], item: dict[str, Any]) -> Any:
    """A socket route that is the server: hello with ``project``, then ``item``; it takes
    whatever the page sends and answers nothing."""

    def route(page_side: WebSocketRoute) -> None:
        hello = {"type": "hello", "annotator": "ana", "prefetch": 1, "project": project}
        page_side.send(json.dumps(hello))
        lease = "2999-01-01T00:00:00Z"
        page_side.send(json.dumps({"type": "item", "item": item, "lease_expires_at": lease}))
        page_side.on_message(lambda _message: None)

    return route


def multilabel_project(labels: list[str], **extra: Any) -> dict[str, Any]:
    return {"name": "topics", "labels": labels, "task": "multilabel", "preselect": False, **extra}


async def played_page(browser: Browser, base: str, route: Any, **context: Any) -> Page:
    page = await annotator_page(browser, base, "ana", route, project="topics", **context)
    await expect(page.locator("#item")).to_be_visible(timeout=PATIENCE_MS)
    return page


def toggle(page: Page, label: str) -> Any:
    return page.locator(f'#labels button[data-label="{label}"]')


def words(text: str) -> list[str]:
    return re.sub(r"\s+", " ", text).strip()


# -- 1. why a label is suggested --------------------------------------------------------------


async def test_a_toggle_says_whether_the_model_suggests_it_and_never_rounds_onto_its_threshold(
    browser: Browser, sqlite_settings: Settings
):
    probabilities = {
        "billing": 0.32,  # above its 0.3: suggested, though all read about a third
        "bug": 0.296,  # below its 0.3: "30 %" would read as on it, one more decimal says 29.6
        "account": 0.2996,  # below, and 30.0 % even with a decimal: "< 30 %"
        "feature": 0.3004,  # above: "> 30 %"
        "security": 0.4996,  # the default threshold: "< 50 %", never "50 %"
        "ui": 0.5004,  # "> 50 %", suggested
        "legal": 0.71,
    }
    suggested = ["billing", "feature", "ui", "legal"]  # the server's own set: above threshold
    labels = list(probabilities)
    thresholds = {"billing": 0.3, "bug": 0.3, "account": 0.3, "feature": 0.3}
    item = {
        "id": "i1",
        "data": {"text": "thanks"},
        "labels": suggested,
        "probabilities": probabilities,
        "track_record": TRUSTED,
    }
    async with running(sqlite_settings) as service:
        route = played_server(multilabel_project(labels, thresholds=thresholds), item)
        page = await played_page(browser, service.base, route)
        await expect(page.locator("#labels .hint-value")).to_have_text(
            [
                "32 % · threshold 30 %",
                "29.6 % · threshold 30 %",
                "< 30 % · threshold 30 %",
                "> 30 % · threshold 30 %",
                "< 50 %",
                "> 50 %",
                "71 %",
            ]
        )
        # The model's set is marked on the toggles themselves, in words a screen reader says
        # with the label's name; nothing is preselected (this project does not preselect).
        for label in labels:
            marked = label in suggested
            await expect(toggle(page, label).locator(".badge")).to_have_count(int(marked))
            name = re.compile(r"suggested$")
            if marked:
                await expect(toggle(page, label)).to_have_accessible_name(name)
            else:
                await expect(toggle(page, label)).not_to_have_accessible_name(name)
            await expect(toggle(page, label)).to_have_attribute("aria-pressed", "false")
        await expect(toggle(page, "billing").locator(".badge")).to_have_text("suggested")
        await expect(toggle(page, "billing").locator(".badge")).to_be_visible()
        await expect(toggle(page, "billing")).to_have_accessible_name(
            "1 billing 32 % · threshold 30 % suggested"
        )
        # Marked by shape, not colour alone: a dashed border.
        style = "(b) => getComputedStyle(b).borderTopStyle"
        assert await toggle(page, "billing").evaluate(style) == "dashed"
        assert await toggle(page, "bug").evaluate(style) == "solid"
        # Each probability's title says what it is measured against.
        await expect(toggle(page, "bug").locator(".hint-value")).to_have_attribute(
            "title", re.compile(r"suggests the label when this is above 30 %")
        )


# -- 2. Skip and Undo by touch -----------------------------------------------------------------


@pytest.mark.parametrize("task", ["classify", "multilabel"])
async def test_on_a_phone_the_annotator_skips_and_undoes_by_buttons_and_sees_no_key_hints(
    browser: Browser, sqlite_settings: Settings, task: str
):
    async with running(sqlite_settings) as service:
        if task == "multilabel":
            await service.create_project(
                name="topics",
                labels=LABELS,
                task="multilabel",
                model="naive_bayes",
                exploration=0.0,
            )
            texts = [f"{WORDS[LABELS[n % 3]]} number {n}" for n in range(6)]
            events = [{"id": f"evt-{n}", "data": {"text": text}} for n, text in enumerate(texts)]
            project = "topics"
        else:
            await service.create_project(name="tickets", exploration=0.0)
            events = [{"id": f"evt-{n}", "data": ticket("bug", n)} for n in range(6)]
            project = "tickets"
        await service.send_events(project, events)
        page = await annotator_page(browser, service.base, "ana", project=project, **PHONE)
        first = await next_item(page, [])
        skip, undo, keep = (
            page.get_by_test_id("skip"),
            page.get_by_test_id("undo"),
            page.get_by_test_id("cancel-undo"),
        )
        # No keys on a touch screen: no line of key hints; the buttons do what the keys do.
        for hints in ("#keys-classify", "#keys-multilabel"):
            await expect(page.locator(hints)).to_be_hidden()
        await expect(skip).to_be_visible()
        await expect(undo).to_be_visible()
        await expect(undo).to_be_disabled()  # nothing to undo yet
        for button in (skip, undo, page.get_by_test_id("comment-open")):
            box = await button.bounding_box()
            assert (
                box is not None and box["height"] >= TOUCH_PX and box["x"] + box["width"] <= 390
            ), box

        if task == "multilabel":
            await toggle(page, "bug").tap()
            await page.get_by_test_id("submit").tap()
        else:
            await toggle(page, "bug").tap()
        second = await next_item(page, [first])
        await expect(page.get_by_test_id("pending")).to_have_text("0", timeout=PATIENCE_MS)

        # Undo brings the answer back to correct; Keep my answer leaves it, as Esc does.
        await undo.tap()
        await expect(page.locator("#item")).to_have_attribute("data-item-id", first)
        await expect(page.locator("#correcting")).to_be_visible()
        await expect(skip).to_be_hidden()
        await expect(keep).to_be_visible()
        box = await keep.bounding_box()
        assert box is not None and box["height"] >= TOUCH_PX, box
        await keep.tap()
        await expect(page.locator("#item")).to_have_attribute("data-item-id", second)
        await expect(page.locator("#correcting")).to_be_hidden()

        # Skip opens its reasons, each a touch target on screen; No reason leaves the item to
        # others: the server counts it, and offers another.
        await skip.tap()
        now = page.get_by_test_id("skip-now")
        await expect(page.get_by_test_id("skip-reasons")).to_be_visible()
        for button in await page.get_by_test_id("skip-reasons").locator("button").all():
            box = await button.bounding_box()
            assert (
                box is not None and box["height"] >= TOUCH_PX and box["x"] + box["width"] <= 390
            ), box
        await expect(page.locator("#item")).to_have_attribute("data-item-id", second)
        await now.tap()
        await next_item(page, [first, second])
        metrics = await service.metrics(project)
        assert metrics["annotators"]["ana"]["skips"] == 1
        assert metrics["labels_total"] == 1


async def test_on_a_desktop_the_skip_and_undo_buttons_show_their_keys(
    browser: Browser, sqlite_settings: Settings
):
    async with running(sqlite_settings) as service:
        await service.create_project(name="tickets", exploration=0.0)
        await service.send_events(
            "tickets", [{"id": f"e{n}", "data": ticket("bug", n)} for n in range(3)]
        )
        page = await annotator_page(browser, service.base, "ana", **DESKTOP)
        first = await next_item(page, [])
        await expect(page.get_by_test_id("skip")).to_have_text("Skip S")
        await expect(page.get_by_test_id("skip").locator("kbd")).to_be_visible()
        await expect(page.get_by_test_id("undo")).to_have_text("Undo U")
        await expect(page.get_by_test_id("comment-open")).to_have_text("Comment C")
        await expect(page.locator("#keys-classify")).to_be_visible()
        # Skip opens its reasons, each with its key; No reason (Enter) skips.
        await page.get_by_test_id("skip").click()
        reasons = page.get_by_test_id("skip-reasons").locator("button")
        await expect(reasons).to_have_text(
            [
                "1 Not sure",
                "2 Cannot read or understand it",
                "3 No label fits",
                "No reason Enter",
                "Back Esc",
            ]
        )
        await expect(page.get_by_test_id("skip-now").locator("kbd")).to_be_visible()
        await page.get_by_test_id("skip-now").click()
        await next_item(page, [first])
        # A click leaves the button unfocused: the next key is the page's, not the button's.
        await expect(page.get_by_test_id("content")).to_be_focused()


# -- 3. the home form ---------------------------------------------------------------------------


async def test_the_home_form_offers_only_models_the_task_and_input_allow(
    browser: Browser, sqlite_settings: Settings
):
    async with running(sqlite_settings) as service:
        page = await (await browser.new_context()).new_page()
        await page.goto(f"{service.base}/")
        model = page.locator("[name=model]")

        async def disabled() -> list[str]:
            return await model.evaluate(
                "(s) => [...s.options].filter((o) => o.disabled && !o.hasAttribute('data-plugin'))"
                ".map((o) => o.value)"
            )

        assert await disabled() == []
        await expect(page.get_by_test_id("model-note")).to_be_hidden()
        await page.select_option("[name=model]", "hoeffding_tree")
        await page.select_option("[name=task]", "multilabel")
        assert await disabled() == ["hoeffding_tree", "adaptive_random_forest"]
        await expect(model).to_have_value("logistic_regression")
        await expect(page.get_by_test_id("model-note")).to_contain_text("no hoeffding_tree")
        await page.select_option("[name=input]", "tabular")
        assert await disabled() == ["adaptive_random_forest"]
        await page.select_option("[name=model]", "hoeffding_tree")
        await page.select_option("[name=input]", "text")
        await expect(model).to_have_value("logistic_regression")
        await page.select_option("[name=task]", "classify")
        assert await disabled() == []


async def test_the_servers_refusal_is_shown_beside_the_field_it_names(
    browser: Browser, sqlite_settings: Settings
):
    async with running(sqlite_settings) as service:
        # The server's own words for a model it refuses ("model: ...", which older servers
        # wrote "body: Value error, model: ..."): the form no longer lets this through, so the
        # test hands it to the page, in both forms.
        spec = {"name": "x", "labels": ["a", "b"], "task": "multilabel", "model": "hoeffding_tree"}
        refused = (await service.http.post("/api/projects", json=spec)).json()["error"]
        bare = refused["message"].removeprefix("body: Value error, ")
        assert bare.startswith("model: not with text items"), refused
        prefixed = {**refused, "message": f"body: Value error, {bare}"}
        page = await (await browser.new_context()).new_page()
        answers: list[dict[str, Any]] = []

        async def answer(route: Any) -> None:
            if route.request.method != "POST" or not answers:
                await route.fallback()
                return
            await route.fulfill(status=422, json={"error": answers.pop(0)})

        await page.route("**/api/projects", answer)
        await page.goto(f"{service.base}/")
        await page.fill("[name=name]", "sets")
        await page.fill("[name=labels]", "a, b")
        await page.select_option("[name=task]", "multilabel")

        def slot(field: str) -> Any:
            return page.locator(f'.field-error[data-for="{field}"]')

        for answered in (refused, prefixed):
            answers.append(answered)
            await page.press("[name=labels]", "Enter")
            await expect(slot("model")).to_have_text(
                "Not with text items in a multilabel project: a Hoeffding tree per label learns "
                "nothing from text in its first few thousand labels"
            )
            await expect(page.locator("[name=model]")).to_have_attribute("aria-invalid", "true")
            await expect(page.locator("[name=model]")).to_be_focused()
            await expect(page.locator("#create-error")).to_be_hidden()
            await page.locator("[name=labels]").focus()
            await page.evaluate(
                "() => document.querySelector('.field-error[data-for=model]').textContent = ''"
            )

        # Several parts: each beside its field, one that names no field under the form.
        answers.append(
            {
                "code": "invalid_input",
                "message": "strategy: unknown strategy; one of ['min_margin']; "
                "thresholds.b: Input should be less than 1; warmup: too many",
            }
        )
        await page.press("[name=labels]", "Enter")
        await expect(slot("strategy")).to_have_text("Unknown strategy; one of ['min_margin']")
        await expect(slot("thresholds")).to_have_text("b: Input should be less than 1")
        await expect(slot("model")).to_have_text("")  # the last refusal's, gone
        await expect(page.locator("#create-error")).to_have_text("warmup: too many")

        # The thresholds field: checked here first, then sent.
        await page.unroute("**/api/projects")
        await page.fill("[name=thresholds]", "c=0.3")
        await page.press("[name=labels]", "Enter")
        await expect(slot("thresholds")).to_have_text("“c” is not one of the labels.")
        await page.fill("[name=thresholds]", "b=0.3")
        await page.press("[name=labels]", "Enter")
        await page.wait_for_url("**/dashboard.html?project=sets", timeout=PATIENCE_MS)
        created = (await service.http.get("/api/projects/sets")).json()
        assert created["thresholds"] == {"b": 0.3}


# -- 4. the words of a multilabel dashboard, and the home page's ---------------------------------


async def label_sets(service: Any, project: str, name: str, answer: Any) -> int:
    """``name`` answers every item offered (``answer(item)`` or ``answer``), until idle."""
    socket: Socket
    count = 0
    async with service.annotator(project, name) as socket:
        while (message := await socket.expect("item", "idle"))["type"] == "item":
            item = message["item"]
            given = answer(item) if callable(answer) else answer
            ack = await socket.label(item["id"], given, f"{name}-{item['id']}")
            assert ack["type"] == "ack", ack
            count += 1
    return count


def truth(item: dict[str, Any]) -> list[str]:
    return [label for label in LABELS if WORDS[label] in item["data"]["text"]]


async def test_a_multilabel_dashboard_speaks_of_sets_and_says_which_draws_each_figure_counts(
    browser: Browser, sqlite_settings: Settings
):
    async with running(sqlite_settings) as service:
        await service.create_project(
            name="topics", labels=LABELS, task="multilabel", model="naive_bayes", exploration=1.0
        )
        texts = [
            f"{WORDS[LABELS[n % 3]]} {WORDS[LABELS[(n + 1) % 3]]} number {n}" for n in range(5)
        ]
        await service.send_events(
            "topics", [{"id": f"e{n}", "data": {"text": t}} for n, t in enumerate(texts)]
        )
        await label_sets(service, "topics", "alice", truth)
        await service.create_project(name="plain", exploration=1.0)
        await service.send_events(
            "plain", [{"id": f"p{n}", "data": ticket("bug", n)} for n in range(3)]
        )
        await label_sets(service, "plain", "alice", "bug")
        metrics = await service.metrics("topics")
        samples = metrics["unbiased_accuracy"]["samples"]
        assert samples > 0 and metrics["unbiased_accuracy"]["estimate"] is not None

        context = await browser.new_context(**DESKTOP)
        page = await context.new_page()
        await page.goto(f"{service.base}/static/dashboard.html?project=topics")
        await expect(page.get_by_test_id("labels_total")).to_have_text("5", timeout=PATIENCE_MS)
        shown = {"use_inner_text": True}
        annotators = page.get_by_test_id("annotators-hint")
        await expect(annotators).to_contain_text("was exactly that set", **shown)
        await expect(annotators).not_to_contain_text("was the label given", **shown)
        kappa = page.get_by_test_id("kappa-hint")
        await expect(kappa).not_to_contain_text("one label throughout", **shown)
        await expect(kappa).to_contain_text("each label was given by both of them", **shown)
        await expect(page.locator("#chart .x-axis")).to_have_text("5 label sets")
        await expect(page.get_by_test_id("hamming-direction")).to_have_text("(lower is better)")
        await expect(page.get_by_test_id("hamming-direction")).to_be_visible()
        # The headline weighs recent draws most; "all draws" counts every draw alike: each
        # says so, in a word on the figure and in its title.
        await expect(page.get_by_test_id("unbiased_basis")).to_have_text("recent draws, weighted")
        await expect(page.get_by_test_id("unbiased_basis")).to_be_visible()
        await expect(page.locator(".figure.lead")).to_have_attribute(
            "title", re.compile("recent draws weighted most")
        )
        await expect(page.get_by_test_id("unbiased-exact-match-basis")).to_have_text(
            "all draws: since the start, unweighted"
        )
        await expect(page.locator("#exact-match-figure")).to_have_attribute(
            "title", re.compile("unweighted mean")
        )
        await expect(page.get_by_test_id("sets-hint")).to_contain_text("weighs recent ones most")

        # A classify project's dashboard keeps its words.
        plain = await context.new_page()
        await plain.goto(f"{service.base}/static/dashboard.html?project=plain")
        await expect(plain.get_by_test_id("labels_total")).to_have_text("3", timeout=PATIENCE_MS)
        await expect(plain.get_by_test_id("annotators-hint")).to_contain_text(
            "was the label given", **shown
        )
        await expect(plain.get_by_test_id("kappa-hint")).to_contain_text(
            "(both gave one label throughout)", **shown
        )
        await expect(plain.locator("#chart .x-axis")).to_have_text("3 labels")
        await expect(plain.get_by_test_id("unbiased_basis")).to_be_hidden()

        # Home: the estimate is named as the dashboard names it, with its draws.
        home = await context.new_page()
        await home.goto(f"{service.base}/")
        cell = home.locator('[data-estimate="topics"]')
        await expect(cell).to_have_attribute("data-title", "Exact match on traffic (estimate)")
        await expect(home.locator('[data-estimate="plain"]')).to_have_attribute(
            "data-title", "Accuracy on traffic (estimate)"
        )
        await expect(home.locator('[data-draws="topics"]')).to_have_text(
            f"exact match, {samples} draw{'' if samples == 1 else 's'}", timeout=PATIENCE_MS
        )
        plain_samples = (await service.metrics("plain"))["unbiased_accuracy"]["samples"]
        if (await service.metrics("plain"))["unbiased_accuracy"]["estimate"] is not None:
            await expect(home.locator('[data-draws="plain"]')).to_have_text(
                f"accuracy, {plain_samples} draw{'' if plain_samples == 1 else 's'}"
            )
        await expect(home.locator("#projects thead th").nth(3)).to_have_text(
            "On traffic (estimate)"
        )


# -- 5. the toggle grid ----------------------------------------------------------------------


#: For each toggle: where its box, key, name and probability are, from its own top left; and
#: the lines each word of its name is on.
LAYOUT = """(buttons) => buttons.map((b) => {
    const at = (node) => {
        const r = node.getBoundingClientRect(), o = b.getBoundingClientRect();
        return {
            x: r.left - o.left, y: r.top - o.top, bottom: r.bottom - o.top, right: r.right - o.left,
        };
    };
    const name = b.querySelector(".name");
    const text = name.firstChild;
    const broken = [];
    for (const match of text.data.matchAll(/[^\\s-]+/g)) {
        const range = document.createRange();
        range.setStart(text, match.index);
        range.setEnd(text, match.index + match[0].length);
        const tops = new Set([...range.getClientRects()].map((r) => Math.round(r.top)));
        if (tops.size > 1) broken.push(match[0]);
    }
    return {
        label: b.dataset.label, check: at(b.querySelector(".check")),
        key: at(b.querySelector("kbd")), name: at(name), hint: at(b.querySelector(".hint-value")),
        broken,
        clamped: name.scrollHeight > name.clientHeight + 1, title: name.title,
    };
})"""


async def test_fourteen_labels_are_laid_out_alike_and_no_word_is_broken(
    browser: Browser, sqlite_settings: Settings
):
    probabilities = {label: 0.1 + 0.06 * n for n, label in enumerate(MANY)}
    suggested = [label for label, p in probabilities.items() if p > 0.5]
    item = {
        "id": "i1",
        "data": {"text": "refund please"},
        "labels": suggested,
        "probabilities": probabilities,
        "track_record": TRUSTED,
    }
    async with running(sqlite_settings) as service:
        route = played_server(multilabel_project(MANY, preselect=True), item)
        page = await played_page(browser, service.base, route, **DESKTOP)
        await expect(page.locator("#labels button")).to_have_count(len(MANY))
        layout = await page.locator("#labels button").evaluate_all(LAYOUT)
        first = layout[0]
        for toggle_ in layout:
            label = toggle_["label"]
            # The box, the key and the name start at the same places on every card, whatever
            # the name's length or the badge; the probability is just under the name.
            for part in ("check", "key", "name"):
                for axis in ("x", "y"):
                    assert abs(toggle_[part][axis] - first[part][axis]) <= 1, (
                        label,
                        part,
                        toggle_,
                        first,
                    )
            assert toggle_["key"]["y"] >= toggle_["check"]["bottom"], toggle_
            assert toggle_["name"]["x"] >= toggle_["check"]["right"], toggle_
            assert toggle_["hint"]["x"] == toggle_["name"]["x"], toggle_
            assert 0 <= toggle_["hint"]["y"] - toggle_["name"]["bottom"] <= 8, toggle_
            # Names wrap between words (a hyphen ends a word), never inside one.
            assert toggle_["broken"] == [], toggle_
            assert toggle_["title"] == label
        # A name too long for three lines is cut with an ellipsis, whole in its title.
        longest = {t["label"]: t for t in layout}[MANY[-1]]
        assert longest["clamped"], longest
        assert not {t["label"]: t for t in layout}["documentation"]["clamped"]
        # Toggling does not move anything: the selected look changes no size.
        before = await toggle(page, "bug").bounding_box()
        name_before = await toggle(page, "documentation").locator(".name").bounding_box()
        await page.keyboard.press("2")
        await page.keyboard.press("7")
        await expect(toggle(page, "bug")).to_have_attribute("aria-pressed", "true")
        assert await toggle(page, "bug").bounding_box() == before
        assert await toggle(page, "documentation").locator(".name").bounding_box() == name_before


# -- 6. nothing wider than a phone ------------------------------------------------------------


async def page_width(page: Page) -> int:
    return int(await page.evaluate("document.documentElement.scrollWidth"))


async def test_on_a_phone_home_is_cards_and_dashboard_tables_scroll_in_their_own_box(
    browser: Browser, sqlite_settings: Settings
):
    async with running(sqlite_settings) as service:
        long_labels = ["billing-and-invoices", "crash-or-error-report", "user-interface"]
        await service.create_project(
            name="topics", labels=long_labels, task="multilabel", model="naive_bayes",
            exploration=0.0, overlap={"share": 1.0, "annotators": 2},
        )  # fmt: skip
        texts = [f"item {n}" for n in range(4)]
        await service.send_events(
            "topics", [{"id": f"e{n}", "data": {"text": t}} for n, t in enumerate(texts)]
        )
        await label_sets(service, "topics", "alice-with-a-long-name", long_labels[:1])
        await label_sets(service, "topics", "bob-with-a-long-name", long_labels[1:])
        await service.create_project(name="support-tickets-for-the-whole-company")

        context = await browser.new_context(**PHONE)
        home = await context.new_page()
        await home.goto(f"{service.base}/")
        row = home.locator('tr[data-project="support-tickets-for-the-whole-company"]')
        await expect(row).to_be_visible(timeout=PATIENCE_MS)
        assert await page_width(home) <= 390
        # Each project is a card: every link is on screen, big enough for a finger.
        for name in ("topics", "support-tickets-for-the-whole-company"):
            for link in await home.locator(f'tr[data-project="{name}"] .actions a').all():
                box = await link.bounding_box()
                assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390, box
                assert box["height"] >= TOUCH_PX, box

        dashboard = await context.new_page()
        await dashboard.goto(f"{service.base}/static/dashboard.html?project=topics")
        await expect(dashboard.get_by_test_id("alpha-per-label")).to_be_visible(timeout=PATIENCE_MS)
        await expect(dashboard.locator("#annotators tbody tr")).to_have_count(2)
        assert await page_width(dashboard) <= 390
        # The wide tables scroll inside their cards, and say so: a shadow on the edge with more
        # beyond it, and a line under the table.
        for table in ("per-class", "annotators"):
            wrapper = dashboard.locator(f".wide-table:has(#{table})")
            await expect(wrapper).to_have_attribute("data-overflow", "right")
            shadow = "(w) => getComputedStyle(w, '::after').opacity"
            assert await wrapper.evaluate(shadow) == "1"
            hint = wrapper.locator("xpath=following-sibling::p[1]")
            await expect(hint).to_have_text("Scroll sideways for more columns →")
            await expect(hint).to_be_visible()
            box = wrapper.locator(".scroll-x")
            await expect(box).to_have_attribute("tabindex", "0")
            await box.evaluate("(b) => { b.scrollLeft = b.scrollWidth; }")
            await expect(wrapper).to_have_attribute("data-overflow", "left")
            await expect(hint).to_be_hidden()
        # A label stays with its alpha; a legend's item is whole, on one line.
        for pair in await dashboard.locator("[data-alpha]").all():
            assert await pair.evaluate("(p) => getComputedStyle(p).whiteSpace") == "nowrap"
            assert await pair.evaluate("(p) => p.getClientRects().length") == 1
        for key in await dashboard.locator("#chart .legend .key").all():
            box = await key.bounding_box()
            size = await key.evaluate("(k) => parseFloat(getComputedStyle(k).fontSize)")
            assert box is not None and box["height"] < 2 * size, box  # a line is ~1.2 of it

        # On a desktop, the same tables show whole: no shadow, no line.
        desk = await (await browser.new_context(**DESKTOP)).new_page()
        await desk.goto(f"{service.base}/static/dashboard.html?project=topics")
        await expect(desk.locator("#annotators tbody tr")).to_have_count(2, timeout=PATIENCE_MS)
        wrapper = desk.locator(".wide-table:has(#per-class)")
        await expect(wrapper).to_have_attribute("data-overflow", "")
        await expect(wrapper.locator("xpath=following-sibling::p[1]")).to_be_hidden()
        await expect(wrapper.locator(".scroll-x")).not_to_have_attribute("tabindex", "0")


# -- 7. hint lines in English ------------------------------------------------------------------


#: The dash between two keys, as in "1 to 9" (an en dash).
EN = "\u2013"


async def test_the_key_hints_read_as_english(browser: Browser, sqlite_settings: Settings):
    async with running(sqlite_settings) as service:
        page = await (await browser.new_context(**DESKTOP)).new_page()
        hints = {}
        for name in ("annotate", "review"):
            await page.goto(f"{service.base}/static/{name}.html")
            for task in ("classify", "multilabel"):
                text = await page.locator(f"#keys-{task}").text_content()
                hints[name, task] = words(text or "")
        assert hints == {
            ("annotate", "classify"): f"A label's key (1{EN}9, then Q…) chooses it · S skips the "
            "item, with a reason · C adds a comment · U undoes the last label · G opens or closes "
            "the guidelines · Esc cancels an undo",
            ("annotate", "multilabel"): f"A label's key (1{EN}9, then Q…) selects or clears it · "
            "Enter submits the selected labels · 0 answers none of these · S skips the item, with "
            "a reason · C adds a comment · G opens or closes the guidelines · U undoes the last "
            "answer · Esc cancels an undo",
            ("review", "classify"): f"1{EN}9 settles on that label (any label, not only those "
            "said) · S skips the item, leaving it to another reviewer",
            ("review", "multilabel"): f"A label's key (1{EN}9, then Q…) selects or clears it (any "
            "label, not only those said) · Enter settles on the selected labels · 0 settles on "
            "none of these · S skips the item, leaving it to another reviewer",
        }
        await page.goto(f"{service.base}/static/annotate.html")
        assert (
            words(await page.locator("#idle .keys").text_content() or "")
            == "U undoes the last answer"
        )

        # What Space on Submit says, in the page's own verb.
        item = {"id": "i1", "data": {"text": "thanks"}, "labels": None, "probabilities": {}}
        annotate = await played_page(
            browser, service.base, played_server(multilabel_project(LABELS), item)
        )
        await annotate.keyboard.press("1")
        await annotate.get_by_test_id("submit").focus()
        await annotate.keyboard.press("Space")
        await expect(annotate.locator("#notice")).to_have_text(
            "Press Enter to submit the selected labels, or 0 for none of these: Space never does."
        )
