"""A web page of another origin cannot drive streamloop; streamloop's own pages run under its CSP.

The other origin is a page on another loopback port, which Chromium treats as cross-origin
and, both ends on loopback, lets reach the server: what the server allows is what is tested.
"""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import Browser, Page, expect

from browser.pages import PATIENCE_MS, another_origin, next_item, seed, watch_csp
from streamloop.config import Settings
from support import running

pytestmark = pytest.mark.browser

#: Run from the other origin: what a page there can send without a preflight (a POST whose
#: body is text/plain, in no-cors mode), and both sockets, each until it closes or serves data.
ATTACK = """async ({ base, socketBase }) => {
    const post = (path, body) => fetch(base + path, {
        method: "POST", mode: "no-cors", headers: { "content-type": "text/plain" },
        body: JSON.stringify(body),
    }).then(() => "answered", (error) => String(error));
    const posts = [
        await post("/api/projects", { name: "stolen", labels: ["a", "b"], input: "text" }),
        await post("/api/projects/tickets/events",
            { events: [{ id: "forged-1", data: { text: "forged" } }] }),
        await post("/api/projects/tickets/labels",
            { labels: [{ event_id: "evt-0", label: "other" }] }),
    ];
    const listen = (path) => new Promise((resolve) => {
        const socket = new WebSocket(socketBase + path);
        const received = [];
        socket.addEventListener("message", (event) => {
            const message = JSON.parse(event.data);
            received.push(message);
            if (message.type === "item" || message.type === "metrics") {
                resolve({ received, code: "still open" });
                socket.close();
            }
        });
        socket.addEventListener("close", (event) => resolve({ received, code: event.code }));
    });
    const annotate = await listen("/ws/projects/tickets/annotate?annotator=mallory");
    const dashboard = await listen("/ws/projects/tickets/dashboard");
    return { posts, annotate, dashboard };
}"""

#: What the contract's policy must say, at least.
CSP_DIRECTIVES = {
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "connect-src 'self'",
    "frame-ancestors 'none'",
}


async def test_a_page_of_another_origin_can_change_nothing_and_read_nothing(
    browser: Browser, sqlite_settings: Settings
):
    async with running(sqlite_settings) as service, another_origin("<p>elsewhere</p>") as other:
        await seed(service.http, 3)
        page = await (await browser.new_context()).new_page()
        await page.goto(other)
        outcome = await page.evaluate(ATTACK, {"base": service.base, "socketBase": service.ws_base})
        # Each request was answered (the browser hides how), so each is done with by now.
        assert outcome["posts"] == ["answered"] * 3, outcome["posts"]
        projects = (await service.http.get("/api/projects")).json()["projects"]
        metrics = await service.metrics("tickets")
        seen = {
            "projects": [p["name"] for p in projects],
            "events_total": metrics["events_total"],
            "labels_total": metrics["labels_total"],
        }
        assert seen == {"projects": ["tickets"], "events_total": 3, "labels_total": 0}
        for name in ("annotate", "dashboard"):
            socket: dict[str, Any] = outcome[name]
            # Refused: the contract's error frame, then close 1008, and nothing else.
            received = [(m["type"], m.get("code")) for m in socket["received"]]
            assert (received, socket["code"]) == ([("error", "forbidden_origin")], 1008), socket


async def test_a_page_of_another_origin_cannot_frame_the_annotator_app(
    browser: Browser, sqlite_settings: Settings
):
    async with running(sqlite_settings) as service:
        await seed(service.http, 3)
        target = f"{service.base}/static/annotate.html?project=tickets&annotator=framed"
        frame_page = f'<iframe src="{target}" title="app"></iframe>'
        async with another_origin(frame_page) as other:
            page = await (await browser.new_context()).new_page()
            refused = []
            page.on("console", lambda message: refused.append(message.text))
            await page.goto(other)  # "load" waits for the frame, refused or not
            # Refused, the frame holds Chromium's error page, never the app.
            assert [frame.url for frame in page.frames[1:]] == ["chrome-error://chromewebdata/"]
            assert any("frame-ancestors" in text for text in refused), refused


#: How a legend's key draws its line: its colour and width, which the chart's script sets as the
#: key's own properties (``--color``, ``--width``) and the stylesheet reads.
LEGEND_LINE = """(key) => {
    const line = getComputedStyle(key, "::before");
    return { color: line.borderTopColor, width: line.borderTopWidth };
}"""


async def assert_served_with_csp(page: Page, url: str) -> None:
    response = await page.goto(url)
    assert response is not None
    policy = response.headers.get("content-security-policy", "")
    directives = {d.strip() for d in policy.split(";")}
    assert directives >= CSP_DIRECTIVES, (url, policy)
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy, policy


async def test_every_page_works_under_its_content_security_policy(
    browser: Browser, sqlite_settings: Settings
):
    async with running(sqlite_settings) as service:
        await seed(service.http, 6, exploration=0.0)
        context = await browser.new_context()
        violations = await watch_csp(context)

        home = await context.new_page()
        await assert_served_with_csp(home, f"{service.base}/")
        await expect(home.locator('tr[data-project="tickets"]')).to_be_visible(timeout=PATIENCE_MS)
        await home.fill("[name=name]", "support")
        await home.fill("[name=labels]", "billing, bug")
        await home.press("[name=labels]", "Enter")
        await home.wait_for_url("**/dashboard.html?project=support", timeout=PATIENCE_MS)
        await expect(home.locator("#status")).to_have_text("live", timeout=PATIENCE_MS)

        annotate = await context.new_page()
        await assert_served_with_csp(annotate, f"{service.base}/static/annotate.html")
        await annotate.select_option("#join-project", "tickets")
        await annotate.fill("#join-name", "ana")
        await annotate.press("#join-name", "Enter")
        seen: list[str] = []
        for key in ("1", "2"):
            seen.append(await next_item(annotate, seen))
            await annotate.keyboard.press(key)
        await expect(annotate.get_by_test_id("done")).to_have_text("2", timeout=PATIENCE_MS)
        # The next item, and its line on the model's suggestion (none yet, after two labels).
        await next_item(annotate, seen)
        await expect(annotate.get_by_test_id("no-suggestion")).to_be_visible()

        dashboard = await context.new_page()
        url = f"{service.base}/static/dashboard.html?project=tickets"
        await assert_served_with_csp(dashboard, url)
        await expect(dashboard.get_by_test_id("labels_total")).to_have_text(
            "2", timeout=PATIENCE_MS
        )
        await expect(dashboard.locator('path[data-series="accuracy"]')).to_have_attribute(
            "data-points", "2"
        )
        # Properties set from a script (the policy refuses style attributes, not these) take
        # effect: the matrix's shades, and each line's colour and width in the chart's legend.
        cell = dashboard.locator("#confusion td").first
        assert await cell.evaluate("(td) => td.style.getPropertyValue('--shade') !== ''")
        key = dashboard.locator("#chart .legend .key").first
        await expect(key).to_have_text("annotators' items (hardest)")
        drawn = await key.evaluate(LEGEND_LINE)
        assert drawn == {"color": "rgb(47, 111, 219)", "width": "3px"}, drawn

        # A round trip on each page: a violation raised before it has been reported by now.
        for page in (home, annotate, dashboard):
            await page.evaluate("() => new Promise(requestAnimationFrame)")
        assert violations == []
