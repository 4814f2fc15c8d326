"""Writes for workspaces, members and keys. Every change that matters lands in the audit log."""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone
from django.utils.module_loading import import_string
from django.utils.text import slugify

from workspaces.keys import API_TOKEN_PREFIX, WRITE_KEY_PREFIX, key_display_prefix, key_generate, key_hash
from workspaces.models import ApiToken, AuditLogEntry, Membership, Role, Workspace, WriteKey


def audit_log_append(
    *,
    workspace: Workspace,
    actor: User | None,
    action: str,
    obj: Any = None,
    object_type: str = "",
    object_id: str = "",
    changes: dict | None = None,
    actor_label: str = "",
) -> AuditLogEntry:
    if obj is not None:
        object_type = object_type or obj._meta.model_name
        object_id = object_id or str(obj.pk)
    return AuditLogEntry.objects.create(
        workspace=workspace,
        actor=actor,
        actor_label=actor_label or (actor.get_username() if actor is not None else "system"),
        action=action,
        object_type=object_type,
        object_id=object_id,
        object_repr=str(obj)[:200] if obj is not None else "",
        changes=changes or {},
    )


def _unique_slug(name: str) -> str:
    base = slugify(name)[:70] or "workspace"
    slug, n = base, 1
    while Workspace.objects.filter(slug=slug).exists():
        n += 1
        slug = f"{base}-{n}"
    return slug


@dataclass(frozen=True)
class NewSecret:
    """A key or token with its raw value, which exists only here and is shown once."""

    record: WriteKey | ApiToken
    raw: str


def write_key_create(*, workspace: Workspace, name: str, actor: User | None) -> NewSecret:
    raw = key_generate(WRITE_KEY_PREFIX)
    key = WriteKey.objects.create(
        workspace=workspace, name=name, prefix=key_display_prefix(raw), key_hash=key_hash(raw), created_by=actor
    )
    audit_log_append(workspace=workspace, actor=actor, action="created", obj=key)
    return NewSecret(record=key, raw=raw)


def api_token_create(*, membership: Membership, name: str) -> NewSecret:
    raw = key_generate(API_TOKEN_PREFIX)
    token = ApiToken.objects.create(
        membership=membership,
        workspace=membership.workspace,
        name=name,
        prefix=key_display_prefix(raw),
        token_hash=key_hash(raw),
    )
    audit_log_append(workspace=membership.workspace, actor=membership.user, action="created", obj=token)
    return NewSecret(record=token, raw=raw)


def key_revoke(*, key: WriteKey | ApiToken, actor: User | None) -> None:
    if key.revoked_at is not None:
        return
    key.revoked_at = timezone.now()
    key.save(update_fields=["revoked_at"])
    audit_log_append(workspace=key.workspace, actor=actor, action="revoked", obj=key)


def membership_set(*, workspace: Workspace, user: User, role: str, actor: User | None) -> Membership:
    Role(role)  # refuses an unknown role
    membership, created = Membership.objects.update_or_create(workspace=workspace, user=user, defaults={"role": role})
    audit_log_append(
        workspace=workspace,
        actor=actor,
        action="created" if created else "changed",
        obj=membership,
        changes={"role": role},
    )
    return membership


@dataclass(frozen=True)
class CreatedWorkspace:
    workspace: Workspace
    owner: Membership
    write_key: str
    api_token: str


@transaction.atomic
def workspace_create(*, name: str, owner_email: str, timezone_name: str = "UTC") -> CreatedWorkspace:
    """A workspace with its owner (created if new), a write key and an owner management token."""
    User = get_user_model()
    user = User.objects.filter(email__iexact=owner_email).first()
    if user is None:
        user = User.objects.create_user(username=owner_email, email=owner_email)
        user.set_unusable_password()
        user.save(update_fields=["password"])
    workspace = Workspace.objects.create(name=name, slug=_unique_slug(name), timezone=timezone_name)
    audit_log_append(workspace=workspace, actor=user, action="created", obj=workspace)
    owner = membership_set(workspace=workspace, user=user, role=Role.OWNER, actor=user)
    write_key = write_key_create(workspace=workspace, name="Default write key", actor=user)
    token = api_token_create(membership=owner, name="Default management token")
    for hook in settings.NUDGE_WORKSPACE_CREATED_HOOKS:
        import_string(hook)(workspace)
    return CreatedWorkspace(workspace=workspace, owner=owner, write_key=write_key.raw, api_token=token.raw)


