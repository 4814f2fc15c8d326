"""The outbound-address policy (`messaging.outbound`) on every surface that calls out: webhooks, Twilio
SMS, FCM and APNs, SMTP, anymail ESPs, web push. With `NUDGE_OUTBOUND_ALLOW` empty (as deployed),
loopback, private, shared, link-local and metadata addresses — literal, IPv4-mapped, or behind a name —
are refused at the connection, with a real server listening there to prove nothing reached it; a
redirect is a failure and is never followed; a name is resolved once and the connection made to the
address that was checked. Addresses are refused when saved, too."""

from __future__ import annotations

import base64
import ipaddress
import json
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from django.core.exceptions import ImproperlyConfigured
from django.test import Client
from py_vapid import Vapid02

from activities.models import Profile, PushDevice
from messaging.delivery import messages_deliver
from messaging.models import Message, MessageStatus, ProviderConfig
from messaging.outbound import refusal
from tests.messaging.helpers import provider, template
from tests.messaging.servers import ProviderServer, provider_server, smtp_server

pytestmark = pytest.mark.django_db


# --- The policy ----------------------------------------------------------------------------------------

REFUSED = {
    "127.0.0.1": "loopback",
    "127.255.0.9": "loopback",
    "10.1.2.3": "private",
    "172.16.0.1": "private",
    "192.168.1.1": "private",
    "100.64.0.1": "shared address space",
    "100.100.100.200": "cloud metadata",
    "169.254.169.254": "cloud metadata",
    "169.254.1.1": "link-local",
    "0.0.0.0": "unspecified",
    "224.0.0.1": "multicast",
    "255.255.255.255": "reserved",
    "192.0.2.1": "non-public",  # documentation
    "::1": "loopback",
    "::": "unspecified",
    "fe80::1": "link-local",
    "fc00::1": "unique-local",
    "fd00:ec2::254": "cloud metadata",
    "fec0::1": "site-local",
    "ff02::1": "multicast",
    "::ffff:127.0.0.1": "loopback",
    "::ffff:10.0.0.1": "private",
    "::ffff:169.254.169.254": "cloud metadata",
    "64:ff9b::7f00:1": "loopback",  # NAT64 of 127.0.0.1
    "2002:7f00:1::1": "loopback",  # 6to4 of 127.0.0.1
    "2001:db8::1": "non-public",
}
PUBLIC = ["8.8.8.8", "1.1.1.1", "2001:4860:4860::8888", "::ffff:8.8.8.8", "64:ff9b::808:808"]


@pytest.fixture
def deployed(settings: Any) -> None:
    settings.NUDGE_OUTBOUND_ALLOW = []


@pytest.mark.parametrize(("address", "kind"), REFUSED.items())
def test_what_is_not_globally_routable_is_refused(deployed, address, kind):
    assert refusal(ipaddress.ip_address(address)) == kind


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_pass(deployed, address):
    assert refusal(ipaddress.ip_address(address)) is None


def test_allow_private_webhooks_opens_private_networks_never_metadata_or_link_local(deployed):
    opened = ["127.0.0.1", "10.1.2.3", "192.168.1.1", "100.64.0.1", "fc00::1", "::1", "::ffff:10.0.0.1"]
    closed = ["169.254.169.254", "100.100.100.200", "fd00:ec2::254", "fe80::1", "169.254.1.1", "224.0.0.1", "0.0.0.0"]
    assert [a for a in opened if refusal(ipaddress.ip_address(a), allow_private=True)] == []
    assert [a for a in closed if not refusal(ipaddress.ip_address(a), allow_private=True)] == []


