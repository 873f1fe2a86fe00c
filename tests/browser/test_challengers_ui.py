"""Challengers in the web app: chosen on the home page's form (only models the task, the input
and the model serving leave, three at most), listed on the dashboard beside the model serving
with their figures, and promoted there by a button that asks first; a project of one model has
no table and no button, only a line saying how to add challengers.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.async_api import Browser, Dialog, Locator, Page, Route, expect

from browser.axe import violations
from browser.pages import LABELS, PATIENCE_MS
from streamloop.config import Settings
from streamloop.online import plugins
from support import running

pytestmark = pytest.mark.browser

PRESETS = ["logistic_regression", "naive_bayes", "hoeffding_tree", "adaptive_random_forest"]
PHONE: dict[str, Any] = {
    "viewport": {"width": 390, "height": 844},
    "has_touch": True,
    "is_mobile": True,
}
#: The smallest touch target worth the name (WCAG 2.5.5 asks 44 CSS px).
TOUCH_PX = 44


@pytest.fixture(autouse=True)
def presets_only(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No plugin: the presets alone are what these tests choose among. Whatever the
    environment has installed (the example package, the embeddings model) would otherwise be
    offered once its contract check passed, which may be before or after a look."""
    monkeypatch.setattr(plugins, "_entry_points", dict)
    plugins.forget()
    yield
    plugins.forget()


def box(page: Page, model: str) -> Locator:
    return page.locator(f'#challengers input[name="challengers"][value="{model}"]')


async def offered(page: Page) -> list[str]:
    """The challengers' boxes that may be ticked, in order."""
    return await page.locator("#challengers input[name=challengers]").evaluate_all(
        "(boxes) => boxes.filter((b) => !b.disabled).map((b) => b.value)"
    )


def promote_button(page: Page, model: str) -> Locator:
    return page.get_by_role("button", name=f"Promote {model}")


async def test_the_form_offers_challengers_the_project_can_use_and_sends_them(
    browser: Browser, sqlite_settings: Settings
):
    async with running(sqlite_settings) as service:
        page = await (await browser.new_context()).new_page()
        await page.goto(f"{service.base}/")
        group = page.get_by_role("group", name="Challengers")
        await expect(group).to_be_visible()
        # Classify, text: every preset but the model serving.
        await expect(box(page, "naive_bayes")).to_be_enabled(timeout=PATIENCE_MS)
        assert await offered(page) == PRESETS[1:]
        await expect(box(page, "logistic_regression")).to_be_disabled()
        # Three at most: the fourth box waits until one is cleared.
        await page.select_option("[name=model]", "naive_bayes")
        for model in ("logistic_regression", "hoeffding_tree", "adaptive_random_forest"):
            await box(page, model).check()
        assert await offered(page) == [
            "logistic_regression", "hoeffding_tree", "adaptive_random_forest",
        ]  # fmt: skip
        await expect(page.get_by_test_id("challengers-note")).to_contain_text("3 chosen")
        # The model chosen to serve is no challenger: its box is cleared.
        await page.select_option("[name=model]", "hoeffding_tree")
        await expect(box(page, "hoeffding_tree")).not_to_be_checked()
        await expect(box(page, "hoeffding_tree")).to_be_disabled()
        assert await offered(page) == [
            "logistic_regression",
            "naive_bayes",
            "adaptive_random_forest",
        ]
        # Multilabel with text: as the model select, no adaptive_random_forest, no hoeffding_tree.
        await page.select_option("[name=task]", "multilabel")
        assert await offered(page) == ["naive_bayes"]
        await expect(box(page, "adaptive_random_forest")).not_to_be_checked()
        # Spans: none at all, and a line says why.
        await page.select_option("[name=task]", "spans")
        assert await offered(page) == []
        await expect(page.get_by_test_id("challengers-note")).to_contain_text("no challengers")

        # Classify again: two challengers, sent with the project and stored.
        await page.select_option("[name=task]", "classify")
        await page.fill("[name=name]", "tickets")
        await page.fill("[name=labels]", ", ".join(LABELS))
        await page.select_option("[name=model]", "logistic_regression")
        await box(page, "naive_bayes").check()
        await box(page, "hoeffding_tree").check()
        await page.press("[name=labels]", "Enter")
        await page.wait_for_url("**/dashboard.html?project=tickets", timeout=PATIENCE_MS)
        project = (await service.http.get("/api/projects/tickets")).json()
        assert project["model"] == "logistic_regression"
        assert project["challengers"] == ["naive_bayes", "hoeffding_tree"]
        await page.goto(f"{service.base}/")
        await expect(page.locator('[data-settings="tickets"]')).to_have_text(
            "text \u00b7 classify \u00b7 logistic_regression (challengers: naive_bayes, "
            "hoeffding_tree) \u00b7 margin",
            timeout=PATIENCE_MS,
        )


