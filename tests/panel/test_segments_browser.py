"""A marketer's segments in real headless chromium against gunicorn: a rule segment built row by row
while its estimate changes, saved to its page; a static list filled from a CSV with bad rows, its
progress card surviving a reload and then listing the rejected rows by line. Photographed under
var/screenshots/segments-*.png."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

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


def test_a_csv_list_with_bad_rows_lists_them_by_line(live_nudge: str, page: Page, acme, tmp_path):
    base = live_nudge
    _people(acme)
    log_in(page, base, acme.members[Role.MARKETER].username)
    page.goto(f"{base}/segments/segment/add/?kind=list")
    page.fill("input[name=name]", "Newsletter")
    page.click("[data-save]")
    expect(page.locator("#import")).to_be_visible()

    csv = tmp_path / "people.csv"
    csv.write_text("user_id,email\nann,\n,bob@example.com\nnobody,\n,not-an-email\n")
    page.set_input_files("input[name=file]", str(csv))
    page.click("[data-upload]")
    expect(page.locator("#import-card")).to_have_attribute("data-import", "running")
    page.reload()  # the progress card is found again
    expect(page.locator("#import-card")).to_have_attribute("data-import", "running")

    lists.imports_run(budget_seconds=10)  # what the worker does
    expect(page.locator("#import-card")).to_have_attribute("data-import", "done", timeout=15_000)
    expect(page.locator("[data-rejected] tr[data-line='4']")).to_contain_text("No profile with this user id")
    expect(page.locator("[data-rejected] tr[data-line='5']")).to_contain_text("Not an email address")
    expect(page.locator("[data-number=added]")).to_have_text("2")
    assert ListImport.objects.get(segment__name="Newsletter").rejected == 2
    page.reload()
    expect(page.locator("[data-members]")).to_contain_text("ann@example.com")
    screenshot(page, "segments-import")
