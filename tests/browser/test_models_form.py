"""The home page's form offers the installed model plugins beside the presets (``GET
/api/models``): each where it fits, disabled with the reason where it does not (a plugin refused
by its contract check, an input it does not read, a task other than classify), each described.

Plugins are installed for the in-process server, as tests/ws/test_models.py installs them:
``acme_models:words`` (text, passes its check), ``acme_models:bad`` (refused: its
probabilities do not sum to 1), and the words model again under a long name.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Locator, Page, Route, expect

from browser.pages import PATIENCE_MS
from streamloop.config import Settings
from streamloop.online import plugins
from streamloop.store import Store
from support import ACME_PLUGINS, plugin_distribution, running

pytestmark = pytest.mark.browser

PRESETS = ["logistic_regression", "naive_bayes", "hoeffding_tree", "adaptive_random_forest"]
WORDS = "acme_models:words"
BAD = "acme_models:bad"
#: The words model again, under a name longer than a phone's screen is wide.
LONG = "acme_models:words_under_a_name_longer_than_a_phone_screen_is_wide"
WORDS_SAYS = "TF-IDF words, a logistic regression per label."


@pytest.fixture(autouse=True)
def installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The two plugins, seen by this process (the server runs in it) and by the fresh
    interpreter the contract check runs in (PYTHONPATH)."""
    root = tmp_path / "site"
    root.mkdir()
    entry_points = {"words": "words", "bad": "overconfident", LONG.split(":")[1]: "words"}
    plugin_distribution(root, "acme-models", ACME_PLUGINS, entry_points)
    monkeypatch.syspath_prepend(str(root))
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")]))
    )
    # These plugins alone: whatever else the environment has installed (the example package,
    # a model that takes its time to check) is not what the form is tested with.
    everything = plugins._entry_points
    monkeypatch.setattr(
        plugins,
        "_entry_points",
        lambda: {name: entry for name, entry in everything().items() if name.startswith("acme_")},
    )
    plugins.forget()
    yield
    plugins.forget()


def option(page: Page, name: str) -> Locator:
    """The model's option (a preset's has no value attribute: its text is its value)."""
    return page.locator("[name=model] option").filter(has_text=re.compile(f"^{re.escape(name)}$"))


#: The title of the refused plugin's option: its check named, and why.
REFUSED = re.compile(rf"^{BAD} is refused by its check: probabilities: .+")


async def home(page: Page, base: str, fragment: str = "") -> None:
    """The home page, once the model list has come and each plugin is checked: the server
    lists a plugin whose check takes over `plugins.LIST_WAIT` as pending, and the page asks
    again until it is not."""
    await page.goto(f"{base}/{fragment}")
    await expect(option(page, WORDS)).to_be_enabled(timeout=PATIENCE_MS)
    await expect(option(page, LONG)).to_be_enabled(timeout=PATIENCE_MS)
    await expect(option(page, BAD)).to_have_attribute("title", REFUSED, timeout=PATIENCE_MS)


async def test_the_form_offers_a_plugin_where_it_fits_and_says_why_not_elsewhere(
    browser: Browser, sqlite_settings: Settings
):
    async with running(sqlite_settings) as service:
        page = await (await browser.new_context()).new_page()
        await home(page, service.base)
        model = page.locator("[name=model]")
        note = page.get_by_test_id("model-note")
        values = await model.evaluate("(s) => [...s.options].map((o) => o.value)")
        # The presets as the page has them, first and in order; the plugins after them.
        assert values[:4] == PRESETS, values
        assert WORDS in values[4:] and BAD in values[4:], values

        # Text, classify: the good plugin is offered, with its description.
        await expect(option(page, WORDS)).to_be_enabled()
        await expect(option(page, WORDS)).to_have_text(WORDS)
        await expect(option(page, WORDS)).to_have_attribute("title", WORDS_SAYS)
        await page.select_option("[name=model]", WORDS)
        await expect(page.get_by_test_id("model-description")).to_have_text(
            f"{WORDS}: {WORDS_SAYS}"
        )
        # The refused plugin is not, in any state, and its check is named.
        await expect(option(page, BAD)).to_be_disabled()
        await expect(option(page, BAD)).to_have_attribute("title", REFUSED)
        await expect(note).to_be_visible()
        await expect(note).to_contain_text(f"{BAD} is refused by its check: probabilities:")

        # Tabular items: the text plugin is disabled, the form falls back to a preset.
        await page.select_option("[name=input]", "tabular")
        await expect(option(page, WORDS)).to_be_disabled()
        await expect(option(page, WORDS)).to_have_attribute(
            "title", f"{WORDS} reads text items only, not tabular"
        )
        await expect(model).to_have_value("logistic_regression")
        await expect(note).to_contain_text(f"{WORDS} reads text items only, not tabular.")
        await expect(page.get_by_test_id("model-description")).to_contain_text(
            "logistic_regression: "
        )
        await expect(option(page, BAD)).to_have_attribute("title", REFUSED)
        for preset in PRESETS:
            await expect(option(page, preset)).to_be_enabled()

        # Back to text, then the multilabel task: no plugin serves it; the presets' rule stays.
        await page.select_option("[name=input]", "text")
        await expect(option(page, WORDS)).to_be_enabled()
        await page.select_option("[name=model]", WORDS)
        await page.select_option("[name=task]", "multilabel")
        await expect(option(page, WORDS)).to_be_disabled()
        await expect(option(page, WORDS)).to_have_attribute(
            "title", f"{WORDS} serves classify projects only, not multilabel"
        )
        await expect(model).to_have_value("logistic_regression")
        await expect(note).to_contain_text("no hoeffding_tree")
        await expect(note).to_contain_text(f"{WORDS} serves classify projects only")
        await expect(option(page, "hoeffding_tree")).to_be_disabled()
        await expect(option(page, "naive_bayes")).to_be_enabled()

        # Spans: neither.
        await page.select_option("[name=task]", "spans")
        await expect(option(page, WORDS)).to_be_disabled()
        await expect(note).to_contain_text(f"{WORDS} serves classify projects only, not spans.")

        # Classify again: offered again.
        await page.select_option("[name=task]", "classify")
        await expect(option(page, WORDS)).to_be_enabled()
        await expect(option(page, WORDS)).to_have_attribute("title", WORDS_SAYS)


