"""The annotator app, the dashboard and the home page, used in a real browser.

Debian's chromium, headless, driven by Playwright for Python, against a live server: the
in-process one, or a real ``streamloop serve`` process where the test kills it.
"""

from __future__ import annotations

import asyncio
import re
import signal
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.async_api import Browser, Page, Route, WebSocketRoute, expect

from browser.pages import PATIENCE_MS, annotator_page, answerable, next_item, seed
from streamloop.config import Settings
from streamloop.store import Store
from support import ServeProcess, free_port, project_spec, running, ticket

pytestmark = pytest.mark.browser


async def test_two_annotators_label_by_keyboard_and_never_see_the_same_item(
    browser: Browser, sqlite_settings: Settings
):
    async with running(sqlite_settings) as service:
        # Two more than are labelled: each page holds its next item once it has done its six.
        await seed(service.http, 14)
        pages = [await annotator_page(browser, service.base, name) for name in ("ana", "ben")]
        seen: dict[str, list[str]] = {"ana": [], "ben": []}

        async def work(page: Page, name: str) -> None:
            for n in range(6):
                item = await next_item(page, seen[name])
                seen[name].append(item)
                await page.keyboard.press(str(1 + n % 3))  # number keys choose a label
            await expect(page.get_by_test_id("done")).to_have_text("6", timeout=PATIENCE_MS)
            await expect(page.get_by_test_id("pending")).to_have_text("0")

        await asyncio.gather(*(work(page, name) for page, name in zip(pages, seen, strict=True)))
        assert not set(seen["ana"]) & set(seen["ben"]), seen
        metrics = await service.metrics("tickets")
        assert metrics["labels_total"] == 12
        assert {name: a["labels"] for name, a in metrics["annotators"].items()} == {
            "ana": 6,
            "ben": 6,
        }


async def test_text_shows_as_text_tabular_data_as_a_table_and_labels_keep_their_order(
    browser: Browser, sqlite_settings: Settings
):
    async with running(sqlite_settings) as service:
        spec = {"name": "tickets", "labels": ["low", "high"], "input": "tabular"}
        assert (await service.http.post("/api/projects", json=spec)).status_code == 201
        await service.http.post(
            "/api/projects/tickets/events",
            json={"events": [{"id": "row-1", "data": {"amount": 12.5, "country": "fr"}}]},
        )
        page = await annotator_page(browser, service.base, "ana")
        await next_item(page, [])
        table = page.get_by_test_id("fields")
        await expect(table).to_contain_text("amount")
        await expect(table).to_contain_text("12.5")
        await expect(page.locator("#labels button")).to_have_text(["1 low", "2 high"])
        # The item has the focus, not a label button, which Space or Enter would press.
        await expect(page.get_by_test_id("content")).to_be_focused()


async def test_undo_corrects_the_last_label_and_the_model_learns_it(
    browser: Browser, sqlite_settings: Settings
):
    async with running(sqlite_settings) as service:
        await seed(service.http, 3, exploration=0.0)
        page = await annotator_page(browser, service.base, "ana")
        first = await next_item(page, [])
        await page.keyboard.press("1")
        await expect(page.get_by_test_id("done")).to_have_text("1", timeout=PATIENCE_MS)
        await next_item(page, [first])
        await page.keyboard.press("u")  # the last label comes back, to be corrected
        await answerable(page, first)
        await expect(page.locator("#correcting")).to_be_visible()
        await page.keyboard.press("2")
        await expect(page.get_by_test_id("pending")).to_have_text("0", timeout=PATIENCE_MS)
        await expect(page.locator("#item")).not_to_have_attribute("data-item-id", first)
        metrics = await service.metrics("tickets")
        assert metrics["model_version"] == 2 and metrics["labels_total"] == 1
        assert metrics["annotators"]["ana"]["corrections"] == 1


