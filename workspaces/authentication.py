"""Management-API authentication: `Authorization: Bearer <token>` resolves a token to its workspace."""

from __future__ import annotations

from django.utils import timezone
from rest_framework import authentication, exceptions
from rest_framework.request import Request

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