async def test_the_servers_refusal_of_a_challenger_is_shown_beside_the_boxes(
    browser: Browser, sqlite_settings: Settings
):
    async with running(sqlite_settings) as service:
        # The server's own words for challengers it refuses; the form lets none of these
        # through, so the test hands them to the page.
        spec = {"name": "x", "labels": LABELS, "challengers": ["naive_bayes", "naive_bayes"]}
        refused = (await service.http.post("/api/projects", json=spec)).json()["error"]
        assert "challengers: each model once" in refused["message"], refused
        page = await (await browser.new_context()).new_page()
        sent: list[dict[str, Any]] = []

        async def answer(route: Route) -> None:
            if route.request.method != "POST":
                await route.fallback()
                return
            sent.append(route.request.post_data_json)
            await route.fulfill(status=422, json={"error": refused})

        await page.route("**/api/projects", answer)
        await page.goto(f"{service.base}/")
        await page.fill("[name=name]", "tickets")
        await page.fill("[name=labels]", ", ".join(LABELS))
        await box(page, "naive_bayes").check()
        await page.press("[name=labels]", "Enter")
        slot = page.locator('.field-error[data-for="challengers"]')
        await expect(slot).to_have_text("Each model once", timeout=PATIENCE_MS)
        await expect(box(page, "naive_bayes")).to_have_attribute("aria-invalid", "true")
        await expect(page.locator("#create-error")).to_be_hidden()
        assert sent[0]["challengers"] == ["naive_bayes"]


async def test_the_dashboard_lists_the_models_and_promotes_a_challenger_once_confirmed(
    browser: Browser, sqlite_settings: Settings
):
    async with running(sqlite_settings) as service:
        await service.create_project(challengers=["naive_bayes"])
        await service.teach("tickets")
        page = await (await browser.new_context()).new_page()
        await page.goto(f"{service.base}/static/dashboard.html?project=tickets")
        table = page.get_by_role("table", name="Models")
        await expect(table).to_be_visible(timeout=PATIENCE_MS)
        await expect(page.get_by_test_id("models-one")).to_be_hidden()
        headers = await table.locator("thead th").all_inner_texts()
        assert headers[:2] == ["Model", "Role"], headers
        rows = table.locator("tbody tr")
        await expect(rows).to_have_count(2)
        # The model serving first, then the challenger, each with its figures.
        serving, challenger = rows.nth(0), rows.nth(1)
        await expect(serving).to_have_attribute("data-model", "logistic_regression")
        await expect(serving.locator("td.role")).to_have_text("serving production")
        await expect(challenger).to_have_attribute("data-model", "naive_bayes")
        await expect(challenger.locator("td.role")).to_contain_text("challenger")
        for model in ("logistic_regression", "naive_bayes"):
            await expect(page.locator(f'[data-model-labels="{model}"]')).to_have_text("24")
            await expect(page.locator(f'[data-model-accuracy="{model}"]')).to_have_text(
                re.compile(r"^\d+\.\d\u00a0%$")
            )
            await expect(page.locator(f'[data-model-rolling="{model}"]')).to_have_text(
                re.compile(r"^\d+\.\d\u00a0%$")
            )
            await expect(page.locator(f'[data-model-estimate="{model}"] small')).to_have_text(
                re.compile(r"^(no random draws yet|95\u00a0% from .+ to .+, \d+ draws)$")
            )
        # The model serving has no button; the challenger's is named after it.
        await expect(page.locator("#models button")).to_have_count(1)
        await expect(promote_button(page, "logistic_regression")).to_have_count(0)

        # Dismissed, nothing changes.
        asked: list[str] = []
        dismissed = asyncio.Event()

        async def dismiss(dialog: Dialog) -> None:
            asked.append(dialog.message)
            await dialog.dismiss()
            dismissed.set()

        page.once("dialog", dismiss)
        await promote_button(page, "naive_bayes").click()
        await asyncio.wait_for(dismissed.wait(), PATIENCE_MS / 1000)
        assert "naive_bayes" in asked[0] and "logistic_regression" in asked[0], asked
        assert (await service.http.get("/api/projects/tickets")).json()["model"] == (
            "logistic_regression"
        )

        # Accepted: promoted, said so, and the table follows.
        async def accept(dialog: Dialog) -> None:
            asked.append(dialog.message)
            await dialog.accept()

        page.once("dialog", accept)
        await promote_button(page, "naive_bayes").click()
        await expect(page.get_by_test_id("promote-outcome")).to_have_text(
            "naive_bayes serves production now, as model version 25; challenger: "
            "logistic_regression.",
            timeout=PATIENCE_MS,
        )
        await expect(rows.nth(0)).to_have_attribute(
            "data-model", "naive_bayes", timeout=PATIENCE_MS
        )
        await expect(rows.nth(0).locator("td.role")).to_have_text("serving production")
        await expect(promote_button(page, "naive_bayes")).to_have_count(0)
        await expect(promote_button(page, "logistic_regression")).to_be_visible()
        project = (await service.http.get("/api/projects/tickets")).json()
        assert (project["model"], project["challengers"]) == (
            "naive_bayes",
            ["logistic_regression"],
        )


