"""The panel's sidebar (by the marketer's tasks, PANEL.md) and its workspace switcher, for the
member's current workspace and role. Read by unfold through `UNFOLD_PANEL` (config/settings.py).

Each app registers its pages on the panel site from its `panel.py`; an entry shows once the page it
names exists (its URL reverses) and the member's role may see it."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.templatetags.static import static
from django.urls import NoReverseMatch, reverse

from panel.access import current_membership, memberships_of
from workspaces.models import Role

# (title, material icon, URL name, least role), grouped as the sidebar shows them.
SECTIONS: list[tuple[str | None, list[tuple[str, str, str, str]]]] = [
    (
        None,
        [
            ("Dashboard", "dashboard", "panel:index", Role.ANALYST),
            ("Journeys", "route", "panel:journeys_journey_changelist", Role.ANALYST),
            ("Behaviors", "psychology", "panel:behaviors_behavior_changelist", Role.ANALYST),
            ("Segments", "group_work", "panel:segments_segment_changelist", Role.ANALYST),
        ],
    ),
    (
        "Messages",
        [
            ("Templates", "mail", "panel:messaging_template_changelist", Role.ANALYST),
            ("Message log", "outbox", "panel:messaging_message_changelist", Role.ANALYST),
        ],
    ),
    (
        "Data",
        [
            ("Activities", "bolt", "panel:activities_trackedactivity_changelist", Role.ANALYST),
            ("Live stream", "stream", "panel:activities_stream", Role.ANALYST),
            ("People", "person_search", "panel:activities_profile_changelist", Role.ANALYST),
            ("Reports", "monitoring", "panel:reports", Role.ANALYST),
        ],
    ),
    (None, [("Settings", "settings", "panel:settings", Role.OWNER)]),
]


def _url(name: str) -> str | None:
    try:
        return reverse(name)
    except NoReverseMatch:
        return None


def sidebar(request: HttpRequest) -> list[dict[str, Any]]:
    membership = current_membership(request)
    if membership is None:
        return []
    groups: list[dict[str, Any]] = []
    for title, entries in SECTIONS:
        items = [
            {"title": label, "icon": icon, "link": link}
            for label, icon, name, role in entries
            if membership.allows(role) and (link := _url(name)) is not None
        ]
        if items:
            groups.append({"title": title or "", "separator": title is None and bool(groups), "items": items})
    if groups:
        groups[0]["title"] = membership.workspace.name
    return groups


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


def script(request: HttpRequest) -> str:
    return static("panel/panel.js")


def favicon(request: HttpRequest) -> str:
    return static("panel/favicon.svg")
