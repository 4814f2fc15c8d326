"""Reads for access control, shared by ingestion, the API, the panel and the admin."""

from __future__ import annotations

from django.contrib.auth.models import AnonymousUser, User
from django.db import connection
from django.db.models import QuerySet

from workspaces.keys import key_hash
from workspaces.models import ApiToken, Membership, Workspace, WriteKey


def write_key_workspace_id(raw: str) -> int | None:
    """The workspace id of an active write key, or None. One indexed lookup, in plain SQL because it
    runs on every ingestion request."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT workspace_id FROM {WriteKey._meta.db_table} WHERE key_hash = %s AND revoked_at IS NULL",
            [key_hash(raw)],
        )
        row = cursor.fetchone()
    return int(row[0]) if row else None


def api_token_get(raw: str) -> ApiToken | None:
    """An active token whose maker is still an active user (a token dies with its user)."""
    return (
        ApiToken.objects.active()
        .select_related("membership__user", "workspace")
        .filter(token_hash=key_hash(raw), membership__user__is_active=True)
        .first()
    )


def workspaces_for_user(user: User | AnonymousUser) -> QuerySet[Workspace]:
    if not user.is_authenticated:
        return Workspace.objects.none()
    if user.is_superuser:
        return Workspace.objects.all()
    return Workspace.objects.filter(memberships__user=user)


def membership_get(*, user: User | AnonymousUser, workspace_id: int) -> Membership | None:
    if not user.is_authenticated:
        return None
    return Membership.objects.filter(user=user, workspace_id=workspace_id).select_related("workspace").first()
