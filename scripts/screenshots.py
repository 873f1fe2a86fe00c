"""Screenshots of the annotator app, the dashboard and the home page, for the README.

Starts `streamloop demo` on a free port, labels demo tickets by keyboard in Debian's chromium
(as an annotator who knows the answer, wrong one time in eight), teaches the spans project 30
messages of the span corpus through the API (as production labels), then saves the pages:

    python scripts/screenshots.py            # writes docs/screenshots/*.png
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx
from playwright.async_api import async_playwright

from streamloop.demo import _TOPICS
from streamloop.online.span_corpus import corpus

OUT = Path(__file__).resolve().parent.parent / "docs" / "screenshots"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


def truth(text: str) -> str:
    for label, (openings, _endings) in _TOPICS.items():
        if any(opening in text for opening in openings):
            return label
    raise ValueError(f"no topic in {text!r}")


async def main() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    data = tempfile.mkdtemp(prefix="streamloop-shots-")
    server = subprocess.Popen(
        [sys.executable, "-m", "streamloop", "demo", "--port", str(port), "--data-dir", data],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert server.stdout is not None
    while "annotate:" not in server.stdout.readline():
        pass
    base = f"http://127.0.0.1:{port}"
    OUT.mkdir(parents=True, exist_ok=True)
    try:
        async with async_playwright() as playwright:
            chromium = os.environ.get("STREAMLOOP_CHROMIUM") or shutil.which("chromium")
            browser = await playwright.chromium.launch(executable_path=chromium, args=ARGS)
            page = await browser.new_page(viewport={"width": 1200, "height": 760})
            await page.goto(f"{base}/static/annotate.html?project=support-tickets&annotator=ana")
            labels = None
            seen = ""
            for n in range(80):
                handle = await page.wait_for_function(
                    """(seen) => { const i = document.getElementById("item");
                        return !i.hidden && i.dataset.itemId !== seen
                            && i.dataset.ready === "true" && i.dataset.itemId; }""",
                    arg=seen,
                )
                seen = await handle.json_value()
                if labels is None:
                    labels = await page.locator("#labels button").evaluate_all(
                        "(buttons) => buttons.map((b) => b.dataset.label)"
                    )
                text = await page.get_by_test_id("text").inner_text()
                answer = labels.index(truth(text))
                if n % 8 == 7:
                    answer = (answer + 1) % len(labels)
                await page.keyboard.press(str(answer + 1))
            await page.wait_for_selector("#item:not([hidden])")
            await page.screenshot(path=OUT / "annotate.png")
            dashboard = await browser.new_page(viewport={"width": 1200, "height": 1000})
            await dashboard.goto(f"{base}/static/dashboard.html?project=support-tickets")
            await dashboard.wait_for_selector('path[data-series="accuracy"]')
            await dashboard.screenshot(path=OUT / "dashboard.png", full_page=True)
            await teach_spans(base)
            spans = await browser.new_page(viewport={"width": 1200, "height": 760})
            await spans.goto(f"{base}/static/annotate.html?project=ticket-entities&annotator=ana")
            await spans.wait_for_selector('#item[data-ready="true"] .span-text mark.span')
            await spans.screenshot(path=OUT / "spans.png")
            home = await browser.new_page(viewport={"width": 1200, "height": 700})
            await home.goto(base)
            await home.wait_for_selector("tr[data-project]")
            await home.screenshot(path=OUT / "home.png", full_page=True)
            await browser.close()
    finally:
        server.terminate()
        server.wait(30)
        shutil.rmtree(data, ignore_errors=True)
    print(f"wrote {', '.join(p.name for p in sorted(OUT.glob('*.png')))} in {OUT}")


async def teach_spans(base: str) -> None:
    """Send the spans project 40 messages of the corpus and the spans of 30 of them, so that
    its model suggests spans on the demo's own messages."""
    rows = corpus("commerce", 40, seed=99)
    events = [{"id": f"shot-{n}", "data": data} for n, (data, _) in enumerate(rows)]
    labels = [
        {"event_id": f"shot-{n}", "spans": [span.as_json() for span in spans]}
        for n, (_, spans) in enumerate(rows[:30])
    ]
    async with httpx.AsyncClient(base_url=base) as http:
        url = "/api/projects/ticket-entities"
        (await http.post(f"{url}/events", json={"events": events})).raise_for_status()
        (await http.post(f"{url}/labels", json={"labels": labels})).raise_for_status()


if __name__ == "__main__":
    asyncio.run(main())
