"""The one small interface every provider implements, and how a workspace's provider is chosen."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar, cast, runtime_checkable
from urllib.parse import parse_qsl, urlsplit

import aiohttp
import httpx
from django.conf import settings
from django.utils.module_loading import import_string

from messaging import outbound
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
    allow_private: bool = False  # webhooks only: the workspace lets them reach private networks
    devices: tuple[Device, ...] = ()  # push and web push: the profile's devices
    gone: list[int] = field(default_factory=list)  # devices the service said no longer exist (to remove)


@dataclass(frozen=True)
class Device:
    pk: int
    token: str
    platform: str
    subscription: Mapping[str, Any] = field(default_factory=dict)  # web push: endpoint and keys


class HttpAnswer(Protocol):
    """What a provider reads of an HTTP answer, whichever client carried the call: httpx's `Response`
    (the blocking client, HTTP/2, a compressed body) or the event loop's `outbound.Answer`."""

    @property
    def status_code(self) -> int: ...

    @property
    def headers(self) -> Mapping[str, str]: ...

    @property
    def text(self) -> str: ...

    def json(self, **kwargs: Any) -> Any: ...


AnswerT = TypeVar("AnswerT", bound=HttpAnswer)


class TransientError(Exception):
    """Worth retrying later (timeouts, 5xx, 429, connection refused)."""


class PermanentError(Exception):
    """Retrying will not help (rejected recipient, 4xx, bad configuration); the reason is kept."""


class Provider(Protocol):
    """A provider that calls out also lists where, as `destinations: list[Destination]`, so its
    settings are checked against the outbound policy before they are saved."""

    def send(self, outgoing: Outgoing) -> str:
        """Deliver one message; the provider's id for it (may be empty). Called from delivery's sender
        threads (and from a workspace's test send): no database access here."""
        ...


@runtime_checkable
class AsyncProvider(Provider, Protocol):
    """A provider that can also send on delivery's event loop (its HTTP calls through the loop's
    clients: aiohttp for HTTP/1.1, httpx for HTTP/2); one without `asend` is run on delivery's threads."""

    async def asend(self, outgoing: Outgoing) -> str: ...


@dataclass(frozen=True)
class Destination:
    """Where a provider connects, named by the setting it comes from (checked when the settings are
    saved; the connection itself is checked again)."""

    field: str  # base_url, host, api_url, secret.token_uri
    host: str
    port: int = 0


def url_destination(field: str, url: str) -> Destination:
    try:
        parts = urlsplit(url)
        port = parts.port or 0
    except ValueError as error:
        raise PermanentError(f"{field} is not a valid URL: {error}") from error
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise PermanentError(f"{field} must be an http:// or https:// URL")
    return Destination(field, parts.hostname, port)


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


def each_device(outgoing: Outgoing, send: Callable[[Device], Exchange | str]) -> Exchange:
    """Send to every device, one after the other (`send` gives the device's exchange, or its result when
    it calls out by other means): success if any device took it (the provider id of the first), a
    transient error if none did and one might later, else permanent. Devices the provider says are
    gone are noted in `outgoing.gone` for delivery to remove (providers never touch the database)."""
    if not outgoing.devices:
        raise PermanentError("the profile has no device for this channel")
    ids: list[str] = []
    transient: list[str] = []
    permanent: list[str] = []
    for device in outgoing.devices:
        try:
            sent = send(device)
            ids.append(sent if isinstance(sent, str) else (yield from sent))
        except GoneDevice as error:
            outgoing.gone.append(device.pk)
            permanent.append(str(error))
        except TransientError as error:
            transient.append(str(error))
        except (PermanentError, outbound.OutboundRefused) as error:
            permanent.append(str(error))
    if ids:
        return ids[0]
    if transient:
        raise TransientError("; ".join(transient))
    raise PermanentError("; ".join(permanent))


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
    provider = factory(options, secret)
    return _AsyncRedacting(provider, secret) if isinstance(provider, AsyncProvider) else _Redacting(provider, secret)


# --- HTTP providers share this -----------------------------------------------------------------------


def http_call(
    method: str, url: str, *, allow_private: bool = False, http2: bool = False, timeout: float = 10.0, **kwargs: Any
) -> httpx.Response:
    """One HTTP call through the outbound policy (`messaging.outbound`): refused addresses and redirects
    are permanent failures, timeouts and connection errors transient; any other answer is returned."""
    with _call_errors():
        response = outbound.http_client(allow_private=allow_private, http2=http2).request(
            method, url, timeout=timeout, **kwargs
        )
    return _not_redirected(response)