async def test_the_dashboard_moves_after_labels(browser: Browser, sqlite_settings: Settings):
    async with running(sqlite_settings) as service:
        await seed(service.http, 4)
        dashboard = await (await browser.new_context()).new_page()
        await dashboard.goto(f"{service.base}/static/dashboard.html?project=tickets")
        await expect(dashboard.get_by_test_id("labels_total")).to_have_text("0")
        await expect(dashboard.get_by_test_id("queue_depth")).to_have_text("4")
        page = await annotator_page(browser, service.base, "ana")
        seen: list[str] = []
        for _ in range(3):
            seen.append(await next_item(page, seen))
            await page.keyboard.press("2")
        await expect(dashboard.get_by_test_id("labels_total")).to_have_text(
            "3", timeout=PATIENCE_MS
        )
        await expect(dashboard.get_by_test_id("model_version")).to_have_text("3")
        # The fourth item is the one the annotator holds now: leased, no longer waiting.
        await expect(dashboard.get_by_test_id("queue_depth")).to_have_text("0")
        await expect(dashboard.locator("#leased")).to_have_text("1")
        accuracy_line = dashboard.locator('path[data-series="accuracy"]')
        await expect(accuracy_line).to_have_attribute("data-points", "3")
        await expect(dashboard.locator("#annotators")).to_contain_text("ana")
        # The drift figure: nothing seen on four tickets, exploring at the project's share.
        await expect(dashboard.get_by_test_id("drift")).to_have_text("none")
        await expect(dashboard.locator("#drift_detail")).to_contain_text("exploring 20")


async def test_a_new_projects_drift_figure_says_there_are_no_random_draws_yet(
    browser: Browser, sqlite_settings: Settings
):
    async with running(sqlite_settings) as service:
        await seed(service.http, 2)
        dashboard = await (await browser.new_context()).new_page()
        await dashboard.goto(f"{service.base}/static/dashboard.html?project=tickets")
        await expect(dashboard.get_by_test_id("drift")).to_have_text("none")
        # Nothing was drawn at random: nothing can have agreed with the model.
        detail = dashboard.locator("#drift_detail")
        await expect(detail).to_contain_text("no random draws yet")
        await expect(detail).not_to_contain_text("agree")


async def test_the_dashboard_reconnects_after_a_close_and_a_policy_close_is_final(
    browser: Browser, sqlite_settings: Settings
):
    connections: list[WebSocketRoute] = []
    reconnected = asyncio.Event()

    def route(page_side: WebSocketRoute) -> None:
        page_side.connect_to_server()
        connections.append(page_side)
        if len(connections) == 2:
            reconnected.set()

    async with running(sqlite_settings) as service:
        await seed(service.http, 1)
        page = await (await browser.new_context()).new_page()
        await page.route_web_socket(re.compile(r"/dashboard$"), route)
        await page.goto(f"{service.base}/static/dashboard.html?project=tickets")
        status = page.locator("#status")
        await expect(status).to_have_text("live", timeout=PATIENCE_MS)
        await connections[0].close(code=1013, reason="try again later")
        await asyncio.wait_for(reconnected.wait(), PATIENCE_MS / 1000)
        await expect(status).to_have_text("live", timeout=PATIENCE_MS)

        await connections[1].close(code=1008, reason="token revoked")
        await expect(status).to_have_attribute("data-state", "offline", timeout=PATIENCE_MS)
        await expect(status).to_contain_text("refused: token revoked")