class SettingsError(ValueError):
    """A workspace setting or member change refused, with the message for each field it concerns."""

    def __init__(self, problems: dict[str, str]) -> None:
        super().__init__("; ".join(f"{field}: {message}" for field, message in problems.items()))
        self.problems = problems


def workspace_update(*, workspace: Workspace, name: str, timezone_name: str, actor: User | None) -> Workspace:
    """Rename the workspace or change its timezone (an IANA name); audited with what changed."""
    problems: dict[str, str] = {}
    name = name.strip()
    if not name or len(name) > 200:
        problems["name"] = "Give the workspace a name of at most 200 characters."
    if timezone_name not in zoneinfo.available_timezones():
        problems["timezone"] = f"{timezone_name!r} is not a timezone; choose one such as Europe/Istanbul."
    if problems:
        raise SettingsError(problems)
    changes = {
        field: [getattr(workspace, field), value]
        for field, value in (("name", name), ("timezone", timezone_name))
        if getattr(workspace, field) != value
    }
    if changes:
        workspace.name, workspace.timezone = name, timezone_name
        workspace.save(update_fields=["name", "timezone"])
        audit_log_append(workspace=workspace, actor=actor, action="changed", obj=workspace, changes=changes)
    return workspace


@dataclass(frozen=True)
class Invited:
    membership: Membership
    new_user: bool  # created now, without a password: they set one through a one-time link


def member_invite(*, workspace: Workspace, email: str, role: str, actor: User | None) -> Invited:
    """Add someone by email with a role: an existing user joins; a new email becomes a user without a
    usable password (the panel shows the owner a one-time link to set it)."""
    email = email.strip()
    try:
        validate_email(email)
    except ValidationError:
        raise SettingsError({"email": "Enter an email address such as ann@example.com."}) from None
    if role not in Role.values:
        raise SettingsError({"role": "Choose owner, marketer or analyst."})
    User = get_user_model()
    with transaction.atomic():
        user = User.objects.filter(email__iexact=email).order_by("pk").first()
        user = user or User.objects.filter(username__iexact=email).order_by("pk").first()
        if user is not None and Membership.objects.filter(workspace=workspace, user=user).exists():
            raise SettingsError({"email": f"{email} is already a member of this workspace."})
        created = user is None
        if user is None:
            user = User.objects.create_user(username=email, email=email)
            user.set_unusable_password()
            user.save(update_fields=["password"])
        membership = membership_set(workspace=workspace, user=user, role=role, actor=actor)
    return Invited(membership=membership, new_user=created)


def _owners_left(membership: Membership) -> int:
    """Other owners of the membership's workspace, their rows locked so two owners demoting each other
    at once cannot leave the workspace with none."""
    others = Membership.objects.select_for_update().filter(workspace_id=membership.workspace_id, role=Role.OWNER)
    return len([m for m in others if m.pk != membership.pk])


@transaction.atomic
def membership_role_change(*, membership: Membership, role: str, actor: User | None) -> Membership:
    if role not in Role.values:
        raise SettingsError({"role": "Choose owner, marketer or analyst."})
    if membership.role == Role.OWNER and role != Role.OWNER and _owners_left(membership) == 0:
        raise SettingsError({"role": "The workspace needs an owner: make someone else owner first."})
    if membership.role == role:
        return membership
    return membership_set(workspace=membership.workspace, user=membership.user, role=role, actor=actor)


@transaction.atomic
def membership_remove(*, membership: Membership, actor: User | None) -> None:
    """Remove a member; their management tokens go with their membership."""
    if membership.role == Role.OWNER and _owners_left(membership) == 0:
        raise SettingsError({"member": "The workspace needs an owner: make someone else owner first."})
    audit_log_append(
        workspace=membership.workspace,
        actor=actor,
        action="deleted",
        obj=membership,
        changes={"role": membership.role, "tokens_revoked": membership.api_tokens.active().count()},
    )
    membership.delete()
