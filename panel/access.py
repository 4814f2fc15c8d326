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