async def ahttp_call(
    method: str, url: str, *, allow_private: bool = False, http2: bool = False, timeout: float = 10.0, **kwargs: Any
) -> HttpAnswer:
    """`http_call` on the running event loop: HTTP/1.1 through its aiohttp session, HTTP/2 through
    httpx's async client (aiohttp has no HTTP/2)."""
    client = (outbound.async_http2_client if http2 else outbound.async_http_client)(allow_private=allow_private)
    with _call_errors():
        response = await client.request(method, url, timeout=timeout, **kwargs)
    return _not_redirected(response)


@contextmanager
def _call_errors() -> Iterator[None]:
    """Either client's errors, sorted alike."""
    try:
        yield
    except outbound.OutboundRefused as error:
        raise PermanentError(str(error)) from error
    except (httpx.InvalidURL, httpx.UnsupportedProtocol) as error:
        raise PermanentError(f"cannot call this URL: {error}") from error
    except (aiohttp.InvalidURL, aiohttp.NonHttpUrlClientError) as error:  # their text is the whole URL
        raise PermanentError(f"cannot call this URL: {type(error).__name__}") from error
    except httpx.TimeoutException as error:
        raise TransientError(f"timed out: {error}") from error
    except TimeoutError as error:  # aiohttp's: its text names the whole URL, or nothing
        raise TransientError(f"timed out: {_AIOHTTP_TIMEOUTS.get(type(error), 'no answer in time')}") from error
    except (httpx.HTTPError, aiohttp.ClientError) as error:
        raise TransientError(f"{type(error).__name__}: {error}") from error
    except ValueError as error:  # a request piece refused (a header with a newline): h11's protocol error, as httpx's
        raise TransientError(f"{type(error).__name__}: {error}") from error


_AIOHTTP_TIMEOUTS: dict[type[Exception], str] = {
    aiohttp.ConnectionTimeoutError: "connecting",
    aiohttp.SocketTimeoutError: "reading the answer",
}


def _not_redirected(response: AnswerT) -> AnswerT:
    if 300 <= response.status_code < 400:
        where = outbound.location_host(response.headers)
        raise PermanentError(f"HTTP {response.status_code}: redirected to {where}; redirects are not followed")
    return response


def http_send(method: str, url: str, **kwargs: Any) -> httpx.Response:
    """`http_call`, its answers sorted: 429 and 5xx are transient; other 4xx are permanent, with the
    start of the answer as the reason."""
    return _sorted(http_call(method, url, **kwargs))


async def ahttp_send(method: str, url: str, **kwargs: Any) -> HttpAnswer:
    """`http_send` through the running event loop's async client."""
    return _sorted(await ahttp_call(method, url, **kwargs))


def _sorted(response: AnswerT) -> AnswerT:
    if response.status_code == 429 or response.status_code >= 500:
        raise TransientError(f"HTTP {response.status_code}: {response.text[:ANSWER_MAX]}")
    if response.status_code >= 400:
        raise PermanentError(f"HTTP {response.status_code}: {response.text[:ANSWER_MAX]}")
    return response


@dataclass(frozen=True)
class HttpCall:
    """One request a provider makes, whichever client carries it: `http_send`'s arguments (or
    `http_call`'s, answers unsorted, when `sort` is off)."""

    method: str
    url: str
    options: Mapping[str, Any] = field(default_factory=dict)  # as httpx names them: data, json, content, headers, auth
    allow_private: bool = False
    http2: bool = False
    timeout: float = 10.0
    sort: bool = True

    def _arguments(self) -> dict[str, Any]:
        return {"allow_private": self.allow_private, "http2": self.http2, "timeout": self.timeout, **self.options}

    def send(self) -> HttpAnswer:
        return (http_send if self.sort else http_call)(self.method, self.url, **self._arguments())

    async def asend(self) -> HttpAnswer:
        return await (ahttp_send if self.sort else ahttp_call)(self.method, self.url, **self._arguments())


# A provider's side of sending one message: a generator that yields each request it makes, is handed
# back the answer (or the error the call raised, where it yielded), and returns the provider's id.
Exchange = Generator[HttpCall, HttpAnswer, str]


def exchange_send(exchange: Exchange) -> str:
    """Carry an exchange's requests on the blocking client."""
    try:
        call = next(exchange)
        while True:
            try:
                response = call.send()
            except Exception as error:  # handed to the provider, as if it had made the call itself
                call = exchange.throw(error)
            else:
                call = exchange.send(response)
    except StopIteration as done:
        return cast(str, done.value)


async def exchange_asend(exchange: Exchange) -> str:
    """Carry an exchange's requests on the running event loop's clients."""
    try:
        call = next(exchange)
        while True:
            try:
                response = await call.asend()
            except Exception as error:  # handed to the provider, as if it had made the call itself
                call = exchange.throw(error)
            else:
                call = exchange.send(response)
    except StopIteration as done:
        return cast(str, done.value)


