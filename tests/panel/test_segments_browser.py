"""A marketer's segments in real headless chromium against gunicorn: a rule segment built row by row
while its estimate changes, saved to its page; a static list filled from a CSV with bad and repeated
rows, its progress card surviving a reload, then every row counted once, the rejected ones listed by
line and the members shown without a reload, with no error in the browser's console. Photographed
under var/screenshots/segments-*.png."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import ConsoleMessage, Page, expect

from activities.models import Activity, Identity, IdentityKind, Profile, TrackedActivity
from segments import lists
from segments.models import ListImport, Segment
from tests.panel.conftest import choose, log_in, screenshot
from workspaces.models import Role

pytestmark = pytest.mark.slow


def _people(tenant) -> None:
    """ann and bob in Turkey (ann bought twice), cem in Germany."""
    now = timezone.now()
    for user_id, country in (("ann", "TR"), ("bob", "TR"), ("cem", "DE")):
        profile = Profile.objects.create(
            workspace=tenant.workspace, user_id=user_id, email=f"{user_id}@example.com", traits={"country": country}
        )
        Identity.objects.create(workspace=tenant.workspace, kind=IdentityKind.USER_ID, value=user_id, profile=profile)
        if user_id == "ann":
            for hours in (1, 2):
                Activity.objects.create(
                    workspace=tenant.workspace,
                    profile=profile,
                    name="purchase",
                    timestamp=now - timedelta(hours=hours),
                    received_at=now,
                    message_id=f"m{hours}",
                    properties={},
                )
    TrackedActivity.objects.create(
        workspace=tenant.workspace, name="purchase", count=2, first_seen=now, last_seen=now, properties={}
    )


def _estimate(page: Page, size: str) -> None:
    expect(page.locator("#estimate [data-estimate]")).to_have_text(size, timeout=15_000)


def test_a_marketer_builds_a_rule_segment_watching_the_estimate(live_nudge: str, page: Page, acme):
    base = live_nudge
    _people(acme)
    log_in(page, base, acme.members[Role.MARKETER].username)
    page.goto(f"{base}/segments/segment/")
    page.click("a[href='/segments/segment/add/']")
    page.fill("input[name=name]", "Turkish buyers")
    page.fill("input[name=c-0-trait]", "country")
    page.select_option("select[name=c-0-op]", "eq")
    page.fill("input[name=c-0-value]", "TR")
    page.press("input[name=c-0-value]", "Tab")
    _estimate(page, "2")

    page.click("[data-add-row=top]")
    choose(page, "select[name=c-1-kind]", "performed")
    page.select_option("select[name=c-1-activity]", "purchase")
    page.fill("input[name=c-1-count]", "2")
    page.press("input[name=c-1-count]", "Tab")
    _estimate(page, "1")
    screenshot(page, "segments-builder")

    page.click("[data-save]")
    expect(page.locator("[data-words]")).to_contain_text("trait country is")
    segment = Segment.objects.get(workspace=acme.workspace, slug="turkish-buyers")
    assert segment.rule == {
        "all": [
            {"trait": "country", "op": "eq", "value": "TR"},
            {"performed": "purchase", "count": {"op": "gte", "value": 2}},
        ]
    }
    screenshot(page, "segments-detail")


def _console_errors(page: Page) -> list[str]:
    """What the page reports as errors from here on: its scripts' exceptions and console errors, but for
    the answer that is meant (a refused file's page is a 400)."""
    errors: list[str] = []

    def console(message: ConsoleMessage) -> None:
        url = message.location.get("url", "")
        meant = url.endswith("/import/") and "status of 400" in message.text
        if message.type == "error" and not meant:
            errors.append(f"console: {message.text} ({url})")

    page.on("console", console)
    page.on("pageerror", lambda error: errors.append(f"pageerror: {error}"))
    return errors


def test_a_csv_list_with_bad_rows_lists_them_by_line(live_nudge: str, page: Page, acme, tmp_path):
    base = live_nudge
    _people(acme)
    errors = _console_errors(page)
    log_in(page, base, acme.members[Role.MARKETER].username)
    page.goto(f"{base}/segments/segment/add/?kind=list")
    page.fill("input[name=name]", "Newsletter")
    page.click("[data-save]")
    expect(page.locator("#import")).to_be_visible()
    expect(page.locator("[data-members]")).to_contain_text("No one yet")

    latin1 = tmp_path / "latin1.csv"
    latin1.write_bytes(b"caf\xe9\n")
    page.set_input_files("input[name=file]", str(latin1))
    expect(page.locator("#import input[type=text]")).to_have_value("latin1.csv")  # the chosen file is named
    page.click("[data-upload]")
    expect(page.locator("#import .errors")).to_contain_text("Is not UTF-8 text (line 1)")  # at the field
    assert errors == []

    csv = tmp_path / "people.csv"
    csv.write_text("user_id,email\nann,\n,bob@example.com\nnobody,\n,not-an-email\nann,\n")
    page.set_input_files("input[name=file]", str(csv))
    page.click("[data-upload]")
    expect(page.locator("#import-card")).to_have_attribute("data-import", "running")
    page.reload()  # the progress card is found again
    expect(page.locator("#import-card")).to_have_attribute("data-import", "running")
    expect(page.locator("[data-members]")).to_contain_text("No one yet")
    expect(page.locator("[data-kpi=members]")).to_have_text("0")

    lists.imports_run(budget_seconds=10)  # what the worker does
    expect(page.locator("#import-card")).to_have_attribute("data-import", "done", timeout=15_000)
    expect(page.locator("[data-rejected] tr[data-line='4']")).to_contain_text("No profile with this user id")
    expect(page.locator("[data-rejected] tr[data-line='5']")).to_contain_text("Not an email address")
    for name, shown in {"rows": "5", "added": "2", "already": "0", "repeated": "1", "rejected": "2"}.items():
        expect(page.locator(f"[data-number={name}]")).to_have_text(shown)  # every row counted once
    assert ListImport.objects.get(segment__name="Newsletter").rejected == 2
    # No reload: the page's count and members follow the import as it ends.
    expect(page.locator("[data-members]")).to_contain_text("ann@example.com")
    expect(page.locator("[data-members]")).to_contain_text("bob@example.com")
    expect(page.locator("[data-kpi=members]")).to_have_text("2")
    expect(page.locator("#tags-lead")).to_contain_text("the 2 people")
    assert errors == []
    screenshot(page, "segments-import")
