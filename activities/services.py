"""Writes on profiles from people (API, panel): edits, privacy deletion and export."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.utils.module_loading import import_string

from activities.identity import profiles_lock
from activities.models import Activity, Profile
from activities.selectors import profile_timeline
from workspaces.services import audit_log_append


@transaction.atomic
def profile_update(
    *,
    profile: Profile,
    actor: User | None,
    traits: dict[str, Any] | None = None,
    tags_add: list[str] | None = None,
    tags_remove: list[str] | None = None,
    timezone_name: str | None = None,
    locale: str | None = None,
    consent: dict[str, bool] | None = None,
) -> Profile:
    """Merge traits (a null value removes the trait), change tags, timezone, locale and consent."""
    profile = profiles_lock([profile.pk])[profile.pk]
    changes: dict[str, Any] = {}
    if traits:
        merged = {**profile.traits, **traits}
        profile.traits = {k: v for k, v in merged.items() if v is not None}
        if isinstance(profile.traits.get("email"), str):
            profile.email = profile.traits["email"].strip().lower()[:254]
        if "phone" in profile.traits:
            profile.phone = str(profile.traits["phone"]).strip()[:32]
        changes["traits"] = sorted(traits)
    if tags_add or tags_remove:
        profile.tags = sorted((set(profile.tags) | set(tags_add or [])) - set(tags_remove or []))
        changes["tags"] = {"add": tags_add or [], "remove": tags_remove or []}
    if timezone_name is not None:
        profile.timezone = timezone_name
        changes["timezone"] = timezone_name
    if locale is not None:
        profile.locale = locale
        changes["locale"] = locale
    if consent:
        profile.consent = {**profile.consent, **consent}
        changes["consent"] = consent
    profile.save(update_fields=["traits", "email", "phone", "tags", "timezone", "locale", "consent", "updated_at"])
    audit_log_append(workspace=profile.workspace, actor=actor, action="changed", obj=profile, changes=changes)
    return profile


@transaction.atomic
def profile_delete(*, profile: Profile, actor: User | None) -> None:
    """Privacy deletion: traits, addresses, devices, identities and activities go; nothing is kept
    that names the person (the audit entry records only the internal id)."""
    profile = profiles_lock([profile.pk])[profile.pk]
    workspace, profile_id = profile.workspace, profile.pk
    for hook in settings.NUDGE_PROFILE_DELETED_HOOKS:
        import_string(hook)(profile)  # journeys: every active entry exits as profile_deleted
    Activity.objects.filter(profile_id=profile_id).delete()
    Profile.objects.filter(merged_into_id=profile_id).delete()
    profile.delete()
    audit_log_append(
        workspace=workspace,
        actor=actor,
        action="deleted",
        object_type="profile",
        object_id=str(profile_id),
        changes={"reason": "privacy request"},
    )


def profile_export(profile: Profile, *, actor: User | None) -> Iterator[dict[str, Any]]:
    """Everything stored about a profile, as JSON-ready parts: the profile first, then activities. The
    export of personal data is recorded in the audit log (who, when) before the first part is read."""
    audit_log_append(workspace=profile.workspace, actor=actor, action="exported", obj=profile)
    return _export_parts(profile)


def _export_parts(profile: Profile) -> Iterator[dict[str, Any]]:
    yield {
        "profile": {
            "id": profile.pk,
            "user_id": profile.user_id,
            "identities": [{"kind": i.kind, "value": i.value} for i in profile.identities.order_by("pk")],
            "traits": profile.traits,
            "email": profile.email,
            "phone": profile.phone,
            "timezone": profile.timezone,
            "locale": profile.locale,
            "consent": profile.consent,
            "tags": profile.tags,
            "first_seen": profile.first_seen,
            "last_seen": profile.last_seen,
            "push_devices": [
                {"token": d.token, "platform": d.platform, "created_at": d.created_at}
                for d in profile.push_devices.order_by("pk")
            ],
        }
    }
    for activity in profile_timeline(profile).reverse().iterator(chunk_size=2000):
        yield {
            "activity": {
                "name": activity.name,
                "type": activity.type,
                "properties": activity.properties,
                "context": activity.context,
                "timestamp": activity.timestamp,
                "received_at": activity.received_at,
                "message_id": activity.message_id,
            }
        }