def test_the_operators_allow_list_is_the_one_exception(settings):
    settings.NUDGE_OUTBOUND_ALLOW = ["10.20.0.0/16", "::1/128"]
    assert refusal(ipaddress.ip_address("10.20.3.4")) is None
    assert refusal(ipaddress.ip_address("::1")) is None
    assert refusal(ipaddress.ip_address("10.21.0.1")) == "private"
    assert refusal(ipaddress.ip_address("127.0.0.1")) == "loopback"
    settings.NUDGE_OUTBOUND_ALLOW = ["10.20.0.0/33"]
    with pytest.raises(ImproperlyConfigured, match="NUDGE_OUTBOUND_ALLOW"):
        refusal(ipaddress.ip_address("8.8.8.8"))
    settings.NUDGE_OUTBOUND_ALLOW = "127.0.0.0/8"
    with pytest.raises(ImproperlyConfigured, match="list of CIDRs"):
        refusal(ipaddress.ip_address("8.8.8.8"))


# --- At the connection, on every surface --------------------------------------------------------------


def _profile(tenant) -> Profile:
    profile = Profile.objects.create(
        workspace=tenant.workspace, user_id="pat", email="pat@example.com", phone="+15550100"
    )
    for token, platform in (("ios-1", "ios"), ("android-1", "android")):
        PushDevice.objects.create(workspace=tenant.workspace, profile=profile, token=token, platform=platform)
    return profile


def _queue(tenant, channel: str, content: dict[str, Any]) -> Message:
    """One message due now, as a journey step leaves it."""
    template(tenant, "t", channel, content, "transactional")
    profile = Profile.objects.filter(workspace=tenant.workspace).first() or _profile(tenant)
    return Message.objects.create(
        workspace=tenant.workspace,
        profile=profile,
        channel=channel,
        template="t",
        idempotency_key=f"k:{channel}:{Message.objects.count()}",
    )


def _pem(key: Any) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def webhook(tenant, url: str) -> Message:
    return _queue(tenant, "webhook", {"url": url + "/hook", "body": "{}"})


def twilio(tenant, url: str) -> Message:
    provider(tenant, "sms", "twilio", secret="auth-token", base_url=url, account_sid="AC1", from_number="+1555")
    return _queue(tenant, "sms", {"body": "Your code is 4711"})


def fcm(tenant, url: str) -> Message:
    account = {"client_email": "n@demo.iam", "private_key": _PEMS["rsa"], "token_uri": url + "/token"}
    provider(tenant, "push", "fcm", secret=json.dumps(account), project_id="demo", base_url=url)
    return _queue(tenant, "push", {"title": "t", "body": "b"})


def apns(tenant, url: str) -> Message:
    provider(tenant, "push", "apns", secret=_PEMS["ec"], team_id="T", key_id="K", bundle_id="b", base_url=url)
    return _queue(tenant, "push", {"title": "t", "body": "b"})


def anymail(tenant, url: str) -> Message:
    provider(tenant, "email", "anymail", secret="server-token", esp="postmark", api_url=url + "/")
    return _queue(tenant, "email", {"subject": "Hi", "text": "Hello"})


_PEMS = {
    "rsa": _pem(rsa.generate_private_key(public_exponent=65537, key_size=2048)),
    "ec": _pem(ec.generate_private_key(ec.SECP256R1())),
}
HTTP_SURFACES: dict[str, Callable[[Any, str], Message]] = {
    "webhook": webhook,
    "twilio": twilio,
    "fcm": fcm,
    "apns": apns,
    "anymail": anymail,
}

# (where a real server listens, how the setting names it, what the refusal says)
TARGETS = {
    "127.0.0.1": ("127.0.0.1", "127.0.0.1", "refused: 127.0.0.1 is a loopback address"),
    "localhost": ("127.0.0.1", "localhost", "refused: localhost resolves to 127.0.0.1, which is a loopback address"),
    "::ffff:127.0.0.1": ("127.0.0.1", "[::ffff:127.0.0.1]", "refused: ::ffff:127.0.0.1 is a loopback address"),
    "::1": ("::1", "[::1]", "refused: ::1 is a loopback address"),
    "10.0.0.1": (None, "10.0.0.1", "refused: 10.0.0.1 is a private address"),
    "100.100.100.200": (None, "100.100.100.200", "refused: 100.100.100.200 is a cloud metadata address"),
}


