"""Delivery: queued outbox rows become sends, each at most once per step, none lost.

1. **Claim** (one short transaction): due `queued` rows, oldest first, `SKIP LOCKED`, bounded. Each passes
   the rules first (consent, an address, quiet hours, frequency caps — with the profile row locked so two
   workers cannot both take the last slot of a cap); suppressed and deferred rows are settled there. The
   rest become `sending` with a lease and one more attempt, and count against caps from that moment.
2. **Send** (no transaction held): render the template for the profile's locale and hand it to the
   workspace's provider with the message's idempotency key.
3. **Record**: `sent`, or back to `queued` after an exponential backoff with jitter (transient), or
   `failed` with the provider's reason (permanent, or attempts exhausted). Guarded on `sending`, so a
   late worker cannot overwrite a newer outcome.

A worker that dies between 1 and 3 leaves its rows `sending`; when the lease runs out `messages_recover`
queues them again, and the resend carries the same idempotency key, which providers (and the test
servers standing in for them) dedupe on. So a crash may repeat a call, never a delivered message.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from activities.models import Profile
from journeys.live import document_for
from messaging.channels import render_content, variant_for
from messaging.counters import message_counted
from messaging.models import Message, MessageStatus, MessagingPolicy, Template
from messaging.pacing import caps_parse, opt_out, quiet_until, zone_of
from messaging.providers.base import Device, Outgoing, PermanentError, TransientError, provider_for
from messaging.rendering import RenderError
from messaging.tracking import message_context, tracked_bodies, tracked_headers

logger = logging.getLogger(__name__)

COUNTED = (
    MessageStatus.SENDING,
    MessageStatus.SENT,
    MessageStatus.DELIVERED,
    MessageStatus.OPENED,
    MessageStatus.CLICKED,
)


@dataclass
class Claimed:
    message: Message
    template: Template | None


def messages_deliver(*, now: datetime | None = None, batch_size: int = 100, max_batches: int = 20) -> int:
    """Deliver what is due, batch after batch; returns how many were sent."""
    sent = 0
    for _ in range(max_batches):
        claimed = messages_claim(now=now or timezone.now(), batch_size=batch_size)
        for item in claimed:
            sent += message_send(item)
        if len(claimed) < batch_size:
            break
    return sent


def messages_recover(*, now: datetime | None = None) -> int:
    """Rows whose sender died (lease over) are queued again; their next attempt reuses the key."""
    return Message.objects.filter(status=MessageStatus.SENDING, lease_until__lt=now or timezone.now()).update(
        status=MessageStatus.QUEUED, lease_until=None, status_reason="resent after an interrupted attempt"
    )


# --- 1. Claim -------------------------------------------------------------------------------------------


def messages_claim(*, now: datetime, batch_size: int) -> list[Claimed]:
    with transaction.atomic():
        due = Message.objects.filter(Q(send_after__isnull=True) | Q(send_after__lte=now), status=MessageStatus.QUEUED)
        due = due.order_by("send_after", "pk")
        if connection.features.has_select_for_update:
            due = due.select_for_update(skip_locked=True, of=("self",))
        messages = list(due.select_related("enrollment__journey")[:batch_size])
        if not messages:
            return []
        profiles = _profiles_locked({m.profile_id for m in messages})
        templates = _templates(messages)
        policies = {
            p.workspace_id: p
            for p in MessagingPolicy.objects.filter(workspace_id__in={m.workspace_id for m in messages})
        }
        claimed: list[Claimed] = []
        for message in messages:
            template = templates.get((message.workspace_id, message.channel, message.template))
            profile = profiles.get(message.profile_id)
            verdict = _verdict(message, template, profile, policies.get(message.workspace_id), now)
            if verdict is None:
                message.status, message.lease_until = MessageStatus.SENDING, now + _lease()
                message.attempts += 1
                message.sent_at = now  # counts against caps from now on
                claimed.append(Claimed(message, template))
            else:
                message_counted(message, "deferred" if message.status == MessageStatus.QUEUED else message.status)
            message.save(
                update_fields=[
                    "status",
                    "status_reason",
                    "lease_until",
                    "attempts",
                    "sent_at",
                    "send_after",
                    "category",
                    "updated_at",
                ]
            )
        return claimed


def _lease() -> timedelta:
    return timedelta(seconds=settings.NUDGE_SEND_LEASE_SECONDS)


def _profiles_locked(ids: set[int]) -> dict[int, Profile]:
    rows = Profile.objects.select_related("workspace").filter(pk__in=ids).order_by("pk")
    if connection.features.has_select_for_update:
        rows = rows.select_for_update(no_key=True, of=("self",))
    return {p.pk: p for p in rows}


def _templates(messages: Iterable[Message]) -> dict[tuple[int, str, str], Template]:
    wanted = {(m.workspace_id, m.channel, m.template) for m in messages if m.template}
    if not wanted:
        return {}
    condition = Q()
    for workspace_id, channel, name in wanted:
        condition |= Q(workspace_id=workspace_id, channel=channel, name=name)
    return {(t.workspace_id, t.channel, t.name): t for t in Template.objects.filter(condition)}


def _verdict(
    message: Message, template: Template | None, profile: Profile | None, policy: MessagingPolicy | None, now: datetime
) -> str | None:
    """Settle the message here (suppressed or deferred, saying why), or None to send it."""
    if profile is None:
        return _settle(message, MessageStatus.SUPPRESSED, "the profile no longer exists")
    if message.template and template is None:
        return _settle(message, MessageStatus.FAILED, f"no {message.channel} template named {message.template!r}")
    category = template.category if template else "transactional"  # a journey's webhook step is the integrator's
    message.category = category
    transactional = _transactional(policy, category)
    reason = opt_out(profile.consent or {}, message.channel, category, transactional=transactional)
    if reason:
        return _settle(message, MessageStatus.SUPPRESSED, reason)
    if not _address(message, profile):
        return _settle(message, MessageStatus.SUPPRESSED, f"the profile has no {message.channel} address")
    if transactional or policy is None or message.payload.get("test"):
        return None  # receipts, test sends: now, whatever the hour or the count
    document = document_for(message.enrollment.version_id) if message.enrollment else None
    zone = zone_of(profile.timezone, profile.workspace.timezone)
    until = quiet_until(now, zone, policy.quiet_hours_start, policy.quiet_hours_end)
    if until is not None and (document is None or document.quiet_hours):
        message.send_after = until
        return _settle(message, MessageStatus.QUEUED, f"deferred: quiet hours until {until.isoformat()}")
    caps, _ = caps_parse(policy.frequency_caps if document is None or document.frequency_caps else [])
    for cap in caps:
        if not cap.applies(message.channel, category):
            continue
        recent = Message.objects.filter(profile_id=profile.pk, sent_at__gte=cap.per.before(now), status__in=COUNTED)
        if cap.channel != "*":
            recent = recent.filter(channel=cap.channel)
        if cap.category != "*":
            recent = recent.filter(category=cap.category)
        if recent.count() >= cap.max:
            return _settle(message, MessageStatus.SUPPRESSED, f"frequency cap: {cap}")
    return None


def _settle(message: Message, status: str, reason: str) -> str:
    message.status, message.status_reason = status, reason[:500]
    return reason


def _transactional(policy: MessagingPolicy | None, category: str) -> bool:
    categories = policy.categories if policy is not None else [{"slug": "transactional", "transactional": True}]
    return any(isinstance(c, dict) and c.get("slug") == category and c.get("transactional") for c in categories)


def _address(message: Message, profile: Profile) -> str:
    """Where the message goes: the profile's email or phone, its devices' tokens, or (webhook, in-app)
    nothing to look up."""
    if message.channel == "email":
        return profile.email
    if message.channel == "sms":
        return profile.phone
    if message.channel in ("push", "web_push"):
        devices = profile.push_devices.all()
        devices = devices.filter(platform="web") if message.channel == "web_push" else devices.exclude(platform="web")
        return ",".join(devices.order_by("-updated_at").values_list("token", flat=True)[:10])
    if message.channel == "webhook":
        return "webhook"
    return str(profile.pk)


# --- 2. Send and 3. record ------------------------------------------------------------------------------


def message_send(item: Claimed) -> int:
    """Send one claimed message and record the outcome; 1 if it was sent."""
    message = item.message
    try:
        outgoing = _outgoing(message, item.template)
        provider_id = provider_for(message.workspace_id, message.channel).send(outgoing)
    except (PermanentError, RenderError) as error:
        _record(message, MessageStatus.FAILED, str(error))
        return 0
    except TransientError as error:
        if message.attempts >= settings.NUDGE_SEND_MAX_ATTEMPTS:
            _record(message, MessageStatus.FAILED, f"gave up after {message.attempts} attempts: {error}")
        else:
            _record(
                message,
                MessageStatus.QUEUED,
                f"retrying: {error}",
                send_after=timezone.now() + _backoff(message.attempts),
            )
        return 0
    except Exception as error:  # a provider bug must not leave the row leased forever
        logger.exception("provider crashed on message %s", message.pk)
        _record(
            message,
            MessageStatus.QUEUED,
            f"retrying after an error: {type(error).__name__}",
            send_after=timezone.now() + _backoff(message.attempts),
        )
        return 0
    _record(
        message,
        MessageStatus.SENT,
        "",
        provider_message_id=provider_id[:200],
        rendered=dict(outgoing.content),
        sent_at=timezone.now(),
    )
    return 1


def _backoff(attempts: int) -> timedelta:
    """Exponential in the attempts made, capped, with full jitter over its upper half."""
    base = min(settings.NUDGE_SEND_BACKOFF_SECONDS * 2 ** max(attempts - 1, 0), settings.NUDGE_SEND_BACKOFF_MAX_SECONDS)
    return timedelta(seconds=base / 2 + random.uniform(0, base / 2))


def _record(message: Message, status: str, reason: str, **fields: Any) -> None:
    changes: dict[str, Any] = {
        "status": status,
        "status_reason": reason[:500],
        "lease_until": None,
        "updated_at": timezone.now(),
        **fields,
    }
    if status == MessageStatus.FAILED or status == MessageStatus.QUEUED:
        changes["sent_at"] = None  # a send that did not happen does not count against caps
    if (
        Message.objects.filter(pk=message.pk, status=MessageStatus.SENDING).update(**changes)
        and status != MessageStatus.QUEUED
    ):
        message_counted(message, status)


def _outgoing(message: Message, template: Template | None) -> Outgoing:
    profile = Profile.objects.select_related("workspace").get(pk=message.profile_id)
    context = message_context(message, profile)
    if template is not None:
        content = render_content(
            message.channel, variant_for(template.content, template.variants, profile.locale), context
        )
    else:  # a journey's webhook step carries its request
        request = {k: v for k, v in message.payload.items() if k in ("url", "method", "headers", "body")}
        content = render_content("webhook", request, context)
    headers = tracked_headers(message) if message.channel == "email" else {}
    if message.channel == "email" and template is not None:
        content = {**content, **tracked_bodies(message, content)}
    devices: tuple[Device, ...] = ()
    if message.channel in ("push", "web_push"):
        rows = profile.push_devices.order_by("-updated_at")
        rows = rows.filter(platform="web") if message.channel == "web_push" else rows.exclude(platform="web")
        devices = tuple(Device(d.pk, d.token, d.platform, d.subscription) for d in rows[:10])
    return Outgoing(
        devices=devices,
        message_id=message.pk,
        idempotency_key=message.idempotency_key,
        workspace_id=message.workspace_id,
        channel=message.channel,
        to=_address(message, profile),
        content=content,
        headers=headers,
        allow_private=profile.workspace.allow_private_webhooks,
    )