async def test_a_server_killed_mid_session_loses_no_label(browser: Browser, tmp_path: Path):
    port = free_port()
    args = ["--data-dir", str(tmp_path / "data")]
    server = ServeProcess(args, port=port)
    await server.ready()
    try:
        async with server.http() as http:
            await seed(http, 5, exploration=0.0)
        page = await annotator_page(browser, server.base, "ana")
        first = await next_item(page, [])
        await page.keyboard.press("1")
        await expect(page.get_by_test_id("done")).to_have_text("1", timeout=PATIENCE_MS)
        second = await next_item(page, [first])

        server.kill(signal.SIGKILL)
        await expect(page.locator("#status")).to_have_attribute("data-state", "reconnecting")
        await page.keyboard.press("2")  # labelled while the server is down: kept in the outbox
        await expect(page.get_by_test_id("pending")).to_have_text("1")

        server = ServeProcess(args, port=port)
        await server.ready()
        # Reconnected, the page sends the label again with its label_id, until acked.
        await expect(page.get_by_test_id("pending")).to_have_text("0", timeout=PATIENCE_MS)
        await expect(page.get_by_test_id("done")).to_have_text("2")
        async with server.http() as http:
            metrics = (await http.get("/api/projects/tickets/metrics")).json()
        assert metrics["labels_total"] == 2
        assert {first, second}.isdisjoint(
            await page.evaluate("[document.getElementById('item').dataset.itemId]")
        )
    finally:
        server.kill(signal.SIGTERM)


async def test_the_home_page_shows_each_projects_figures_from_the_list_alone(
    browser: Browser, sqlite_settings: Settings
):
    async with running(sqlite_settings) as service:
        await seed(service.http, 3)
        label = {"labels": [{"event_id": "evt-0", "label": "billing"}]}
        assert (
            await service.http.post("/api/projects/tickets/labels", json=label)
        ).status_code == 200
        page = await (await browser.new_context()).new_page()
        requested: list[str] = []
        page.on("request", lambda request: requested.append(urlsplit(request.url).path))
        await page.goto(f"{service.base}/")
        # Model version, accuracy on traffic (none yet: no random draw labelled), queue,
        # annotators online, labels per minute.
        figures = page.locator('tr[data-project="tickets"] td.num')
        await expect(figures).to_have_text(["1", "\u2013", "2", "0", "1.0"], timeout=PATIENCE_MS)
        # The models it may offer, and the projects: never a project's own figures.
        asked = {path for path in requested if path.startswith("/api/")}
        assert asked - {"/api/models"} == {"/api/projects"}


async def test_the_home_page_asks_no_project_for_its_metrics_whatever_the_summary_holds(
    browser: Browser, sqlite_settings: Settings
):
    async with running(sqlite_settings) as service:
        await seed(service.http, 4, exploration=1.0)  # every item drawn at random
        async with service.annotator("tickets", "ana") as socket:
            for n in range(2):
                item = (await socket.next_item())["item"]["id"]
                assert (await socket.label(item, "bug", f"l-{n}"))["type"] == "ack"
        assert (await service.metrics("tickets"))["unbiased_accuracy"]["estimate"] is not None

        async def without_draws(route: Route) -> None:
            # A summary without `accuracy_samples`: the page shows what it has, and that alone.
            response = await route.fetch()
            body = await response.json()
            for project in body["projects"]:
                del project["summary"]["accuracy_samples"]
            await route.fulfill(response=response, json=body)

        page = await (await browser.new_context()).new_page()
        requested: list[str] = []
        page.on("request", lambda request: requested.append(urlsplit(request.url).path))
        await page.route(re.compile(r"/api/projects$"), without_draws)
        await page.goto(f"{service.base}/")
        await expect(page.locator('[data-draws="tickets"]')).to_have_text(
            "accuracy", timeout=PATIENCE_MS
        )
        # The next refresh: a request made on the first one has been seen by now.
        async with page.expect_request(re.compile(r"/api/projects$"), timeout=PATIENCE_MS):
            pass
        # The models it may offer, and the projects: never a project's own figures.
        asked = {path for path in requested if path.startswith("/api/")}
        assert asked - {"/api/models"} == {"/api/projects"}
        await expect(page.locator('[data-draws="tickets"]')).to_have_text("accuracy")


