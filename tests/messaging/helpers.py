"""Shared set-up for delivery tests: a live journey that sends on an event, events pushed through
ingestion and the pipeline in-process, and callbacks posted as Twilio signs them."""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any

from django.conf import settings as django_settings
from django.test import Client

from activities.models import EvaluationBatch, Profile
from activities.pipeline import batch_process
from journeys.models import Journey
from journeys.services import journey_create, journey_publish
from messaging.models import Message, ProviderConfig, Template
from tests.conftest import SegmentClient
from tests.personas import Tenant


def journey_sending(tenant: Tenant, node: dict[str, Any], event: str = "signup") -> Journey:
    document = {
        "name": f"on {event}",
        "entry": {"type": "event", "event": event},
        "reentry": {"mode": "multiple"},
        "start": "send",
        "nodes": {"send": {**node, "next": None}},
    }
    journey = journey_create(workspace=tenant.workspace, actor=tenant.owner, document=document)
    journey_publish(journey=journey, actor=tenant.owner)
    return journey


def template(
    tenant: Tenant, name: str, channel: str, content: dict[str, Any], category: str = "promotional"
) -> Template:
    return Template.objects.create(
        workspace=tenant.workspace, name=name, channel=channel, category=category, content=content
    )


def provider(tenant: Tenant, channel: str, kind: str, secret: str = "", **settings: Any) -> ProviderConfig:
    return ProviderConfig.objects.create(
        workspace=tenant.workspace, channel=channel, kind=kind, settings=settings, secret=secret
    )


def sms_queued(tenant: Tenant, server_url: str, count: int) -> list[Message]:
    """`count` transactional SMS queued for one profile, through a Twilio-style provider at `server_url`."""
    provider(tenant, "sms", "twilio", secret="t", base_url=server_url, account_sid="AC1", from_number="+1555")
    template(tenant, "code", "sms", {"body": "code {{ profile.first_name }}"}, "transactional")
    profile = Profile.objects.create(workspace=tenant.workspace, user_id="kim", phone="+15550009")
    return [
        Message.objects.create(
            workspace=tenant.workspace, profile=profile, channel="sms", template="code", idempotency_key=f"k:{i}"
        )
        for i in range(count)
    ]


def track(tenant: Tenant, user: str, event: str, traits: dict[str, Any] | None = None, **properties: Any) -> None:
    """identify (for traits) and track, stored and evaluated as a worker would."""
    client = SegmentClient(Client(), tenant.write_key)
    if traits:
        assert client.post("/v1/identify", {"userId": user, "traits": traits}).status_code == 200
    assert client.post("/v1/track", {"userId": user, "event": event, "properties": properties}).status_code == 200
    for batch in EvaluationBatch.objects.order_by("pk").values_list("pk", flat=True):
        batch_process(batch)


def twilio_post(client: Client, path: str, params: dict[str, str], token: str, **extra: Any) -> Any:
    """POST as Twilio does, computed from its documentation (not from Nudge's code): X-Twilio-Signature
    is base64(HMAC-SHA1(auth token, the URL Twilio was given + each param's name and value, sorted by
    name))."""
    signed = django_settings.NUDGE_PUBLIC_URL.rstrip("/") + path + "".join(k + params[k] for k in sorted(params))
    signature = base64.b64encode(hmac.new(token.encode(), signed.encode(), hashlib.sha1).digest()).decode()
    return client.post(path, params, HTTP_X_TWILIO_SIGNATURE=signature, **extra)