@contextmanager
def _listening(host: str | None) -> Iterator[ProviderServer | None]:
    if host is None:  # nothing to listen with there; the refusal comes before any connection attempt
        yield None
        return
    with provider_server(host=host) as server:
        yield server


def _failed(message: Message) -> str:
    message.refresh_from_db()
    assert (message.status, message.attempts) == (MessageStatus.FAILED, 1), message.status_reason
    return message.status_reason


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("surface", HTTP_SURFACES)
def test_http_calls_to_non_public_addresses_are_refused(deployed, acme, surface, target):
    listen, host, refused = TARGETS[target]
    with _listening(listen) as server:
        port = server.url.rsplit(":", 1)[1] if server else "80"
        message = HTTP_SURFACES[surface](acme, f"http://{host}:{port}")
        assert messages_deliver() == 0
        assert server is None or server.calls == []
    assert refused in _failed(message)


def test_an_fcm_base_url_is_checked_apart_from_its_token_uri(settings, acme):
    settings.NUDGE_OUTBOUND_ALLOW = ["127.0.0.2/32"]  # the token endpoint may be reached, the API not

    def token(call: Any) -> bytes:
        return b'{"access_token": "ya29.local", "expires_in": 3600}'

    with provider_server(host="127.0.0.2", reply=token) as tokens, provider_server() as api:
        account = {"client_email": "apart@demo.iam", "private_key": _PEMS["rsa"], "token_uri": tokens.url + "/t"}
        provider(acme, "push", "fcm", secret=json.dumps(account), project_id="demo", base_url=api.url)
        message = _queue(acme, "push", {"title": "t", "body": "b"})
        assert messages_deliver() == 0
    assert [c.path for c in tokens.calls] == ["/t"]
    assert api.calls == []
    assert "refused: 127.0.0.1 is a loopback address" in _failed(message)


@pytest.mark.parametrize("target", TARGETS)
def test_smtp_to_non_public_addresses_is_refused(deployed, acme, target):
    listen, host, refused = TARGETS[target]
    with smtp_server(listen or "127.0.0.1") as mailbox:
        port = mailbox.port if listen else 25
        provider(acme, "email", "smtp", host=host.strip("[]"), port=port)
        message = _queue(acme, "email", {"subject": "Hi", "text": "Hello"})
        assert messages_deliver() == 0
    assert mailbox.received == []
    assert refused in _failed(message)


def test_smtp_over_ssl_is_refused_before_any_connection(deployed, acme):
    with smtp_server() as mailbox:
        provider(acme, "email", "smtp", host="localhost", port=mailbox.port, use_ssl=True)
        message = _queue(acme, "email", {"subject": "Hi", "text": "Hello"})
        assert messages_deliver() == 0
    assert "refused: localhost resolves to 127.0.0.1" in _failed(message)


def test_web_push_endpoints_are_refused_even_where_webhooks_may_go_private(deployed, acme):
    acme.workspace.allow_private_webhooks = True  # a webhook setting; an endpoint comes from a browser
    acme.workspace.save()
    with provider_server(201) as server:
        _web_push(acme, server.url + "/push/1")
        assert messages_deliver() == 0
    assert server.calls == []
    assert "refused: 127.0.0.1 is a loopback address" in _failed(Message.objects.get())


def _web_push(tenant, endpoint: str) -> None:
    vapid = Vapid02()
    vapid.generate_keys()
    provider(tenant, "web_push", "webpush", secret=vapid.private_pem().decode(), vapid_subject="mailto:o@x.test")
    message = _queue(tenant, "web_push", {"title": "t", "body": "b"})
    receiver = ec.generate_private_key(ec.SECP256R1()).public_key()
    public = receiver.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    keys = {
        "p256dh": base64.urlsafe_b64encode(public).decode().rstrip("="),
        "auth": base64.urlsafe_b64encode(b"0123456789abcdef").decode().rstrip("="),
    }
    PushDevice.objects.create(
        workspace=tenant.workspace,
        profile=message.profile,
        token=endpoint,
        platform="web",
        subscription={"endpoint": endpoint, "keys": keys},
    )


