"""A failed send's `status_reason` is read by analysts (API, panel): whatever a provider answers, it is
kept short (≤ 300 characters) and free of secrets — the configured secret, what the request carried
(auth headers, a webhook's headers and URL), bearer tokens and JWTs are redacted."""

from __future__ import annotations

import base64
import json
from datetime import timedelta

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.utils import timezone

from activities.models import Profile, PushDevice
from messaging.delivery import messages_deliver
from messaging.models import Message, MessageStatus
from messaging.providers.base import REASON_MAX, reason_clean
from tests.messaging.helpers import journey_sending, provider, template, track, twilio_post
from tests.messaging.servers import provider_server
from workspaces.models import Role

pytestmark = pytest.mark.django_db

AUTH_TOKEN = "0123456789abcdef-twilio-auth"
BASIC = base64.b64encode(f"AC1:{AUTH_TOKEN}".encode()).decode()
PADDING = "x" * 5000


def _analyst_sees(client, tenant) -> str:
    [row] = client.get("/api/v1/messages/", **tenant.auth(Role.ANALYST)).json()["results"]
    return str(row["status_reason"])


def _clean(reason: str, *secrets: str) -> None:
    assert len(reason) <= REASON_MAX, len(reason)
    for secret in secrets:
        assert secret not in reason
    assert "[redacted]" in reason


def _sms(tenant, server) -> None:
    provider(
        tenant, "sms", "twilio", secret=AUTH_TOKEN, base_url=server.url, account_sid="AC1", from_number="+15550001"
    )
    template(tenant, "code", "sms", {"body": "Your code is 4711"}, "transactional")
    journey_sending(tenant, {"type": "send", "channel": "sms", "template": "code"}, event="login")
    track(tenant, "ann", "login", traits={"phone": "+905551112233"})


def test_a_twilio_error_echoing_the_auth_token_is_stored_short_and_redacted(client, acme):
    echo = json.dumps(
        {
            "message": f"Authenticate failed: {AUTH_TOKEN} is unknown",  # no word says it is a secret
            "request": {"Authorization": f"Basic {BASIC}"},
            "more_info": PADDING,
        }
    ).encode()
    with provider_server(400, failure=echo) as server:
        _sms(acme, server)
        assert messages_deliver() == 0
    message = Message.objects.get()
    assert message.status == MessageStatus.FAILED
    assert message.status_reason.startswith("HTTP 400: ")
    _clean(message.status_reason, AUTH_TOKEN, BASIC)
    assert _analyst_sees(client, acme) == message.status_reason


def test_a_retry_reason_is_cleaned_too(acme):
    echo = f"upstream said: Authorization: Bearer {AUTH_TOKEN} {PADDING}".encode()
    with provider_server(503, failure=echo) as server:
        _sms(acme, server)
        messages_deliver()
    message = Message.objects.get()
    assert message.status == MessageStatus.QUEUED
    assert message.status_reason.startswith("retrying: HTTP 503: ")
    _clean(message.status_reason, AUTH_TOKEN)


def test_a_webhook_answer_echoing_its_request_redacts_the_headers_and_url(client, acme):
    acme.workspace.allow_private_webhooks = True
    acme.workspace.save()
    api_key, secret_path = "sk_live_51Habcdefghijkl", "/services/T000/B000/XXXXsecretXXXX"
    echo = f"Cannot POST {secret_path}?sig=abcdef123456 with X-Api-Key {api_key} {PADDING}".encode()
    with provider_server(422, failure=echo) as server:
        node = {
            "type": "webhook",
            "url": server.url + secret_path + "?sig=abcdef123456",
            "headers": {"X-Api-Key": api_key, "X-Plan": "pro"},
            "body": "{}",
        }
        journey_sending(acme, node, event="purchase")
        track(acme, "dan", "purchase")
        assert messages_deliver() == 0
    reason = Message.objects.get().status_reason
    _clean(reason, api_key, secret_path, "abcdef123456")
    assert reason.startswith("HTTP 422: Cannot POST [redacted] with X-Api-Key [redacted] xxx")
    assert _analyst_sees(client, acme) == reason


