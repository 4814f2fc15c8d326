"""Server-side role checks for panel views: a member sees only their workspaces, within their role."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404

from workspaces.models import Membership, Role, Workspace
from workspaces.permissions import acting_user

View = Callable[..., HttpResponse]


def workspace_view(role: str = Role.ANALYST) -> Callable[[View], View]:
    """Resolve `slug` to a workspace the user belongs to with at least `role`; 404 otherwise, so a
    member cannot even learn that another workspace exists."""

    def decorate(view: View) -> View:
        @login_required
        @wraps(view)
        def wrapper(request: HttpRequest, slug: str, *args: Any, **kwargs: Any) -> HttpResponse:
            workspace = get_object_or_404(Workspace, slug=slug)
            membership = Membership.objects.filter(workspace=workspace, user=acting_user(request)).first()
            if membership is None or not membership.allows(role):
                raise Http404("No such workspace")
            request.workspace = workspace  # type: ignore[attr-defined]
            request.membership = membership  # type: ignore[attr-defined]
            return view(request, *args, **kwargs)

        return wrapper

    return decorate


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
