"""axe-core, Deque's accessibility engine, run in a page of the browser tests.

The engine is the ``axe.min.js`` that axe-playwright-python ships (pinned in pyproject.toml's
``dev`` extra, so every run checks against the same rules). A page fails on every violation axe
rates serious or critical, and on the few rules of lesser impact that it once broke (issue 20);
the other minor and moderate ones, mostly best practices, are left to judgement. One check axe
has no rule for comes with it: no live region holds a control.
"""

from __future__ import annotations

from typing import Any

from playwright.async_api import Page

from support import service_missing

#: The impacts that fail a test.
FAILING = frozenset({"serious", "critical"})
#: Rules that fail a test whatever their impact, kept fixed: the join form outside every
#: landmark (region) and the page without a main then (landmark-one-main), the corner of the
#: dashboard's matrices (empty-table-header).
KEPT_FIXED = frozenset({"region", "landmark-one-main", "empty-table-header"})

#: Each live region that holds a button or a field, which a screen reader would read again, all
#: of it, on each change (the whole item card was one, issue 20).
LIVE_CONTROLS = """() => [...document.querySelectorAll(
    '[aria-live]:not([aria-live="off"]), [role="status"], [role="alert"], [role="log"]')]
    .filter((region) => region.querySelector("button, input, select, textarea"))
    .map((region) => region.id ? `#${region.id}` : region.outerHTML.slice(0, 80))"""


def _engine() -> Any:
    try:
        from axe_playwright_python.async_playwright import Axe
    except ImportError:
        service_missing(
            "no axe-core: axe-playwright-python, in the dev extra (pip install -e '.[dev]')"
        )
    return Axe()


async def violations(page: Page, context: str) -> list[str]:
    """What fails on ``page`` as it is now, one line each, headed by ``context`` (which page,
    in which state): each axe rule broken, with its impact, help and the failing nodes'
    selectors; each live region that holds a control."""
    results = await _engine().run(page)
    found = []
    for violation in results.response["violations"]:
        if violation["impact"] not in FAILING and violation["id"] not in KEPT_FIXED:
            continue
        nodes = violation["nodes"]
        targets = "; ".join(" ".join(map(str, node["target"])) for node in nodes)
        checks = nodes[0]["any"] + nodes[0]["all"] + nodes[0]["none"] if nodes else []
        first = f" (the first: {checks[0]['message']})" if checks else ""
        found.append(
            f"{context}: {violation['id']} ({violation['impact']}) {violation['help']}: "
            f"{targets}{first}"
        )
    for region in await page.evaluate(LIVE_CONTROLS):
        found.append(
            f"{context}: a live region holds controls, read again on each change: {region}"
        )
    return found


async def assert_accessible(page: Page, context: str) -> None:
    """Fail, listing them all, on what :func:`violations` finds on ``page``."""
    found = await violations(page, context)
    assert not found, "Not accessible:\n" + "\n".join(found)
