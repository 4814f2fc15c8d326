"""Push through FCM HTTP v1 (OAuth2 with a service-account key), APNs (a .p8-signed token) and web push
(RFC 8291 encryption, VAPID), each against a local server; tokens the service reports gone are removed."""

from __future__ import annotations

import base64
import json
import os
from typing import Any

import http_ece
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from py_vapid import Vapid02

from activities.models import Profile, PushDevice
from messaging.delivery import messages_deliver
from messaging.models import Message, MessageStatus
from tests.messaging.helpers import journey_sending, provider, template, track
from tests.messaging.servers import Call, provider_server

pytestmark = pytest.mark.django_db

PUSH = {"title": "Hi {{ profile.first_name }}", "body": "Your cart misses you", "data": {"cart": "{{ event.cart }}"}}


def _pem(key) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def _devices(acme, user: str, *devices: tuple[str, str]) -> None:
    profile = Profile.objects.get(user_id=user)
    for token, platform in devices:
        PushDevice.objects.create(workspace=acme.workspace, profile=profile, token=token, platform=platform)


def _fcm_reply(call: Call) -> bytes:
    if call.path == "/token":
        return b'{"access_token": "ya29.local", "expires_in": 3600}'
    return b'{"name": "projects/demo/messages/42"}'


def test_fcm_sends_to_every_device_with_an_oauth_token(acme):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with provider_server(reply=_fcm_reply) as server:
        account = {"client_email": "nudge@demo.iam", "private_key": _pem(key), "token_uri": server.url + "/token"}
        provider(acme, "push", "fcm", secret=json.dumps(account), project_id="demo", base_url=server.url)
        template(acme, "cart", "push", PUSH)
        journey_sending(acme, {"type": "send", "channel": "push", "template": "cart"}, event="cart_left")
        track(acme, "pia", "cart_left", traits={"first_name": "Pia"}, cart="c-9")
        _devices(acme, "pia", ("android-token", "android"), ("ios-token", "ios"))
        assert messages_deliver() == 1
    token_call, *sends = server.calls
    assertion = dict(item.split("=", 1) for item in token_call.body.decode().split("&"))["assertion"]
    claims = jwt.decode(assertion, key.public_key(), algorithms=["RS256"], audience=server.url + "/token")
    assert claims["scope"] == "https://www.googleapis.com/auth/firebase.messaging"
    assert [c.path for c in sends] == ["/v1/projects/demo/messages:send"] * 2
    assert all(c.headers["Authorization"] == "Bearer ya29.local" for c in sends)
    bodies = [json.loads(c.body)["message"] for c in sends]
    assert {b["token"] for b in bodies} == {"android-token", "ios-token"}
    assert bodies[0]["notification"] == {"title": "Hi Pia", "body": "Your cart misses you"}
    assert bodies[0]["data"] == {"cart": "c-9"}
    assert Message.objects.get().provider_message_id == "projects/demo/messages/42"


def test_fcm_forgets_an_unregistered_token(acme):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def reply(call: Call) -> bytes:
        return _fcm_reply(call)

    with provider_server(200, 404, reply=reply) as server:
        account = {"client_email": "gone@demo.iam", "private_key": _pem(key), "token_uri": server.url + "/token"}
        provider(acme, "push", "fcm", secret=json.dumps(account), project_id="demo", base_url=server.url)
        template(acme, "cart", "push", PUSH)
        journey_sending(acme, {"type": "send", "channel": "push", "template": "cart"}, event="cart_left")
        track(acme, "quin", "cart_left")
        _devices(acme, "quin", ("stale-token", "android"))
        assert messages_deliver() == 0
    message = Message.objects.get()
    assert message.status == MessageStatus.FAILED
    assert "no longer registered" in message.status_reason
    assert not PushDevice.objects.exists()


