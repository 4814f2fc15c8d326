"""The member's current workspace in the panel: one of their own, chosen in the switcher and kept in the
session (their first otherwise). Every panel page works in it; roles are checked against it."""

from __future__ import annotations

from django.http import HttpRequest

from workspaces.models import Membership

SESSION_KEY = "nudge_workspace"  # the id of the workspace the member works in (the switcher sets it)


def memberships_of(request: HttpRequest) -> list[Membership]:
    user = request.user
    if not user.is_authenticated or not user.is_active:
        return []
    return list(Membership.objects.filter(user=user).select_related("workspace").order_by("workspace__name"))


def current_membership(request: HttpRequest) -> Membership | None:
    """The member's membership of the workspace they work in: the one chosen in the switcher (kept in
    the session), else their first. None for someone who belongs to no workspace."""
    if hasattr(request, "_nudge_membership"):
        cached: Membership | None = request._nudge_membership
        return cached
    found = memberships_of(request)
    chosen = request.session.get(SESSION_KEY) if hasattr(request, "session") else None
    membership = next((m for m in found if m.workspace_id == chosen), found[0] if found else None)
    request._nudge_membership = membership  # type: ignore[attr-defined]
    return membership


def workspace_choose(request: HttpRequest, workspace_id: int) -> Membership | None:
    """Switch to another of the member's workspaces; None (nothing changes) when they are not in it."""
    membership = next((m for m in memberships_of(request) if m.workspace_id == workspace_id), None)
    if membership is not None:
        request.session[SESSION_KEY] = workspace_id
        request._nudge_membership = membership  # type: ignore[attr-defined]
    return membership