class HttpProvider:
    """A provider whose every call is an HTTP request says which in `exchange`; sending it on the
    blocking client (`send`: test sends, threads) and on delivery's event loop (`asend`) differ only in
    the client that carries the requests."""

    def exchange(self, outgoing: Outgoing) -> Exchange:
        raise NotImplementedError

    def send(self, outgoing: Outgoing) -> str:
        return exchange_send(self.exchange(outgoing))

    async def asend(self, outgoing: Outgoing) -> str:
        return await exchange_asend(self.exchange(outgoing))


# --- What a failure may say ------------------------------------------------------------------------------

REASON_MAX = 300  # a message's status_reason: read by analysts, so short and free of secrets
ANSWER_MAX = 2000  # how much of an answer an error carries until it is cleaned (a secret cut short escapes)
_REDACTED = "[redacted]"
_PEM = re.compile(r"-----BEGIN [A-Z ]+-----.*?(?:-----END [A-Z ]+-----|$)", re.DOTALL)
_SCHEMES = re.compile(r"(?i)\b(bearer|basic|token|key)(\s+)[A-Za-z0-9._~+/=-]{8,}")
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*")
_NAMED = re.compile(
    r"(?i)([\"']?[\w-]*(?:authorization|token|secret|password|passwd|api[_-]?key|apikey|signature)[\"']?"
    r"\s*[:=]\s*[\"']?)((?:bearer\s+|basic\s+)?[^\s\"',;&}]{4,})"  # a scheme word goes with its value
)


def reason_clean(text: str, secrets: Iterable[str] = ()) -> str:
    """A provider's answer made fit for `status_reason`: the given secrets and anything that looks like
    a credential (bearer tokens, JWTs, `token=…`, `"password": …`) redacted, on one line, at most
    REASON_MAX characters."""
    forms = {form for s in secrets if len(s) >= 6 for form in (s, json.dumps(s)[1:-1])}  # also as JSON echoes it
    for secret in sorted(forms, key=len, reverse=True):
        text = text.replace(secret, _REDACTED)
    text = _PEM.sub(_REDACTED, text)
    text = _SCHEMES.sub(rf"\1\2{_REDACTED}", text)
    text = _JWT.sub(_REDACTED, text)
    text = _NAMED.sub(rf"\1{_REDACTED}", text)
    text = " ".join(text.split())
    return text if len(text) <= REASON_MAX else text[: REASON_MAX - 1] + "…"


def _secret_parts(secret: str) -> list[str]:
    """The secret, and each long string inside it when it is JSON (a service-account key)."""
    parts = [secret]
    try:
        data = json.loads(secret)
    except ValueError:
        return parts
    if isinstance(data, dict):
        parts += [v for k, v in data.items() if isinstance(v, str) and len(v) >= 16 and k != "token_uri"]
    return parts


class _Redacting:
    """Wraps every configured provider: whatever its errors say is cleaned before delivery stores it."""

    def __init__(self, provider: Provider, secret: str) -> None:
        self.provider = provider
        self.secrets = _secret_parts(secret) if secret else []

    def send(self, outgoing: Outgoing) -> str:
        with self._cleaned(outgoing):
            return self.provider.send(outgoing)

    @contextmanager
    def _cleaned(self, outgoing: Outgoing) -> Iterator[None]:
        try:
            yield
        except outbound.OutboundRefused as error:
            raise PermanentError(reason_clean(str(error), self._secrets(outgoing))) from error
        except (PermanentError, TransientError) as error:
            raise type(error)(reason_clean(str(error), self._secrets(outgoing))) from error

    def _secrets(self, outgoing: Outgoing) -> list[str]:
        """Also what a webhook sends that an answer might echo: its header values and its URL."""
        headers = outgoing.content.get("headers") if outgoing.channel == "webhook" else None
        extra = [str(v) for v in headers.values()] if isinstance(headers, dict) else []
        url = str(outgoing.content.get("url") or "") if outgoing.channel == "webhook" else ""
        if url:
            parts = urlsplit(url)
            extra += [url, parts.path, parts.path + (f"?{parts.query}" if parts.query else "")]
            extra += [value for _, value in parse_qsl(parts.query) if len(value) >= 6]
        return self.secrets + [e for e in extra if len(e) >= 6 and e != "/"]


class _AsyncRedacting(_Redacting):
    provider: AsyncProvider

    async def asend(self, outgoing: Outgoing) -> str:
        with self._cleaned(outgoing):
            return await self.provider.asend(outgoing)
