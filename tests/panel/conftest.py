"""Browser fixtures for the panel: Debian's chromium (never a downloaded browser) driven by Playwright,
headless with --no-sandbox, against a real gunicorn server on this run's test database."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.conftest import ROOT

CHROMIUM = os.environ.get("NUDGE_CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = ROOT / "var" / "screenshots"


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists() and shutil.which("chromium") is None:
        pytest.fail("Debian's chromium is needed: `make test` installs it (scripts/ensure-chromium.sh)")
    # Playwright's sync API keeps an event loop running in the test's thread while the browser is up; the
    # tests' own ORM calls are still synchronous and safe (Django's guard cannot tell them apart). Allowed
    # while the browser lives, then as before (tests/test_settings.py strips it from deployment checks).
    before = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            launched = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"], headless=True)
            yield launched
            launched.close()
    finally:
        if before is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = before


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    report = yield
    item.stash.setdefault(FAILED, False)
    if report.when == "call" and report.failed:
        item.stash[FAILED] = True
    return report


FAILED = pytest.StashKey[bool]()


@pytest.fixture
def page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1440, "height": 960}, locale="en-US")
    context.set_default_timeout(15_000)
    opened = context.new_page()
    yield opened
    if request.node.stash.get(FAILED, False):  # what the browser showed when the test failed
        screenshot(opened, f"failed-{request.node.name}")
    context.close()


def screenshot(page: Page, name: str) -> Path:
    """Save the whole page under var/screenshots/ (looked at by people, not compared by tests)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    target = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(target), full_page=True)
    return target


def log_in(page: Page, base: str, username: str, password: str = "pw") -> None:
    page.goto(f"{base}/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/")


def choose(page: Page, selector: str, value: str) -> None:
    """Pick an option in a select that redraws its form (htmx), and wait until the redraw has replaced it.

    Only a real change: Playwright fires `change` even for the option already chosen, and the redraw that
    answers it would land after the test's next keystrokes and wipe them. The wait is for the select that
    was picked from to leave the page, not for the response: htmx swaps after the response has arrived.
    """
    page.wait_for_selector(f"{selector}[hx-post], [hx-post] {selector}", state="attached")
    if page.input_value(selector) == value:
        return  # already chosen: no change, no redraw
    picked = page.locator(selector).element_handle()
    page.select_option(selector, value)
    page.wait_for_function("select => !select.isConnected", arg=picked)