async def test_a_refused_promotion_is_shown(browser: Browser, sqlite_settings: Settings):
    async with running(sqlite_settings) as service:
        await service.create_project(challengers=["naive_bayes"])
        page = await (await browser.new_context()).new_page()
        await page.route(
            "**/models/naive_bayes/promote",
            lambda route: route.fulfill(
                status=403,
                json={"error": {"code": "forbidden", "message": "a supervisor's token only"}},
            ),
        )
        await page.goto(f"{service.base}/static/dashboard.html?project=tickets")
        page.on("dialog", lambda dialog: dialog.accept())
        await promote_button(page, "naive_bayes").click(timeout=PATIENCE_MS)
        outcome = page.get_by_test_id("promote-outcome")
        await expect(outcome).to_have_text(
            "naive_bayes was not promoted: a supervisor's token only", timeout=PATIENCE_MS
        )
        await expect(outcome).to_have_class(re.compile(r"\berror\b"))
        await expect(promote_button(page, "naive_bayes")).to_be_enabled()
        assert (await service.http.get("/api/projects/tickets")).json()["model"] == (
            "logistic_regression"
        )


async def test_a_project_of_one_model_has_no_table_and_no_button(
    browser: Browser, sqlite_settings: Settings
):
    async with running(sqlite_settings) as service:
        await service.create_project(name="plain")
        await service.teach("plain", 6)
        page = await (await browser.new_context()).new_page()
        await page.goto(f"{service.base}/static/dashboard.html?project=plain")
        await expect(page.get_by_test_id("labels_total")).to_have_text("6", timeout=PATIENCE_MS)
        line = page.get_by_test_id("models-one")
        await expect(line).to_be_visible()
        await expect(line).to_contain_text("One model serves this project, logistic_regression")
        await expect(line).to_contain_text("Challengers are chosen when a project is created")
        await expect(page.get_by_test_id("models-card")).to_be_hidden()
        await expect(page.get_by_role("button", name=re.compile("^Promote"))).to_have_count(0)


async def test_on_a_phone_the_models_fit_and_promote_is_in_reach_and_accessible(
    browser: Browser, sqlite_settings: Settings
):
    async with running(sqlite_settings) as service:
        await service.create_project(challengers=["naive_bayes", "hoeffding_tree"])
        await service.teach("tickets")
        page = await (await browser.new_context(**PHONE)).new_page()
        await page.goto(f"{service.base}/static/dashboard.html?project=tickets")
        await expect(page.locator("#models tbody tr")).to_have_count(3, timeout=PATIENCE_MS)
        await expect(page.locator('[data-model-labels="hoeffding_tree"]')).to_have_text("24")
        assert await page.evaluate("document.documentElement.scrollWidth") <= 390
        for model in ("naive_bayes", "hoeffding_tree"):
            button = promote_button(page, model)
            await button.scroll_into_view_if_needed()
            found = await button.bounding_box()
            assert found is not None, model
            assert found["x"] >= 0 and found["x"] + found["width"] <= 390, found
            assert found["height"] >= TOUCH_PX, found
        found_violations = await violations(page, "dashboard, a project with challengers (phone)")
        home = await page.context.new_page()
        await home.goto(f"{service.base}/")
        await expect(box(home, "naive_bayes")).to_be_enabled(timeout=PATIENCE_MS)
        assert await home.evaluate("document.documentElement.scrollWidth") <= 390
        found_violations += await violations(home, "home, the challengers' boxes (phone)")
        assert not found_violations, "Not accessible:\n" + "\n".join(found_violations)