def test_an_fcm_token_error_echoing_the_signed_assertion_is_redacted(acme):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    assertion = jwt.encode({"iss": "x"}, pem, algorithm="RS256")
    echo = json.dumps({"error": "invalid_grant", "assertion": assertion, "key": pem}).encode()
    with provider_server(400, failure=echo) as server:
        account = {"client_email": "echo@demo.iam", "private_key": pem, "token_uri": server.url + "/token"}
        provider(acme, "push", "fcm", secret=json.dumps(account), project_id="demo", base_url=server.url)
        template(acme, "ping", "push", {"title": "t", "body": "b"}, "transactional")
        journey_sending(acme, {"type": "send", "channel": "push", "template": "ping"}, event="login")
        track(acme, "pat", "login")
        PushDevice.objects.create(
            workspace=acme.workspace, profile=Profile.objects.get(user_id="pat"), token="t-1", platform="android"
        )
        assert messages_deliver() == 0
    reason = Message.objects.get().status_reason
    _clean(reason, assertion[:40], "PRIVATE KEY", "MIIE")
    assert "invalid_grant" in reason


def test_an_esp_error_is_its_status_and_answer_not_anymails_whole_description(acme):
    echo = json.dumps({"ErrorCode": 10, "Message": "No server for server-token-12345"}).encode()
    with provider_server(422, failure=echo) as server:
        provider(acme, "email", "anymail", secret="server-token-12345", esp="postmark", api_url=server.url + "/")
        template(acme, "hi", "email", {"subject": "Hi", "text": "Hello"}, "transactional")
        journey_sending(acme, {"type": "send", "channel": "email", "template": "hi"})
        track(acme, "pam", "signup", traits={"email": "pam@example.com"})
        assert messages_deliver() == 0
    reason = Message.objects.get().status_reason
    assert reason.startswith("postmark: HTTP 422: ")
    _clean(reason, "server-token-12345")
    assert "pam@example.com" not in reason  # anymail's own description repeats the message's addresses


def test_a_delivery_reports_error_message_is_kept_short(client, acme):
    with provider_server() as server:
        _sms(acme, server)
        messages_deliver()
    sms = acme.workspace.providers.get()
    params = {"MessageSid": "SM123", "MessageStatus": "failed", "ErrorMessage": f"carrier: {AUTH_TOKEN} {PADDING}"}
    assert twilio_post(client, f"/m/status/{sms.inbound_token}", params, token=AUTH_TOKEN).status_code == 200
    message = Message.objects.get()
    assert message.status == MessageStatus.FAILED
    _clean(message.status_reason, AUTH_TOKEN)


def test_a_message_that_gave_up_keeps_a_short_reason(acme, settings):
    settings.NUDGE_SEND_MAX_ATTEMPTS = 1
    with provider_server(503, failure=PADDING.encode()) as server:
        _sms(acme, server)
        messages_deliver(now=timezone.now() + timedelta(seconds=1))
    reason = Message.objects.get().status_reason
    assert reason.startswith("gave up after 1 attempts: HTTP 503: xxx")
    assert len(reason) <= REASON_MAX


@pytest.mark.parametrize(
    ("text", "secrets", "cleaned"),
    [
        ("denied for s3cr3t-value", ["s3cr3t-value"], "denied for [redacted]"),
        ("Authorization: Bearer abc.def-ghi_123", [], "Authorization: [redacted]"),
        ("got bearer ya29.a0AfH6SMBx from cache", [], "got bearer [redacted] from cache"),
        ('{"api_key": "k-123456", "ok": false}', [], '{"api_key": "[redacted]", "ok": false}'),
        ("token=abcd1234&x=1", [], "token=[redacted]&x=1"),
        ("jwt eyJhbGciOi.eyJpc3MiOiJ4In0.c2lnbmF0dXJl here", [], "jwt [redacted] here"),
        ("short t is kept", ["t"], "short t is kept"),  # a one-letter 'secret' would erase the text
        ("line one\nline two\r\n\ttabbed", [], "line one line two tabbed"),
    ],
)
def test_reason_clean(text, secrets, cleaned):
    assert reason_clean(text, secrets) == cleaned


def test_reason_clean_caps_the_length():
    cleaned = reason_clean("y" * 1000)
    assert len(cleaned) == REASON_MAX
    assert cleaned.endswith("…")
