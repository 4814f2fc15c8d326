"""Reports in real chromium: an analyst opens them from the sidebar, narrows the range and downloads a
table as CSV."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from activities.models import Activity, Profile
from tests.panel.conftest import log_in, screenshot
from workspaces.models import Role

pytestmark = pytest.mark.slow


def test_an_analyst_reads_the_reports_and_downloads_a_table(page: Page, live_nudge: str, acme):
    now = timezone.now()
    ann = Profile.objects.create(workspace=acme.workspace, user_id="ann", first_seen=now, last_seen=now)
    for i in range(3):
        Activity.objects.create(
            workspace=acme.workspace,
            profile=ann,
            name="purchase",
            timestamp=now - timedelta(hours=i),
            received_at=now,
            message_id=f"p{i}",
        )
    log_in(page, live_nudge, acme.members[Role.ANALYST].username)
    page.click("a[href='/reports/']")
    expect(page.locator("[data-activity=purchase]")).to_contain_text("3")
    page.fill("input[name=since]", (now - timedelta(days=400)).date().isoformat())
    page.click("[data-range] button[type=submit]")
    expect(page.locator("[data-range] .field-error")).to_contain_text("at most 180 days")
    page.fill("input[name=since]", (now - timedelta(days=6)).date().isoformat())
    page.click("[data-range] button[type=submit]")
    expect(page.locator("[data-activity=purchase]")).to_contain_text("3")
    screenshot(page, "reports")
    with page.expect_download() as download:
        page.click("[data-download=activities]")
    assert download.value.suggested_filename.startswith("nudge-activities-")
    assert Path(download.value.path()).read_text(encoding="utf-8").splitlines() == ["activity,count", "purchase,3"]
