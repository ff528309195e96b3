"""Browser tests of the operator console: headless Chromium (Debian's `chromium`, driven by
Playwright) against the local stack that the e2e fixtures start for the session.

`make test` installs Chromium when it can (apt-get as root) or stops naming the package; run
alone without it, these tests are skipped with that message."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import api, stack, stack_environment, webhook_receiver  # noqa: F401 - fixtures

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = Path(__file__).resolve().parent / "screenshots"
AXE = Path(__file__).resolve().parents[2] / ".local" / "node_modules" / "axe-core" / "axe.min.js"
API_KEY = "key_a"


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not (shutil.which(CHROMIUM) or Path(CHROMIUM).exists()):
        pytest.skip(f"the console's browser tests need Chromium at {CHROMIUM}: apt-get install -y chromium "
                    "(make test installs it when run as root)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"], headless=True)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser, stack) -> Iterator[Any]:  # noqa: F811
    from playwright.sync_api import expect

    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    # Upper bounds on waiting for the page, never a timing asserted: generous, since a shared
    # 2-core machine running the rest of the suite can take seconds to answer.
    context.set_default_timeout(60_000)
    expect.set_options(timeout=60_000)
    pg = context.new_page()
    pg.console_errors = []  # type: ignore[attr-defined]
    pg.on("console", lambda m: m.type == "error" and pg.console_errors.append(m.text))  # type: ignore[attr-defined]
    pg.on("pageerror", lambda e: pg.console_errors.append(str(e)))  # type: ignore[attr-defined]
    pg.failed_requests = []  # type: ignore[attr-defined]
    pg.on("response", lambda r: r.status >= 400 and pg.failed_requests.append(f"{r.status} {r.url}"))  # type: ignore[attr-defined]
    try:
        yield pg
    finally:
        context.close()


def console_url(stack) -> str:  # noqa: F811
    return f"{stack.api_url}/console"


def sign_in(page, stack, key: str = API_KEY) -> None:  # noqa: F811
    page.goto(console_url(stack))
    page.get_by_label("API key").fill(key)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name="Customers").wait_for()


def shot(page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{re.sub(r'[^a-z0-9_-]+', '-', name.lower())}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def axe_violations(page) -> list[dict[str, Any]]:
    """axe-core (npm, installed by the Makefile) run inside the page; serious and critical only.
    It is evaluated through the DevTools protocol, which the page's CSP does not govern."""
    if not AXE.exists():
        pytest.fail(f"axe-core is missing at {AXE}: run `make install`")
    page.evaluate(AXE.read_text())
    result = page.evaluate("async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
                           ".map(v => ({id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map(n => n.html).slice(0, 3)}))")
    return [v for v in result if v["impact"] in ("serious", "critical")]
