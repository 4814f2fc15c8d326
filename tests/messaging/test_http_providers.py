"""SMS (Twilio-style API) and webhooks talk HTTP to local servers: success, a transient error then
success (one message, retried, delivered once), a permanent error (failed, not retried), and webhooks
to private addresses refused unless the workspace allows them."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.utils import timezone

from activities.models import Profile, PushDevice
from journeys.services import journey_create, journey_publish
from messaging.delivery import messages_deliver
from messaging.models import Message, MessageStatus
from tests.messaging.helpers import journey_sending, provider, template, track
from tests.messaging.servers import provider_server

pytestmark = pytest.mark.django_db


def _sms_setup(acme, server):
    provider(
        acme, "sms", "twilio", secret="auth-token", base_url=server.url, account_sid="AC1", from_number="+15550001"
    )
    template(
        acme, "code", "sms", {"body": "Hi {{ profile.first_name }}, your code is {{ event.code }}"}, "transactional"
    )
    journey_sending(acme, {"type": "send", "channel": "sms", "template": "code"}, event="login")
    track(acme, "ann", "login", traits={"phone": "+905551112233", "first_name": "Ann"}, code="4711")


def test_sms_is_sent_to_the_provider_api(acme):
    with provider_server() as server:
        _sms_setup(acme, server)
        assert messages_deliver() == 1
    [call] = server.calls
    assert call.path == "/2010-04-01/Accounts/AC1/Messages.json"
    assert parse_qs(call.body.decode()) == {
        "To": ["+905551112233"],
        "From": ["+15550001"],
        "Body": ["Hi Ann, your code is 4711"],
    }
    assert call.headers["Authorization"].startswith("Basic ")
    message = Message.objects.get()
    assert (message.status, message.provider_message_id, message.attempts) == (MessageStatus.SENT, "SM123", 1)
    assert call.key == message.idempotency_key


def test_a_transient_error_is_retried_with_backoff_and_delivered_once(acme):
    with provider_server(503, 200) as server:
        _sms_setup(acme, server)
        assert messages_deliver() == 0
        message = Message.objects.get()
        assert message.status == MessageStatus.QUEUED
        assert message.attempts == 1
        assert "HTTP 503" in message.status_reason
        assert message.send_after is not None
        assert message.send_after > timezone.now() + timedelta(seconds=10)  # backed off, not hammered
        assert messages_deliver() == 0  # not due yet
        assert messages_deliver(now=message.send_after + timedelta(seconds=1)) == 1
    assert len(server.calls) == 2
    assert len(server.delivered) == 1
    message.refresh_from_db()
    assert (message.status, message.attempts, message.status_reason) == (MessageStatus.SENT, 2, "")


def test_a_permanent_error_fails_the_message_and_is_not_retried(acme):
    with provider_server(400) as server:
        _sms_setup(acme, server)
        assert messages_deliver() == 0
        assert messages_deliver(now=timezone.now() + timedelta(days=1)) == 0
    assert len(server.calls) == 1
    message = Message.objects.get()
    assert message.status == MessageStatus.FAILED
    assert message.status_reason.startswith("HTTP 400: ")


def test_attempts_are_bounded(acme, settings):
    settings.NUDGE_SEND_MAX_ATTEMPTS = 2
    with provider_server(503, 503, 503) as server:
        _sms_setup(acme, server)
        messages_deliver()
        messages_deliver(now=timezone.now() + timedelta(days=1))
    message = Message.objects.get()
    assert message.status == MessageStatus.FAILED
    assert message.status_reason.startswith("gave up after 2 attempts")
    assert len(server.calls) == 2


def test_a_journey_webhook_step_renders_its_request(acme):
    acme.workspace.allow_private_webhooks = True
    acme.workspace.save()
    with provider_server() as server:
        node = {
            "type": "webhook",
            "url": server.url + "/hooks/{{ profile.user_id }}",
            "method": "POST",
            "headers": {"X-Plan": "{{ profile.plan }}"},
            "body": '{"user": "{{ profile.user_id }}", "sku": "{{ event.sku }}"}',
        }
        journey_sending(acme, node, event="purchase")
        track(acme, "dan", "purchase", traits={"plan": "pro"}, sku="A-1")
        assert messages_deliver() == 1
    [call] = server.calls
    assert (call.method, call.path) == ("POST", "/hooks/dan")
    assert call.headers["X-Plan"] == "pro"
    assert call.body == b'{"user": "dan", "sku": "A-1"}'
    assert call.key == Message.objects.get().idempotency_key


def test_webhooks_to_private_addresses_are_refused_unless_allowed(acme, settings):
    settings.NUDGE_OUTBOUND_ALLOW = []  # the policy as deployed
    with provider_server() as server:
        # Published while private webhooks were allowed (publishing checks too), then switched off:
        # the call is checked again when it is sent.
        acme.workspace.allow_private_webhooks = True
        acme.workspace.save()
        journey_sending(acme, {"type": "webhook", "url": server.url + "/x", "body": "{}"})
        acme.workspace.allow_private_webhooks = False
        acme.workspace.save()
        track(acme, "eve", "signup")
        assert messages_deliver() == 0
        assert server.calls == []
        message = Message.objects.get()
        assert message.status == MessageStatus.FAILED
        assert message.status_reason == (
            "refused: 127.0.0.1 is a loopback address (Nudge calls public addresses only);"
            " the workspace does not allow private webhooks"
        )
        acme.workspace.allow_private_webhooks = True
        acme.workspace.save()
        track(acme, "eve", "signup")
        assert messages_deliver() == 1
    assert len(server.calls) == 1


def test_an_unconfigured_channel_fails_saying_so(acme):
    template(acme, "code", "sms", {"body": "x"}, "transactional")
    journey_sending(acme, {"type": "send", "channel": "sms", "template": "code"}, event="login")
    track(acme, "fay", "login", traits={"phone": "+15550002"})
    messages_deliver()
    message = Message.objects.get()
    assert message.status == MessageStatus.FAILED
    assert message.status_reason == "no sms provider is configured for this workspace"


def test_a_template_that_fails_to_render_fails_the_message(acme):
    with provider_server() as server:
        provider(acme, "sms", "twilio", secret="t", base_url=server.url, account_sid="AC1", from_number="+1")
        template(acme, "loop", "sms", {"body": "{% for i in (1..100000000) %}x{% endfor %}"}, "transactional")
        journey_sending(acme, {"type": "send", "channel": "sms", "template": "loop"}, event="login")
        track(acme, "gus", "login", traits={"phone": "+15550003"})
        assert messages_deliver() == 0
    assert server.calls == []
    assert Message.objects.get().status == MessageStatus.FAILED


def _webhook_setup(acme, server):
    acme.workspace.allow_private_webhooks = True
    acme.workspace.save()
    journey_sending(acme, {"type": "webhook", "url": server.url + "/hook", "body": "{}"}, event="login")
    track(acme, "wes", "login")


def _push_setup(acme, server):
    key = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    provider(acme, "push", "apns", secret=key.decode(), team_id="T", key_id="K", bundle_id="b", base_url=server.url)
    template(acme, "ping", "push", {"title": "t", "body": "b"}, "transactional")
    journey_sending(acme, {"type": "send", "channel": "push", "template": "ping"}, event="login")
    track(acme, "pat", "login")
    profile = Profile.objects.get(user_id="pat")
    PushDevice.objects.create(workspace=acme.workspace, profile=profile, token="ios-1", platform="ios")


@pytest.mark.parametrize("setup", [_sms_setup, _webhook_setup, _push_setup], ids=["sms", "webhook", "push"])
def test_every_http_provider_retries_a_transient_error_and_delivers_once(acme, setup):
    with provider_server(503, 200) as server:
        setup(acme, server)
        assert messages_deliver() == 0
        message = Message.objects.get()
        assert (message.status, message.attempts) == (MessageStatus.QUEUED, 1)
        assert message.send_after is not None
        assert messages_deliver(now=message.send_after + timedelta(seconds=1)) == 1
    assert len(server.calls) == 2
    message.refresh_from_db()
    assert (message.status, message.attempts) == (MessageStatus.SENT, 2)


@pytest.mark.parametrize("setup", [_sms_setup, _webhook_setup, _push_setup], ids=["sms", "webhook", "push"])
def test_every_http_provider_fails_a_permanent_error_without_retrying(acme, setup):
    with provider_server(400) as server:
        setup(acme, server)
        assert messages_deliver() == 0
        assert messages_deliver(now=timezone.now() + timedelta(days=1)) == 0
    assert len(server.calls) == 1
    message = Message.objects.get()
    assert message.status == MessageStatus.FAILED
    assert "HTTP 400" in message.status_reason


def test_event_is_the_activity_that_caused_the_step(acme):
    with provider_server() as server:
        provider(acme, "sms", "twilio", secret="t", base_url=server.url, account_sid="AC1", from_number="+1")
        template(acme, "added", "sms", {"body": "You added {{ event.product }}"}, "transactional")
        document = {
            "name": "cart",
            "entry": {"type": "event", "event": "browse"},
            "start": "wait",
            "nodes": {
                "wait": {
                    "type": "wait_event",
                    "event": "add_to_cart",
                    "timeout": "P1D",
                    "on_performed": "send",
                    "on_timeout": None,
                },
                "send": {"type": "send", "channel": "sms", "template": "added", "next": None},
            },
        }
        journey_publish(
            journey=journey_create(workspace=acme.workspace, actor=acme.owner, document=document), actor=acme.owner
        )
        track(acme, "ned", "browse", traits={"phone": "+15550300"}, product="browsed-shoes")
        track(acme, "ned", "add_to_cart", product="red-shoes")
        assert messages_deliver() == 1
    assert parse_qs(server.calls[0].body.decode())["Body"] == ["You added red-shoes"]