async def test_creating_a_project_with_a_bad_name_shows_the_error(
    browser: Browser, sqlite_settings: Settings
):
    async with running(sqlite_settings) as service:
        page = await (await browser.new_context()).new_page()
        await page.goto(f"{service.base}/")
        # A field the page checks itself is named beside it.
        await page.fill("[name=name]", "support")
        await page.fill("[name=labels]", "billing")
        await page.press("[name=labels]", "Enter")
        await expect(page.locator('.field-error[data-for="labels"]')).to_have_text(
            "Give at least two labels."
        )
        await expect(page.locator("[name=labels]")).to_be_focused()

        # The name's rule is the server's: the page shows its 422 beside the field it names,
        # as the rule in words, not the pattern the server's message quotes.
        refusal = await service.http.post(
            "/api/projects", json=project_spec(name="Support Tickets")
        )
        assert refusal.status_code == 422
        message = refusal.json()["error"]["message"]
        assert message.startswith("name: String should match pattern"), message
        await page.fill("[name=name]", "Support Tickets")
        await page.fill("[name=labels]", "billing, bug")
        await page.press("[name=labels]", "Enter")
        await expect(page.locator('.field-error[data-for="name"]')).to_have_text(
            "1\u201364 lowercase letters, digits, - or _"
        )
        await expect(page.locator("[name=name]")).to_be_focused()
        await expect(page.locator("#create-error")).to_be_hidden()
        await expect(page.locator('.field-error[data-for="labels"]')).to_have_text("")
        assert (await service.http.get("/api/projects")).json()["projects"] == []

        # A name the server refuses (it exists) shows the server's own message.
        await service.http.post("/api/projects", json=project_spec(name="taken"))
        await page.fill("[name=name]", "taken")
        await page.press("[name=labels]", "Enter")
        await expect(page.locator("#create-error")).to_contain_text("exists already")

        await page.fill("[name=name]", "support")
        await page.press("[name=labels]", "Enter")
        await page.wait_for_url("**/dashboard.html?project=support", timeout=PATIENCE_MS)
        await expect(page.locator("#project")).to_have_text("support")


async def test_the_chart_draws_fifty_thousand_points_as_a_path_no_longer_than_its_width(
    browser: Browser, sqlite_settings: Settings
):
    async with running(sqlite_settings) as service:
        await seed(service.http, 1)
        page = await (await browser.new_context()).new_page()
        await page.goto(f"{service.base}/static/dashboard.html?project=tickets")
        drawn = await page.evaluate(
            """async () => {
                const { LineChart } = await import("/static/chart.js");
                const box = document.createElement("div");
                box.style.width = "600px";
                document.body.append(box);
                const chart = new LineChart(box, [{ name: "s", color: "#000" }]);
                const points = Array.from({ length: 50000 }, (_, i) => [i + 1, (i % 97) / 96]);
                chart.set("s", points);
                chart.draw();
                const path = box.querySelector("path");
                return { commands: path.getAttribute("d").split(/[ML]/).length - 1,
                         points: Number(path.dataset.points), width: box.clientWidth };
            }"""
        )
    assert drawn["points"] == 50_000
    # At most two points per pixel column of the plot: the shape, not the raw series.
    assert drawn["commands"] <= 2 * drawn["width"]


