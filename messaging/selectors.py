"""Reads on messaging shared by the panel's pages: the profiles a preview can be shown for, a profile
found by what a marketer knows of it, and a message's status history (its own timestamps and the
outcomes recorded as the profile's activities)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Q

from activities.models import Activity, Profile
from messaging.models import Message, MessageStatus
from workspaces.models import TestProfile

OUTCOMES = {
    "message_delivered": "Delivered",
    "message_opened": "Opened",
    "message_clicked": "Clicked",
    "message_failed": "Failed (reported by the provider)",
    "unsubscribed": "Unsubscribed",
}


def preview_profiles(workspace_id: int, *, limit: int = 20) -> list[Profile]:
    """The workspace's test profiles first, then the most recently seen people."""
    tests = [
        t.profile
        for t in TestProfile.objects.filter(workspace_id=workspace_id, profile__merged_into__isnull=True)
        .select_related("profile")
        .order_by("label")
    ]
    recent = (
        Profile.objects.filter(workspace_id=workspace_id, merged_into__isnull=True)
        .exclude(pk__in=[p.pk for p in tests])
        .order_by("-last_seen", "-pk")[:limit]
    )
    return tests + list(recent)


def profile_find(workspace_id: int, text: str) -> Profile | None:
    """A profile by its user id, email or phone (exactly), or None."""
    text = text.strip()
    if not text:
        return None
    found = Profile.objects.filter(workspace_id=workspace_id, merged_into__isnull=True).filter(
        Q(user_id=text) | Q(email=text.lower()) | Q(phone=text)
    )
    return found.order_by("pk").first()


@dataclass(frozen=True)
class HistoryStep:
    at: datetime | None
    status: str
    detail: str = ""


def message_history(message: Message) -> list[HistoryStep]:
    """What happened to a message, oldest first: written, deferred or suppressed (and why), sent, then
    each outcome the provider or the profile reported."""
    steps = [HistoryStep(message.created_at, "Written", f"by {message.node} of a journey" if message.node else "")]
    reason = message.status_reason
    if message.status == MessageStatus.QUEUED and reason:
        steps.append(
            HistoryStep(message.updated_at, "Deferred" if reason.startswith("deferred") else "Retrying", reason)
        )
    if message.status == MessageStatus.QUEUED and not reason:
        steps.append(HistoryStep(message.send_after or message.created_at, "Queued", "waiting for a delivery worker"))
    if message.sent_at:
        steps.append(
            HistoryStep(
                message.sent_at, "Sent", message.provider_message_id and f"provider id {message.provider_message_id}"
            )
        )
    outcomes = Activity.objects.filter(
        profile_id=message.profile_id, name__in=OUTCOMES, properties__message_id=message.pk
    ).order_by("timestamp", "pk")
    for activity in outcomes:
        detail = str(activity.properties.get("url") or activity.properties.get("reported") or "")
        steps.append(HistoryStep(activity.timestamp, OUTCOMES[activity.name], detail))
    if message.status in (MessageStatus.SUPPRESSED, MessageStatus.FAILED, MessageStatus.HELD) and not any(
        s.status.startswith("Failed") for s in steps
    ):
        steps.append(HistoryStep(message.updated_at, message.get_status_display(), reason))
    return steps
