"""The panel's sidebar (by the marketer's tasks, PANEL.md) and its workspace switcher, for the
member's current workspace and role. Read by unfold through `UNFOLD_PANEL` (config/settings.py)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.templatetags.static import static
from django.urls import reverse

from panel.access import current_membership, memberships_of


def sidebar(request: HttpRequest) -> list[dict[str, Any]]:
    membership = current_membership(request)
    if membership is None:
        return []
    return [
        {
            "title": membership.workspace.name,
            "items": [
                {"title": "Dashboard", "icon": "dashboard", "link": reverse("panel:index")},
                {
                    "title": "Journeys",
                    "icon": "route",
                    "link": reverse("panel:journeys_journey_changelist"),
                },
            ],
        },
    ]


def workspace_switcher(request: HttpRequest) -> list[dict[str, Any]]:
    """Every workspace the member belongs to, the current one first."""
    current = current_membership(request)
    found = memberships_of(request)
    found.sort(key=lambda m: (current is None or m.workspace_id != current.workspace_id, m.workspace.name))
    return [
        {
            "title": f"{m.workspace.name} · {m.get_role_display()}",
            "icon": "check" if current is not None and m.workspace_id == current.workspace_id else "swap_horiz",
            "link": reverse("panel:switch", args=[m.workspace_id]) + f"?next={request.path}",
        }
        for m in found
    ]


def workspace_name(request: HttpRequest) -> str:
    membership = current_membership(request)
    return membership.workspace.name if membership is not None else "Nudge"


def stylesheet(request: HttpRequest) -> str:
    return static("panel/panel.css")
