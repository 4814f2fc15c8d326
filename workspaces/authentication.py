"""Management-API authentication: `Authorization: Bearer <token>` resolves a token to its workspace; a
member signed in to the panel acts in the panel's current workspace (so the interactive docs work)."""

from __future__ import annotations

from django.utils import timezone
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from panel.access import current_membership
from workspaces.models import ApiToken
from workspaces.selectors import api_token_get

_SCHEMES = {b"bearer", b"token"}


class ManagementTokenAuthentication(authentication.BaseAuthentication):
    """Tokens are made with `manage.py workspace_create`, the admin or the panel's Settings."""

    def authenticate(self, request: Request) -> tuple | None:
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() not in _SCHEMES:
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Authorization header must be 'Bearer <management token>'.")
        token = api_token_get(header[1].decode(errors="replace"))
        if token is None:
            raise exceptions.AuthenticationFailed("Unknown or revoked management token.")
        now = timezone.now()
        # Written at most once a minute so a busy integration does not rewrite the row on every call.
        if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
            ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        return token.membership.user, token

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="nudge"'


class PanelSessionAuthentication(authentication.SessionAuthentication):
    """A member signed in to the panel, acting in the workspace chosen in its switcher with their role
    there: `request.auth` is that Membership, as it is a token for token callers. Unsafe methods need
    the CSRF token (the Swagger UI sends it), so another site cannot drive a member's browser."""

    def authenticate(self, request: Request) -> tuple | None:
        user = getattr(request._request, "user", None)
        if user is None or not user.is_active:  # an inactive user's session is anonymous already
            return None
        membership = current_membership(request._request)
        if membership is None:  # signed in, but a member of no workspace: nothing to act in
            return None
        self.enforce_csrf(request)
        return user, membership