async def test_with_auth_on_the_app_works_from_a_token_link_and_hides_the_token(
    browser: Browser, sqlite_settings: Settings
):
    store = Store(sqlite_settings.database_url)
    try:
        admin = store.tokens.create("root", "admin")[1]
        alice = store.tokens.create("alice", "annotator")[1]
    finally:
        store.close()
    async with running(sqlite_settings) as service:
        service.http.headers["authorization"] = f"Bearer {admin}"
        await seed(service.http, 3)
        context = await browser.new_context()
        page = await context.new_page()
        # The link names someone else: with auth on, the token decides who labels.
        link = "/static/annotate.html?project=tickets&annotator=mallory"
        await page.goto(f"{service.base}{link}#token={alice}")
        item = await next_item(page, [])
        await expect(page.locator("#who")).to_have_text("alice", timeout=PATIENCE_MS)
        assert alice not in page.url  # taken out of the address bar, kept for the tab
        await page.keyboard.press("2")
        await expect(page.get_by_test_id("done")).to_have_text("1", timeout=PATIENCE_MS)
        metrics = await service.metrics("tickets")
        assert list(metrics["annotators"]) == ["alice"] and metrics["labels_total"] == 1
        assert item.startswith("evt-")
        # Without the token the same page is refused, and says so.
        stranger = await (await browser.new_context()).new_page()
        await stranger.goto(f"{service.base}{link}")
        await expect(stranger.locator("body")).to_contain_text("token", timeout=PATIENCE_MS)


async def test_on_a_phone_no_page_is_wider_than_the_screen(
    browser: Browser, sqlite_settings: Settings
):
    async with running(sqlite_settings) as service:
        await seed(service.http, 3)
        # Online, so the dashboard's annotators table has a row, with a long name.
        ana = await annotator_page(browser, service.base, "ana-with-a-long-name")
        await next_item(ana, [])
        phone = await browser.new_context(viewport={"width": 390, "height": 844})
        pages = {
            "/": "#projects tbody tr",
            "/static/dashboard.html?project=tickets": "#annotators tbody tr",
            "/static/annotate.html?project=tickets&annotator=bob": "#work",
            "/static/review.html?project=tickets&reviewer=rita": "#work",
        }
        for path, filled in pages.items():
            screen = await phone.new_page()
            await screen.goto(f"{service.base}{path}")
            await expect(screen.locator(filled).first).to_be_visible(timeout=PATIENCE_MS)
            width = await screen.evaluate("document.documentElement.scrollWidth")
            assert width <= 390, f"{path} is {width} px wide on a 390 px screen"


async def test_the_dashboard_shows_each_annotators_gold_accuracy(
    browser: Browser, sqlite_settings: Settings
):
    async with running(sqlite_settings) as service:
        await service.create_project(gold_share=1.0)
        await service.send_events("tickets", [{"id": "e0", "data": {"text": "it crashes"}}])
        gold = {"items": [{"id": "g-1", "data": {"text": "refund my card"}, "label": "billing"}]}
        assert (await service.http.post("/api/projects/tickets/gold", json=gold)).status_code == 200
        async with service.annotator("tickets", "alice") as alice:
            item = (await alice.next_item())["item"]["id"]
            assert (await alice.label(item, "billing", "l-1"))["type"] == "ack"
        dashboard = await (await browser.new_context()).new_page()
        await dashboard.goto(f"{service.base}/static/dashboard.html?project=tickets")
        await expect(dashboard.locator('td[data-gold="alice"]')).to_have_text(
            re.compile(r"100\.0 % \[\d+\.\d\u2013100\.0\] of 1"), timeout=PATIENCE_MS
        )


async def test_the_dashboard_shows_a_quarantined_annotator(
    browser: Browser, sqlite_settings: Settings
):
    async with running(sqlite_settings) as service:
        await service.create_project()
        await service.send_events("tickets", [{"id": "e0", "data": ticket("bug", 0)}])
        async with service.annotator("tickets", "alice") as alice:
            await alice.next_item()
            assert (await alice.label("e0", "bug", "a0"))["type"] == "ack"
        response = await service.http.post(
            "/api/projects/tickets/annotators/alice/quarantine", json={}
        )
        assert response.status_code == 202, response.text
        dashboard = await (await browser.new_context()).new_page()
        await dashboard.goto(f"{service.base}/static/dashboard.html?project=tickets")
        await expect(dashboard.locator('td[data-annotator="alice"]')).to_have_attribute(
            "data-state", "quarantined", timeout=PATIENCE_MS
        )