async def test_a_project_is_created_with_a_plugins_model_from_the_form_with_auth_on(
    browser: Browser, sqlite_settings: Settings
):
    store = Store(sqlite_settings.database_url)
    try:
        admin = store.tokens.create("root", "admin")[1]
    finally:
        store.close()
    async with running(sqlite_settings) as service:
        page = await (await browser.new_context()).new_page()
        # The list is asked for with the tab's token, as every other request of the page.
        await home(page, service.base, f"#token={admin}")
        assert admin not in page.url
        await page.fill("[name=name]", "typos")
        await page.fill("[name=labels]", "billing, bug, other")
        await page.select_option("[name=model]", WORDS)
        await page.press("[name=labels]", "Enter")
        await page.wait_for_url("**/dashboard.html?project=typos", timeout=PATIENCE_MS)
        service.http.headers["authorization"] = f"Bearer {admin}"
        project = (await service.http.get("/api/projects/typos")).json()
        assert (project["input"], project["model"]) == ("text", WORDS), project
        await page.goto(f"{service.base}/")
        await expect(page.locator('[data-settings="typos"]')).to_have_text(
            f"text \u00b7 classify \u00b7 {WORDS} \u00b7 margin", timeout=PATIENCE_MS
        )


async def test_a_plugin_still_being_checked_is_offered_once_its_check_passes(
    browser: Browser, sqlite_settings: Settings
):
    async with running(sqlite_settings) as service:
        page = await (await browser.new_context()).new_page()
        answers = 0

        async def first_pending(route: Route) -> None:
            # The first answer says the words model's check is under way, as the server says
            # of a check that takes longer than it waits; the next ones are the server's.
            nonlocal answers
            answers += 1
            response = await route.fetch()
            body = await response.json()
            if answers == 1:
                for model in body["models"]:
                    if model["name"] == WORDS:
                        model.update(
                            usable=False,
                            input_kinds=[],
                            description="",
                            refused={"check": "pending", "why": "under way: ask again shortly"},
                        )
            await route.fulfill(response=response, json=body)

        await page.route("**/api/models", first_pending)
        await page.goto(f"{service.base}/")
        await expect(option(page, WORDS)).to_have_attribute(
            "title",
            f"{WORDS} is not offered yet: its contract check is under way",
            timeout=PATIENCE_MS,
        )
        await expect(option(page, WORDS)).to_be_disabled()
        await expect(page.get_by_test_id("model-note")).to_contain_text(
            f"{WORDS} is not offered yet"
        )
        await expect(option(page, WORDS)).to_be_enabled(timeout=PATIENCE_MS)
        await expect(option(page, WORDS)).to_have_attribute("title", WORDS_SAYS)
        await expect(option(page, WORDS)).to_have_count(1)  # asked again, not added again
        assert answers >= 2


async def test_without_the_list_the_form_keeps_its_presets(
    browser: Browser, sqlite_settings: Settings
):
    async with running(sqlite_settings) as service:
        page = await (await browser.new_context()).new_page()
        await page.route("**/api/models", lambda route: route.fulfill(status=500, body="down"))
        await page.goto(f"{service.base}/")
        await expect(page.locator("#projects")).to_be_attached()
        await page.wait_for_load_state("networkidle")
        await expect(page.locator("[name=model] option")).to_have_text(PRESETS)
        await expect(page.get_by_test_id("model-description")).to_be_hidden()
        await page.select_option("[name=task]", "multilabel")
        await expect(option(page, "adaptive_random_forest")).to_be_disabled()


async def test_on_a_phone_a_plugins_long_name_keeps_the_form_on_the_screen(
    browser: Browser, sqlite_settings: Settings
):
    async with running(sqlite_settings) as service:
        phone = await browser.new_context(
            viewport={"width": 390, "height": 844}, has_touch=True, is_mobile=True
        )
        page = await phone.new_page()
        await home(page, service.base)
        await page.select_option("[name=model]", LONG)
        await expect(page.get_by_test_id("model-description")).to_contain_text(LONG)
        width = await page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"the home page is {width} px wide on a 390 px screen"
        await page.select_option("[name=input]", "tabular")  # the longest note
        await expect(page.get_by_test_id("model-note")).to_be_visible()
        width = await page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"the home page is {width} px wide on a 390 px screen"
        for part in ("[name=model]", '[data-testid="model-note"]'):
            box = await page.locator(part).bounding_box()
            assert box is not None and box["x"] + box["width"] <= 390, (part, box)
