"""Times on the panel are the workspace's (PANEL.md: "times in the workspace's timezone with the zone
shown"). `PanelSite.admin_view` runs every page — its rendering included, which a TemplateResponse does
after the view returns — in the member's workspace's zone, so `timezone.localtime` and the `date`
filter give its wall-clock time; list columns add the zone's abbreviation."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.utils import timezone

from workspaces.models import Workspace


def zone_of(workspace: Workspace) -> ZoneInfo:
    try:
        return ZoneInfo(workspace.timezone or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def local_words(moment: datetime | None, *, seconds: bool = False) -> str:
    """A moment in the current (the workspace's) zone, for list columns: `2026-12-02 05:45 +03`."""
    if moment is None:
        return "—"
    local = timezone.localtime(moment)
    return local.strftime("%Y-%m-%d %H:%M:%S %Z" if seconds else "%Y-%m-%d %H:%M %Z")