# --- Redirects ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("surface", [*HTTP_SURFACES, "web_push"])
def test_a_redirect_is_a_failure_and_is_not_followed(settings, acme, surface):
    settings.NUDGE_OUTBOUND_ALLOW = ["127.0.0.2/32"]  # the provider is reachable; where it points is not
    with (
        provider_server() as target,
        provider_server(302, 302, host="127.0.0.2", location=target.url + "/stolen?token=abc") as first,
    ):
        if surface == "web_push":
            _web_push(acme, first.url + "/push/1")
            message = Message.objects.get()
        else:
            message = HTTP_SURFACES[surface](acme, first.url)
        assert messages_deliver() == 0
    assert first.calls  # FCM asks once per device
    assert target.calls == []
    reason = _failed(message)
    assert "HTTP 302: redirected to 127.0.0.1; redirects are not followed" in reason
    assert "stolen" not in reason  # where it pointed, never the path or query


def test_a_redirect_is_not_followed_even_to_an_allowed_address(acme):
    """Loopback allowed (as in the other messaging tests): still no redirect is followed."""
    acme.workspace.allow_private_webhooks = True
    acme.workspace.save()
    with provider_server() as target, provider_server(307, location=target.url + "/next") as first:
        message = webhook(acme, first.url)
        assert messages_deliver() == 0
    assert (len(first.calls), target.calls) == (1, [])
    assert "HTTP 307: redirected to 127.0.0.1" in _failed(message)


# --- Resolved once: no rebinding window -----------------------------------------------------------------