def test_a_profile_without_devices_is_suppressed(acme):
    template(acme, "cart", "push", PUSH)
    journey_sending(acme, {"type": "send", "channel": "push", "template": "cart"}, event="cart_left")
    track(acme, "rae", "cart_left")
    messages_deliver()
    assert Message.objects.get().status_reason == "the profile has no push address"


def test_apns_sends_a_signed_request_per_ios_device(acme):
    key = ec.generate_private_key(ec.SECP256R1())
    with provider_server(reply=lambda call: b"") as server:
        provider(
            acme,
            "push",
            "apns",
            secret=_pem(key),
            team_id="TEAM1",
            key_id="KEY1",
            bundle_id="com.acme.app",
            base_url=server.url,
        )
        template(acme, "cart", "push", {**PUSH, "sound": "default"})
        journey_sending(acme, {"type": "send", "channel": "push", "template": "cart"}, event="cart_left")
        track(acme, "sol", "cart_left", traits={"first_name": "Sol"}, cart="c-1")
        _devices(acme, "sol", ("ios-token", "ios"), ("android-token", "android"))
        assert messages_deliver() == 1
    [call] = server.calls  # the Android device is FCM's, not Apple's
    assert call.path == "/3/device/ios-token"
    assert call.headers["apns-topic"] == "com.acme.app"
    token = call.headers["authorization"].removeprefix("bearer ")
    assert jwt.get_unverified_header(token)["kid"] == "KEY1"
    assert jwt.decode(token, key.public_key(), algorithms=["ES256"])["iss"] == "TEAM1"
    assert json.loads(call.body) == {
        "aps": {"alert": {"title": "Hi Sol", "body": "Your cart misses you"}, "sound": "default"},
        "cart": "c-1",
    }


def test_web_push_is_encrypted_for_the_subscription(acme):
    receiver = ec.generate_private_key(ec.SECP256R1())
    auth = os.urandom(16)
    public = receiver.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    vapid = Vapid02()
    vapid.generate_keys()
    vapid_key = vapid.private_pem().decode()
    with provider_server(201, reply=lambda call: b"") as server:
        provider(acme, "web_push", "webpush", secret=vapid_key, vapid_subject="mailto:ops@acme.test")
        template(
            acme,
            "back",
            "web_push",
            {"title": "Hi {{ profile.first_name }}", "body": "Back in stock", "url": "https://acme.test/p/1"},
        )
        journey_sending(acme, {"type": "send", "channel": "web_push", "template": "back"}, event="restock")
        track(acme, "tom", "restock", traits={"first_name": "Tom"})
        subscription: dict[str, Any] = {
            "endpoint": server.url + "/push/abc",
            "keys": {
                "p256dh": base64.urlsafe_b64encode(public).decode().rstrip("="),
                "auth": base64.urlsafe_b64encode(auth).decode().rstrip("="),
            },
        }
        PushDevice.objects.create(
            workspace=acme.workspace,
            profile=Profile.objects.get(user_id="tom"),
            token=subscription["endpoint"],
            platform="web",
            subscription=subscription,
        )
        sent = messages_deliver()
        assert sent == 1, Message.objects.values_list("status", "status_reason").get()
    [call] = server.calls
    assert call.path == "/push/abc"
    assert call.headers["Content-Encoding"] == "aes128gcm"
    assert call.headers["Authorization"].startswith("vapid t=")
    plain = http_ece.decrypt(call.body, private_key=receiver, auth_secret=auth, version="aes128gcm")
    assert json.loads(plain) == {"title": "Hi Tom", "body": "Back in stock", "url": "https://acme.test/p/1"}


def test_a_browser_subscription_arrives_through_ingestion(acme, segment):
    subscription = {"endpoint": "https://push.example/sub/1", "keys": {"p256dh": "BOr", "auth": "k"}}
    segment.post(
        "/v1/identify", {"userId": "uma", "context": {"device": {"type": "web", "subscription": subscription}}}
    )
    device = PushDevice.objects.get()
    assert (device.token, device.platform, device.subscription) == ("https://push.example/sub/1", "web", subscription)
