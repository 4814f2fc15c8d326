"""The one small interface every provider implements, and how a workspace's provider is chosen."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlsplit

import httpx
from django.conf import settings
from django.utils.module_loading import import_string

from messaging.models import ProviderConfig


@dataclass(frozen=True)
class Outgoing:
    """One rendered message on its way out."""

    message_id: int
    idempotency_key: str  # the same on every attempt: providers (or their test doubles) dedupe on it
    workspace_id: int
    channel: str
    to: str  # email address, phone number, push token, URL … depending on the channel
    content: Mapping[str, Any]
    headers: Mapping[str, str] = field(default_factory=dict)  # e.g. List-Unsubscribe for email
    allow_private: bool = False  # the workspace lets webhooks reach private and loopback addresses
    devices: tuple[Device, ...] = ()  # push and web push: the profile's devices
    gone: list[int] = field(default_factory=list)  # devices the service said no longer exist (to remove)


@dataclass(frozen=True)
class Device:
    pk: int
    token: str
    platform: str
    subscription: Mapping[str, Any] = field(default_factory=dict)  # web push: endpoint and keys


class TransientError(Exception):
    """Worth retrying later (timeouts, 5xx, 429, connection refused)."""


class PermanentError(Exception):
    """Retrying will not help (rejected recipient, 4xx, bad configuration); the reason is kept."""


class Provider(Protocol):
    def send(self, outgoing: Outgoing) -> str:
        """Deliver one message; the provider's id for it (may be empty). Called from delivery's sender
        threads: no database access here."""
        ...


ProviderFactory = Callable[[Mapping[str, Any], str], Provider]  # (settings, secret) → provider

KINDS: dict[str, str] = {
    "file": "messaging.providers.file.FileProvider",
    "smtp": "messaging.providers.smtp.SmtpProvider",
    "anymail": "messaging.providers.smtp.AnymailProvider",
    "twilio": "messaging.providers.sms.TwilioProvider",
    "webhook": "messaging.providers.webhook.WebhookProvider",
    "in_app": "messaging.providers.in_app.InAppProvider",
    "fcm": "messaging.providers.push.FcmProvider",
    "apns": "messaging.providers.push.ApnsProvider",
    "webpush": "messaging.providers.webpush.WebPushProvider",
}


def each_device(outgoing: Outgoing, send: Callable[[Device], str]) -> str:
    """Send to every device: success if any device took it (the provider id of the first), a
    transient error if none did and one might later, else permanent. Devices the provider says are
    gone are noted in `outgoing.gone` for delivery to remove (providers never touch the database)."""
    if not outgoing.devices:
        raise PermanentError("the profile has no device for this channel")
    ids: list[str] = []
    transient: list[str] = []
    permanent: list[str] = []
    for device in outgoing.devices:
        try:
            ids.append(send(device))
        except GoneDevice as error:
            outgoing.gone.append(device.pk)
            permanent.append(str(error))
        except TransientError as error:
            transient.append(str(error))
        except PermanentError as error:
            permanent.append(str(error))
    if ids:
        return ids[0]
    if transient:
        raise TransientError("; ".join(transient)[:400])
    raise PermanentError("; ".join(permanent)[:400])


class GoneDevice(PermanentError):
    """The token is no longer valid (app uninstalled): the device is removed."""


def provider_for(workspace_id: int, channel: str) -> Provider:
    """The workspace's configured provider for the channel; webhooks and in-app need none; otherwise
    the deployment's default (the file outbox in the embedded default), or a PermanentError."""
    config = ProviderConfig.objects.filter(workspace_id=workspace_id, channel=channel).first()
    if config is not None:
        kind, options, secret = config.kind, config.settings, config.secret
    elif channel in ("webhook", "in_app"):
        kind, options, secret = channel, {}, ""
    elif settings.NUDGE_DEFAULT_PROVIDER:
        kind, options, secret = settings.NUDGE_DEFAULT_PROVIDER, {}, ""
    else:
        raise PermanentError(f"no {channel} provider is configured for this workspace")
    path = KINDS.get(kind)
    if path is None:
        raise PermanentError(f"unknown provider kind {kind!r}")
    factory: ProviderFactory = import_string(path)
    return factory(options, secret)


# --- HTTP providers share this -----------------------------------------------------------------------


def public_address_check(url: str, *, allow_private: bool) -> None:
    """Refuse URLs that resolve to private, loopback or link-local addresses (SSRF) unless allowed."""
    host = urlsplit(url).hostname
    if not host:
        raise PermanentError(f"{url!r} has no host")
    if allow_private:
        return
    try:
        addresses = {str(info[4][0]) for info in socket.getaddrinfo(host, None)}
    except OSError as error:
        raise TransientError(f"cannot resolve {host}: {error}") from error
    for address in addresses:
        ip = ipaddress.ip_address(address.split("%")[0])
        if ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_reserved or ip.is_multicast:
            raise PermanentError(f"{host} resolves to a private address ({ip}); the workspace does not allow it")


_client: httpx.Client | None = None


def _pooled() -> httpx.Client:
    """One client per process: connections to a provider are kept alive between messages (a fresh
    connection per message costs more than the message). httpx clients are thread-safe."""
    global _client
    if _client is None:
        _client = httpx.Client(follow_redirects=False, limits=httpx.Limits(max_keepalive_connections=20))
    return _client


def http_send(method: str, url: str, *, timeout: float = 10.0, **kwargs: Any) -> httpx.Response:
    """One HTTP call, its failures sorted: 429, 5xx, timeouts and connection errors are transient;
    other 4xx are permanent, with the answer's start as the reason."""
    try:
        response = _pooled().request(method, url, timeout=timeout, **kwargs)
    except httpx.TimeoutException as error:
        raise TransientError(f"timed out: {error}") from error
    except httpx.HTTPError as error:
        raise TransientError(f"{type(error).__name__}: {error}") from error
    if response.status_code == 429 or response.status_code >= 500:
        raise TransientError(f"HTTP {response.status_code}: {response.text[:200]}")
    if response.status_code >= 400:
        raise PermanentError(f"HTTP {response.status_code}: {response.text[:300]}")
    return response