@pytest.fixture
def rebinding_dns(monkeypatch) -> list[str]:
    """A DNS server that answers rebind.test with an allowed address once, then with loopback (the
    attack: pass the check, then connect somewhere else). Returns the names asked for."""
    real = socket.getaddrinfo
    asked: list[str] = []

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host != "rebind.test":
            return real(host, port, *args, **kwargs)
        asked.append(host)
        address = "127.0.0.2" if len(asked) == 1 else "127.0.0.1"
        return real(address, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return asked


def test_a_name_is_resolved_once_and_the_checked_address_is_the_one_connected(settings, acme, rebinding_dns):
    settings.NUDGE_OUTBOUND_ALLOW = ["127.0.0.2/32"]
    with provider_server(host="127.0.0.2") as checked:
        port = int(checked.url.rsplit(":", 1)[1])
        with provider_server(port=port) as rebound:  # the same port on 127.0.0.1
            message = webhook(acme, f"http://rebind.test:{port}")
            assert messages_deliver() == 1, Message.objects.get().status_reason
    assert rebinding_dns == ["rebind.test"]
    assert rebound.calls == []
    [call] = checked.calls
    assert call.headers["Host"] == f"rebind.test:{port}"  # the request still names the host
    message.refresh_from_db()
    assert message.status == MessageStatus.SENT


def test_a_name_with_one_refused_address_is_refused(deployed, acme, monkeypatch):
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host == "mixed.test":
            return real("8.8.8.8", port, *args, **kwargs) + real("127.0.0.1", port, *args, **kwargs)
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    message = webhook(acme, "http://mixed.test:9")
    assert messages_deliver() == 0
    assert "refused: mixed.test resolves to 127.0.0.1, which is a loopback address" in _failed(message)


# --- When saved -----------------------------------------------------------------------------------------


@pytest.fixture
def operator(django_user_model) -> Client:
    browser = Client()
    browser.force_login(django_user_model.objects.create_superuser("op", "op@x.test", "pw"))
    return browser


SAVED = [
    ("sms", "twilio", {"account_sid": "AC1", "from_number": "+1", "base_url": "http://127.0.0.1:9"}, "base_url"),
    ("sms", "twilio", {"account_sid": "AC1", "from_number": "+1", "base_url": "http://localhost:9"}, "base_url"),
    (
        "sms",
        "twilio",
        {"account_sid": "AC1", "from_number": "+1", "base_url": "https://[::ffff:127.0.0.1]"},
        "base_url",
    ),
    ("push", "apns", {"team_id": "T", "key_id": "K", "bundle_id": "b", "base_url": "https://10.0.0.1"}, "base_url"),
    ("push", "fcm", {"project_id": "p", "base_url": "https://100.100.100.200"}, "base_url"),
    ("push", "fcm", {"project_id": "p"}, "secret.token_uri"),
    ("email", "smtp", {"host": "::1", "port": 25}, "host"),
    ("email", "smtp", {"host": "169.254.169.254", "port": 25}, "host"),
    ("email", "anymail", {"esp": "postmark", "api_url": "http://[::1]:9/"}, "api_url"),
]


def _secret(kind: str) -> str:
    if kind == "fcm":
        return json.dumps({"client_email": "a@b.iam", "private_key": "k", "token_uri": "http://127.0.0.1:9/token"})
    return _PEMS["ec"] if kind == "apns" else "a-secret-value"


@pytest.mark.parametrize(("channel", "kind", "options", "field"), SAVED)
def test_a_provider_address_that_would_be_refused_is_refused_when_saved(
    deployed, operator, acme, channel, kind, options, field
):
    response = operator.post(
        "/admin/messaging/providerconfig/add/",
        {
            "workspace": acme.workspace.pk,
            "channel": channel,
            "kind": kind,
            "settings": json.dumps(options),
            "secret": _secret(kind),
        },
    )
    assert response.status_code == 200
    assert f"{field}: refused: " in response.content.decode()
    assert not ProviderConfig.objects.exists()


def test_an_allowed_or_unresolvable_provider_address_is_saved(settings, operator, acme):
    settings.NUDGE_OUTBOUND_ALLOW = ["127.0.0.0/8"]  # an on-premise SMS gateway
    for base_url in ("http://127.0.0.1:9", "https://sms-gateway.invalid"):  # the second checked when used
        ProviderConfig.objects.all().delete()
        options = {"account_sid": "AC1", "from_number": "+1", "base_url": base_url}
        response = operator.post(
            "/admin/messaging/providerconfig/add/",
            {
                "workspace": acme.workspace.pk,
                "channel": "sms",
                "kind": "twilio",
                "settings": json.dumps(options),
                "secret": "token-1234",
            },
        )
        assert response.status_code == 302, response.content.decode()


def _template(client: Client, tenant, url: str, name: str = "hook"):
    body = {"name": name, "channel": "webhook", "category": "transactional", "content": {"url": url}}
    return client.post("/api/v1/templates/", body, content_type="application/json", **tenant.auth())


def test_a_webhook_template_to_a_private_address_is_refused_when_saved(deployed, client, acme):
    refused = _template(client, acme, "http://10.0.0.5/hook")
    assert refused.status_code == 400
    [problem] = refused.json()["template"]
    assert problem == {
        "field": "content.url",
        "message": "refused: 10.0.0.5 is a private address (Nudge calls public addresses only);"
        " the workspace does not allow private webhooks",
    }
    liquid = _template(client, acme, "https://{{ profile.crm_host }}/hook")  # its host is checked when sent
    assert liquid.status_code == 201, liquid.content
    acme.workspace.allow_private_webhooks = True
    acme.workspace.save()
    metadata = _template(client, acme, "http://169.254.169.254/latest/meta-data/", name="metadata")
    assert metadata.status_code == 400
    assert "169.254.169.254 is a cloud metadata address" in metadata.json()["template"][0]["message"]
    private = _template(client, acme, "http://10.0.0.5/hook", name="crm")
    assert private.status_code == 201, private.content
