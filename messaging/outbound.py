"""One outbound-address policy for every call Nudge makes (webhooks, providers' HTTP APIs, SMTP): only
globally routable addresses. It is checked where an address is saved (early, friendly errors) and again
at the address a connection is actually made to — resolved once, every resolved address checked, the
connection made to a checked one — so a name that re-resolves between check and use (DNS rebinding)
gains nothing. Redirects are never followed.

Escape hatches: `settings.NUDGE_OUTBOUND_ALLOW` (CIDRs the operator allows despite the policy, for
on-premise providers and tests; empty by default), and a workspace's `allow_private_webhooks`, which lets
its webhooks (only) reach loopback and private networks — never link-local or cloud-metadata addresses.
"""

from __future__ import annotations

import asyncio
import base64
import codecs
import ipaddress
import select
import smtplib
import socket
import ssl
import threading
import weakref
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache, partial
from json import dumps as json_dumps
from json import loads as json_loads
from typing import Any
from urllib.parse import urlencode, urlsplit

import aiohttp
import httpcore
import httpx
import requests
from aiohttp.abc import AbstractResolver, ResolveResult
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.mail.backends.smtp import EmailBackend
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Answered by cloud instance-metadata services (AWS/GCP/Azure, Alibaba, AWS over IPv6): never reachable,
# whatever a workspace allows.
METADATA = {ipaddress.ip_address(a) for a in ("169.254.169.254", "100.100.100.200", "fd00:ec2::254")}
SHARED = ipaddress.ip_network("100.64.0.0/10")  # carrier-grade NAT (RFC 6598); Python calls it not global
NAT64 = ipaddress.ip_network("64:ff9b::/96")
UNIQUE_LOCAL = ipaddress.ip_network("fc00::/7")
RFC1918 = tuple(ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"))
# What `allow_private_webhooks` opens: a private network, not the host's or the cloud's own services.
PRIVATE_KINDS = {"loopback", "private", "shared address space", "unique-local", "site-local"}


class OutboundRefused(Exception):
    """The address is not one Nudge connects to; retrying will not help."""

    def __init__(self, message: str, kind: str) -> None:
        super().__init__(message)
        self.kind = kind  # loopback, private, cloud metadata, …

    def for_webhook(self, *, allow_private: bool) -> str:
        """The message, saying so when the workspace's switch would have let the address through."""
        closed = self.kind in PRIVATE_KINDS and not allow_private
        return f"{self}; the workspace does not allow private webhooks" if closed else str(self)


@lru_cache(maxsize=8)
def _networks(allowed: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    try:
        return tuple(ipaddress.ip_network(cidr, strict=False) for cidr in allowed)
    except ValueError as error:
        raise ImproperlyConfigured(f"NUDGE_OUTBOUND_ALLOW: {error}") from error


def _allowed(ip: IPAddress) -> bool:
    configured = getattr(settings, "NUDGE_OUTBOUND_ALLOW", [])
    if isinstance(configured, str):
        raise ImproperlyConfigured("NUDGE_OUTBOUND_ALLOW must be a list of CIDRs, not a string")
    return any(ip.version == net.version and ip in net for net in _networks(tuple(configured)))


def _kind(ip: IPAddress) -> str | None:
    """Why this address is not globally routable (None: it is)."""
    if ip in METADATA:
        return "cloud metadata"
    if ip.is_unspecified:
        return "unspecified"
    if ip.is_loopback:
        return "loopback"
    if ip.is_link_local:
        return "link-local"
    if ip.is_multicast:
        return "multicast"
    if isinstance(ip, ipaddress.IPv4Address):
        if ip in SHARED:
            return "shared address space"
        if any(ip in network for network in RFC1918):
            return "private"
    else:
        if ip in UNIQUE_LOCAL:
            return "unique-local"
        if ip.is_site_local:
            return "site-local"
    if ip.is_reserved:
        return "reserved"
    if not ip.is_global:
        return "non-public"
    return None


def _embedded(ip: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one stands for (IPv4-mapped, NAT64, 6to4), judged in its place."""
    if isinstance(ip, ipaddress.IPv4Address):
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip.sixtofour


def refusal(ip: IPAddress, *, allow_private: bool = False) -> str | None:
    """Why Nudge will not connect to `ip` (a short phrase), or None if it may."""
    if _allowed(ip):
        return None
    inner = _embedded(ip)
    if inner is not None:
        inner_kind = refusal(inner, allow_private=allow_private)
        six_to_four = isinstance(ip, ipaddress.IPv6Address) and ip.sixtofour is not None
        if inner_kind is not None or not six_to_four:  # mapped and NAT64 addresses reach the IPv4 one
            return inner_kind
    kind = _kind(ip)
    if kind is None or (allow_private and kind in PRIVATE_KINDS):
        return None
    return kind


def _ip(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]").split("%")[0])
    except ValueError:
        return None


def addresses(host: str, port: int, *, allow_private: bool = False) -> list[tuple[Any, ...]]:
    """Resolve `host` once; every address it resolves to must pass, or the call is refused (a name with
    one public and one private address is refused). Raises `socket.gaierror` if it does not resolve."""
    infos = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)
    for *_, sockaddr in infos:
        ip = ipaddress.ip_address(str(sockaddr[0]).split("%")[0])
        kind = refusal(ip, allow_private=allow_private)
        if kind is not None:
            raise _refused(host, ip, kind)
    return infos


def _refused(host: str, ip: IPAddress, kind: str) -> OutboundRefused:
    shown = host if _ip(host) == ip else f"{host} resolves to {ip}, which"
    article = "an" if kind[0] in "aeio" or kind.startswith("unsp") else "a"
    return OutboundRefused(f"refused: {shown} is {article} {kind} address (Nudge calls public addresses only)", kind)


def connect(
    host: str,
    port: int,
    timeout: Any = None,
    *,
    allow_private: bool = False,
    source_address: tuple[str, int] | None = None,
    socket_options: Iterable[tuple[int, int, int | bytes]] = (),
) -> socket.socket:
    """`socket.create_connection`, to checked addresses only."""
    error: OSError | None = None
    for family, kind, proto, _, sockaddr in addresses(host, port, allow_private=allow_private):
        sock = socket.socket(family, kind, proto)
        try:
            for option in socket_options:
                sock.setsockopt(*option)
            if timeout is None or isinstance(timeout, int | float):  # else a library's "default" sentinel
                sock.settimeout(timeout)
            if source_address:
                sock.bind(source_address)
            sock.connect(sockaddr)
            return sock
        except OSError as failed:
            error = failed
            sock.close()
    raise error or OSError(f"{host} has no address")


# --- Save time -----------------------------------------------------------------------------------------


def host_problem(host: str, port: int = 0, *, allow_private: bool = False, webhook: bool = False) -> str | None:
    """Why an address being saved will be refused, or None. A name that does not resolve now is let
    through (it is checked again at every connection)."""
    if not host:
        return "has no host"
    try:
        addresses(host, port, allow_private=allow_private)
    except OutboundRefused as error:
        return error.for_webhook(allow_private=allow_private) if webhook else str(error)
    except (OSError, UnicodeError):
        return None
    return None


def url_problem(url: str, *, allow_private: bool = False, webhook: bool = False) -> str | None:
    """Like `host_problem` for an http(s) URL. A host written in Liquid is checked when sent."""
    try:
        parts = urlsplit(url)
        if "{" in parts.scheme or "{" in parts.netloc:
            return None
        port = parts.port
    except ValueError as error:
        return f"is not a valid URL: {error}"
    if parts.scheme not in ("http", "https"):
        return "must be an http:// or https:// URL"
    return host_problem(parts.hostname or "", port or 0, allow_private=allow_private, webhook=webhook)


# --- HTTP through httpx (blocking: test sends, threads; HTTP/2 for APNs) -------------------------------

# Every HTTP client sends the same headers of its own, so a provider's request is the same bytes
# whichever client carries it (the blocking client, httpx's HTTP/2 client or the aiohttp session).
# Only the encodings both clients decode are offered.
REQUEST_HEADERS = {
    "Accept": "*/*",
    "Accept-Encoding": "gzip, deflate",
    "Connection": "keep-alive",
    "User-Agent": "Nudge",
}
KEEPALIVE_SECONDS = 5.0  # how long an idle connection to a provider is kept (httpx's default)


class _CheckedBackend(httpcore.SyncBackend):
    """httpcore's TCP connect, to a checked address of the host; TLS (SNI, certificate) and the Host
    header still name the host, because httpcore does those from the URL, not from this socket."""

    def __init__(self, allow_private: bool) -> None:
        self.allow_private = allow_private

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        try:
            infos = addresses(host, port, allow_private=self.allow_private)
        except (OSError, UnicodeError) as error:
            raise httpcore.ConnectError(f"cannot resolve {host}: {error}") from error
        failure: httpcore.ConnectError | None = None
        for *_, sockaddr in infos:
            try:
                return super().connect_tcp(str(sockaddr[0]), port, timeout, local_address, socket_options)
            except httpcore.ConnectError as error:
                failure = error
        raise failure or httpcore.ConnectError(f"{host} has no address")


class OutboundTransport(httpx.HTTPTransport):
    def __init__(self, *, allow_private: bool = False, http2: bool = False, limits: httpx.Limits) -> None:
        super().__init__(verify=_ssl_context(http2), http2=http2, limits=limits, trust_env=False)
        # httpx has no parameter for httpcore's network backend; the pool is rebuilt with ours.
        self._pool = httpcore.ConnectionPool(
            **_pool_options(limits, http2), network_backend=_CheckedBackend(allow_private)
        )


@lru_cache(maxsize=2)
def _ssl_context(http2: bool) -> ssl.SSLContext:
    """Certificates and host names verified as httpx verifies them, the CA bundle loaded once per process
    (it takes tens of milliseconds, and a delivery run's async clients are new each run); one per ALPN
    choice, which httpcore sets on the context (the aiohttp session uses the HTTP/1.1 one)."""
    return httpx.create_ssl_context()


def _pool_options(limits: httpx.Limits, http2: bool) -> dict[str, Any]:
    return {
        "ssl_context": _ssl_context(http2),
        "max_connections": limits.max_connections,
        "max_keepalive_connections": limits.max_keepalive_connections,
        "keepalive_expiry": limits.keepalive_expiry,
        "http1": True,
        "http2": http2,
    }


_clients: dict[tuple[bool, bool], httpx.Client] = {}
_clients_lock = threading.Lock()


def http_client(*, allow_private: bool = False, http2: bool = False) -> httpx.Client:
    """One client per process and policy: connections to a provider are kept alive between messages.
    httpx clients are thread-safe. Redirects are not followed (a 3xx is the caller's failure)."""
    key = (allow_private, http2)
    with _clients_lock:
        if key not in _clients:
            limits = httpx.Limits(max_keepalive_connections=20, keepalive_expiry=KEEPALIVE_SECONDS)
            transport = OutboundTransport(allow_private=allow_private, http2=http2, limits=limits)
            _clients[key] = httpx.Client(
                transport=transport, follow_redirects=False, trust_env=False, headers=REQUEST_HEADERS
            )
        return _clients[key]


# --- HTTP/2 on the event loop through httpx's async API (APNs) ---------------------------------------
#
# aiohttp speaks no HTTP/2, so APNs' calls on delivery's loop go through `httpx.AsyncClient`, its
# connections made by `_AsyncCheckedBackend`: resolved once, every address checked, a checked one
# connected, on plain asyncio streams. Multiplexed, they are few, so httpcore's own pool costs little.


class _AsyncStream(httpcore.AsyncNetworkStream):
    """httpcore's network stream over an asyncio stream pair, its errors mapped as httpcore's own
    backends map them."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader, self._writer = reader, writer

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        try:
            async with asyncio.timeout(timeout):
                return await self._reader.read(max_bytes)
        except TimeoutError as error:
            raise httpcore.ReadTimeout(str(error) or "read timed out") from error
        except OSError as error:
            raise httpcore.ReadError(str(error)) from error

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if not buffer:
            return
        try:
            if self._writer.is_closing():
                raise ConnectionResetError("the connection is closed")
            self._writer.write(buffer)
            async with asyncio.timeout(timeout):
                await self._writer.drain()
        except TimeoutError as error:
            raise httpcore.WriteTimeout(str(error) or "write timed out") from error
        except OSError as error:
            raise httpcore.WriteError(str(error)) from error

    async def aclose(self) -> None:
        self._writer.close()

    async def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.AsyncNetworkStream:
        try:
            async with asyncio.timeout(timeout):
                await self._writer.start_tls(ssl_context, server_hostname=server_hostname)
        except TimeoutError as error:
            self._writer.close()
            raise httpcore.ConnectTimeout(str(error) or "TLS handshake timed out") from error
        except OSError as error:  # ssl.SSLError included
            self._writer.close()
            raise httpcore.ConnectError(str(error)) from error
        return self

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable":  # idle, yet the server spoke or hung up (seen by the loop, or not yet)
            sock = self._writer.get_extra_info("socket")
            return self._reader.at_eof() or self._writer.is_closing() or sock is None or _readable(sock.fileno())
        name = {"server_addr": "peername", "client_addr": "sockname"}.get(info, info)
        return self._writer.get_extra_info(name) if name in ("ssl_object", "socket", "peername", "sockname") else None


def _readable(fd: int) -> bool:
    if fd < 0:
        return True
    poll = select.poll()
    poll.register(fd, select.POLLIN)
    return bool(poll.poll(0))


class _AsyncCheckedBackend(httpcore.AsyncNetworkBackend):
    """`_CheckedBackend` for the event loop: the name resolved once (in a thread, a literal address in
    place), every address checked, the connection made to a checked one; TLS and the Host header still
    name the host."""

    def __init__(self, allow_private: bool) -> None:
        self.allow_private = allow_private

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        check = partial(addresses, host, port, allow_private=self.allow_private)
        try:
            infos = check() if _ip(host) is not None else await asyncio.get_running_loop().run_in_executor(None, check)
        except (OSError, UnicodeError) as error:
            raise httpcore.ConnectError(f"cannot resolve {host}: {error}") from error
        failure: httpcore.ConnectError | httpcore.ConnectTimeout | None = None
        for family, kind, proto, _, sockaddr in infos:
            try:
                return await self._connect(family, kind, proto, sockaddr, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as error:
                failure = error
        raise failure or httpcore.ConnectError(f"{host} has no address")

    @staticmethod
    async def _connect(
        family: int,
        kind: int,
        proto: int,
        sockaddr: Any,
        timeout: float | None,
        local_address: str | None,
        socket_options: Iterable[Any] | None,
    ) -> _AsyncStream:
        sock = socket.socket(family, kind, proto)
        try:
            sock.setblocking(False)
            for option in socket_options or ():
                sock.setsockopt(*option)
            if local_address:
                sock.bind((local_address, 0))
            async with asyncio.timeout(timeout):
                await asyncio.get_running_loop().sock_connect(sock, sockaddr)
            reader, writer = await asyncio.open_connection(sock=sock)
        except TimeoutError as error:
            sock.close()
            raise httpcore.ConnectTimeout(f"connecting to {sockaddr[0]} timed out") from error
        except OSError as error:
            sock.close()
            raise httpcore.ConnectError(str(error)) from error
        except BaseException:
            sock.close()
            raise
        return _AsyncStream(reader, writer)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class AsyncOutboundTransport(httpx.AsyncHTTPTransport):
    """HTTP/2 (HTTP/1.1 where the server offers no h2) through the checked backend."""

    def __init__(self, *, allow_private: bool = False, limits: httpx.Limits) -> None:
        super().__init__(verify=_ssl_context(True), http2=True, limits=limits, trust_env=False)
        self._pool = httpcore.AsyncConnectionPool(
            **_pool_options(limits, True), network_backend=_AsyncCheckedBackend(allow_private)
        )


# --- HTTP/1.1 on the event loop through aiohttp (delivery's provider calls) --------------------------
#
# One aiohttp session per event loop and policy. Its connector resolves a name once through
# `_CheckedResolver` (every address checked, as `addresses` does), and makes every socket through
# `_checked_socket`, which refuses an address the policy does not allow — the only check a literal
# address in a URL meets, since aiohttp does not resolve those — so no connection is ever made to an
# address that was not checked. TLS verifies the certificate and the host name (SNI and the Host header
# name the host, never the address connected to).


class _CheckedResolver(AbstractResolver):
    """A name resolved once, in a thread; refused whole if any of its addresses is (`addresses`)."""

    def __init__(self, allow_private: bool) -> None:
        self.allow_private = allow_private

    async def resolve(self, host: str, port: int = 0, family: int = socket.AF_INET) -> list[ResolveResult]:
        check = partial(addresses, host, port, allow_private=self.allow_private)
        try:
            infos = await asyncio.get_running_loop().run_in_executor(None, check)
        except UnicodeError as error:  # a name IDNA cannot encode: it resolves to nothing
            raise socket.gaierror(socket.EAI_NONAME, f"cannot resolve {host}: {error}") from error
        flags = socket.AI_NUMERICHOST | socket.AI_NUMERICSERV
        return [
            {"hostname": host, "host": str(a[0]), "port": int(a[1]), "family": f, "proto": proto, "flags": flags}
            for f, _, proto, _, a in infos
            if not family or f == family
        ]

    async def close(self) -> None:
        pass


def _checked_socket(addr_info: Any, *, allow_private: bool) -> socket.socket:
    """The socket aiohttp connects to `addr_info`'s address with, made only if the policy allows it."""
    family, kind, proto, _, sockaddr = addr_info
    ip = ipaddress.ip_address(str(sockaddr[0]).split("%")[0])
    refused = refusal(ip, allow_private=allow_private)
    if refused is not None:
        # An IPv4-mapped address named as URLs write it (yarl and Python 3.11 print ::ffff:7f00:1).
        raise _refused(f"::ffff:{ip.ipv4_mapped}" if ip.version == 6 and ip.ipv4_mapped else str(ip), ip, refused)
    return socket.socket(family, kind, proto)


@lru_cache(maxsize=16)
def _timeouts(seconds: float) -> aiohttp.ClientTimeout:
    """httpx's `timeout=`: each phase (waiting for a connection and making it, each read) bounded
    apart, not the call as a whole."""
    return aiohttp.ClientTimeout(total=None, connect=seconds, sock_connect=seconds, sock_read=seconds)


# What an answer names as its request (method and URL, read only): a provider calls few distinct URLs,
# and parsing one costs more than the rest of the answer's model.
_request = lru_cache(maxsize=1024)(httpx.Request)


class Answer:
    """An uncompressed answer on the event loop, read as httpx's `Response` is read (`status_code`,
    `headers`, `content`, `text`, `json()`, `raise_for_status()`) without building httpx's model, whose
    decoding pipeline cost more than the rest of the answer (~9 µs a call): the body is already what that
    model would hold. A compressed answer still gets httpx's model, which decodes it."""

    __slots__ = ("content", "headers", "request", "status_code")

    def __init__(self, status_code: int, headers: Mapping[str, str], content: bytes, request: httpx.Request) -> None:
        self.status_code, self.headers, self.content, self.request = status_code, headers, content, request

    @property
    def text(self) -> str:
        """As httpx decodes it: the charset the Content-Type names (if Python knows it), else UTF-8, any
        undecodable byte replaced."""
        return self.content.decode(_charset(self.headers.get("Content-Type", "")) or "utf-8", errors="replace")

    def json(self, **kwargs: Any) -> Any:
        return json_loads(self.content, **kwargs)

    def raise_for_status(self) -> Answer:
        if 200 <= self.status_code < 300:
            return self
        model = httpx.Response(self.status_code, headers=list(self.headers.items()), content=self.content)
        model.request = self.request
        model.raise_for_status()  # httpx's error, with httpx's message
        return self


def _charset(content_type: str) -> str | None:
    for parameter in content_type.split(";")[1:]:
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "charset":
            charset = value.strip().strip("'\"")
            try:
                return codecs.lookup(charset).name
            except LookupError:
                return None
    return None


class AsyncSession:
    """Delivery's HTTP/1.1 client on one event loop: an aiohttp session connecting only to checked
    addresses, keeping up to NUDGE_SEND_CONCURRENCY connections alive, following no redirect, reading no
    proxy variable, keeping no cookie. It takes httpx's arguments and answers as httpx's `Response` does
    (an `Answer`, or httpx's model itself for a compressed body, decoded by httpx), so a provider's
    requests and answers are the same on either client."""

    def __init__(self, *, allow_private: bool) -> None:
        connector = aiohttp.TCPConnector(
            limit=settings.NUDGE_SEND_CONCURRENCY,
            keepalive_timeout=KEEPALIVE_SECONDS,
            ssl=_ssl_context(False),
            resolver=_CheckedResolver(allow_private),
            socket_factory=partial(_checked_socket, allow_private=allow_private),
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            headers=REQUEST_HEADERS,
            skip_auto_headers=("Content-Type",),  # httpx sends none with raw content; ours are set below
            cookie_jar=aiohttp.DummyCookieJar(),
            trust_env=False,
            auto_decompress=False,
        )

    async def request(
        self,
        method: str,
        url: str,
        *,
        content: bytes | str | None = None,
        data: Mapping[str, Any] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float = 10.0,
    ) -> Answer | httpx.Response:
        """One call, its body encoded as httpx encodes it (form fields, compact JSON, raw content)."""
        sent = dict(headers or {})
        body, content_type = _body(content, data, json)
        if content_type and not any(name.lower() == "content-type" for name in sent):
            sent["Content-Type"] = content_type
        if auth is not None:
            sent["Authorization"] = "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        async with self._session.request(
            method, url, data=body, headers=sent, allow_redirects=False, timeout=_timeouts(timeout)
        ) as answer:
            raw = await answer.read()
        if answer.headers.get("Content-Encoding", "identity").strip().lower() in ("identity", ""):
            return Answer(answer.status, answer.headers, raw, _request(method, url))
        return httpx.Response(answer.status, headers=answer.raw_headers, content=raw, request=_request(method, url))

    async def post(self, url: str, **options: Any) -> Answer | httpx.Response:
        return await self.request("POST", url, **options)

    async def aclose(self) -> None:
        await self._session.close()


def _body(content: bytes | str | None, data: Mapping[str, Any] | None, json: Any) -> tuple[bytes | None, str]:
    if data is not None:
        return form_encode(data), "application/x-www-form-urlencoded"
    if json is not None:
        return json_dumps(json, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode(), "application/json"
    return (content.encode() if isinstance(content, str) else content), ""


# What each UTF-8 byte of a form field becomes (`quote_plus` with nothing kept safe): itself if
# unreserved, a space `+`, else `%XX`; a table for `str.translate` over the bytes read as Latin-1 (every
# byte in it: a byte missing from a mapping costs a failed lookup).
_FORM_BYTES = [
    chr(byte) if chr(byte).isascii() and (chr(byte).isalnum() or chr(byte) in "_.-~") else f"%{byte:02X}"
    for byte in range(256)
]
_FORM_BYTES[0x20] = "+"


def form_encode(data: Mapping[str, Any]) -> bytes:
    """`urlencode(data, doseq=True)` as bytes, as httpx encodes form fields: a field of text quoted in one
    C pass (`str.translate`), where urlencode quotes it a character at a time in Python; fields that are
    not all text (a list, a number) go through urlencode."""
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in data.items()):
        return urlencode(data, doseq=True).encode()
    return "&".join([f"{_form_quoted(k)}={_form_quoted(v)}" for k, v in data.items()]).encode()


def _form_quoted(text: str) -> str:
    return text.encode().decode("latin-1").translate(_FORM_BYTES)


@dataclass
class _LoopClients:
    sessions: dict[bool, AsyncSession] = field(default_factory=dict)  # by allow_private
    http2: dict[bool, httpx.AsyncClient] = field(default_factory=dict)


_async_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopClients] = weakref.WeakKeyDictionary()


def _loop_clients() -> _LoopClients:
    loop = asyncio.get_running_loop()
    clients = _async_clients.get(loop)
    if clients is None:
        with _clients_lock:  # loops of other threads (a thread-pool worker's tasks) may be adding theirs
            clients = _async_clients.setdefault(loop, _LoopClients())
    return clients


def async_http_client(*, allow_private: bool = False) -> AsyncSession:
    """`http_client` for the running event loop (a session's connections belong to one loop): one per
    loop and policy, kept until `async_clients_close`."""
    sessions = _loop_clients().sessions
    if allow_private not in sessions:
        sessions[allow_private] = AsyncSession(allow_private=allow_private)
    return sessions[allow_private]


def async_http2_client(*, allow_private: bool = False) -> httpx.AsyncClient:
    """The running event loop's HTTP/2 client (APNs), one per loop and policy."""
    clients = _loop_clients().http2
    if allow_private not in clients:
        concurrency = settings.NUDGE_SEND_CONCURRENCY
        limits = httpx.Limits(
            max_connections=concurrency, max_keepalive_connections=concurrency, keepalive_expiry=KEEPALIVE_SECONDS
        )
        clients[allow_private] = httpx.AsyncClient(
            transport=AsyncOutboundTransport(allow_private=allow_private, limits=limits),
            follow_redirects=False,
            trust_env=False,
            headers=REQUEST_HEADERS,
        )
    return clients[allow_private]


async def async_clients_close() -> None:
    """Close the running loop's clients and their connections (at the end of a delivery run)."""
    with _clients_lock:
        clients = _async_clients.pop(asyncio.get_running_loop(), _LoopClients())
    for session in clients.sessions.values():
        await session.aclose()
    for client in clients.http2.values():
        await client.aclose()


# --- HTTP through requests (django-anymail's ESPs, pywebpush) ----------------------------------------


def _new_conn(connection: HTTPConnection) -> socket.socket:
    """urllib3's `_new_conn`, to a checked address; TLS still verifies `connection.host`."""
    try:
        return connect(
            connection.host,
            connection.port or 0,
            connection.timeout,
            source_address=connection.source_address,
            socket_options=connection.socket_options or (),
        )
    except socket.gaierror as error:
        raise NameResolutionError(connection.host, connection, error) from error
    except TimeoutError as error:
        raise ConnectTimeoutError(connection, f"connecting to {connection.host} timed out") from error
    except OSError as error:
        raise NewConnectionError(connection, f"Failed to establish a new connection: {error}") from error


class _CheckedHTTPConnection(HTTPConnection):
    def _new_conn(self) -> socket.socket:
        return _new_conn(self)


class _CheckedHTTPSConnection(HTTPSConnection):
    def _new_conn(self) -> socket.socket:
        return _new_conn(self)


class _CheckedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _CheckedHTTPConnection


class _CheckedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _CheckedHTTPSConnection


class _CheckedAdapter(HTTPAdapter):
    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _CheckedHTTPPool, "https": _CheckedHTTPSPool}


class CheckedSession(requests.Session):
    """A requests session that connects only where the policy allows, ignores proxy variables and
    follows no redirect."""

    def __init__(self) -> None:
        super().__init__()
        self.trust_env = False
        self.mount("http://", _CheckedAdapter())
        self.mount("https://", _CheckedAdapter())

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        kwargs["allow_redirects"] = False
        as_text = [value.decode() if isinstance(value, bytes) else value for value in (method, url)]
        return super().request(as_text[0], as_text[1], *args, **kwargs)


# --- SMTP ----------------------------------------------------------------------------------------------


class _CheckedSMTP(smtplib.SMTP):
    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        # STARTTLS and SMTPS verify the certificate against `self._host`, the name, not this address.
        source = self.source_address if isinstance(self.source_address, tuple) else None
        return connect(host, port, timeout, source_address=source)


class _CheckedSMTPSSL(smtplib.SMTP_SSL, _CheckedSMTP):
    pass  # SMTP_SSL._get_socket wraps what _CheckedSMTP._get_socket connected


class CheckedEmailBackend(EmailBackend):
    """Django's SMTP backend, connecting only where the policy allows."""

    @property
    def connection_class(self) -> type[smtplib.SMTP]:
        return _CheckedSMTPSSL if self.use_ssl else _CheckedSMTP


def location_host(headers: Any) -> str:
    """The host a redirect points at (never its path or query: those may carry secrets)."""
    try:
        return urlsplit(str(headers.get("location") or "")).hostname or "elsewhere"
    except ValueError:
        return "elsewhere"
