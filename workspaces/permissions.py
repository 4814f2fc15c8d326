"""Role checks for the management API, enforced on the server for every endpoint.

Reads need `analyst`, writes need `marketer`; a view sets its own bar with `required_role`, or per
action with `action_roles` (e.g. `{"destroy": Role.OWNER}`). A caller acts through a management token
or, signed in to the panel, through their membership of its current workspace (`request.auth` is
that ApiToken or Membership); either way the role is the membership's live role.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from django.http import HttpRequest
from rest_framework import permissions
from rest_framework.request import Request

from workspaces.models import ApiToken, Membership, Role


def acting_user(request: HttpRequest | Request) -> User:
    """The signed-in person behind a request that authentication has already let through."""
    user = request.user
    assert isinstance(user, User)
    return user


def request_token(request: Request) -> ApiToken | Membership:
    """What the caller acts through: their management token or, for a panel session, their membership.
    Both name the caller's `workspace`, the only one whose rows a view may touch."""
    assert isinstance(request.auth, ApiToken | Membership)
    return request.auth


def request_membership(request: Request) -> Membership:
    """The caller's membership (a token acts with the role of the membership that created it)."""
    auth = request_token(request)
    return auth.membership if isinstance(auth, ApiToken) else auth


class HasWorkspaceRole(permissions.BasePermission):
    message = "Your role in this workspace does not allow this."

    def has_permission(self, request: Request, view: Any) -> bool:
        if not isinstance(request.auth, ApiToken | Membership):
            return False
        needed = Role.ANALYST if request.method in permissions.SAFE_METHODS else Role.MARKETER
        needed = getattr(view, "required_role", needed)
        action = getattr(view, "action", None)
        needed = getattr(view, "action_roles", {}).get(action, needed)
        return request_membership(request).allows(needed)
