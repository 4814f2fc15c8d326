"""Delivery's aiohttp session (HTTP/1.1 provider calls on the event loop) and httpx's HTTP/2 client beside
it, against real local servers: a name that resolves to a refused address is refused before anything
connects; no redirect is followed; a timeout (connecting or reading), a refused connection, 5xx and 429
are transient, other 4xx permanent; compressed answers are decoded; TLS verifies the certificate and the
host name; and APNs' calls go out over real HTTP/2."""

from __future__ import annotations

import asyncio
import datetime as dt
import gzip
import socket
import ssl
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h2.config
import h2.connection
import h2.events
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from messaging import outbound
from messaging.outbound import OutboundRefused
from messaging.providers.base import Device, Outgoing, PermanentError, TransientError, ahttp_send
from messaging.providers.push import ApnsProvider
from messaging.providers.sms import TwilioProvider
from tests.conftest import free_port
from tests.messaging.servers import answering, provider_server, served_on_a_thread
from tests.messaging.test_async_delivery import _run


@pytest.fixture
def dns(monkeypatch) -> dict[str, str]:
    """Names the test gives an address (the system resolver answers every other name)."""
    names: dict[str, str] = {}
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        return real(names.get(host, host), port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return names


def _sms(base_url: str) -> tuple[TwilioProvider, Outgoing]:
    provider = TwilioProvider({"base_url": base_url, "account_sid": "AC1", "from_number": "+15550001"}, "auth-token")
    outgoing = Outgoing(
        message_id=1, idempotency_key="k:1", workspace_id=1, channel="sms", to="+15550002", content={"body": "Hi"}
    )
    return provider, outgoing


# --- The outbound policy at connect time ----------------------------------------------------------------


def test_a_name_that_resolves_to_a_private_address_is_refused_before_anything_connects(settings, dns):
    settings.NUDGE_OUTBOUND_ALLOW = []  # as deployed
    with provider_server() as server:
        port = server.url.rsplit(":", 1)[1]
        dns["crm.test"] = "127.0.0.1"
        url = f"http://crm.test:{port}/hook"
        with pytest.raises(OutboundRefused, match="refused: crm.test resolves to 127.0.0.1, which is a loopback"):
            _run(lambda: outbound.async_http_client().post(url, content=b"{}"))
        provider, outgoing = _sms(f"http://crm.test:{port}")
        with pytest.raises(PermanentError, match="refused: crm.test resolves to 127.0.0.1, which is a loopback"):
            _run(lambda: provider.asend(outgoing))
        assert server.calls == []
        # A workspace that allows private webhooks reaches it, the request still naming the host.
        assert _run(lambda: outbound.async_http_client(allow_private=True).post(url, content=b"{}")).status_code == 200
    [call] = server.calls
    assert call.headers["Host"] == f"crm.test:{port}"


def test_cloud_metadata_behind_a_name_is_refused_even_where_private_addresses_are_allowed(settings, dns):
    settings.NUDGE_OUTBOUND_ALLOW = []
    dns["metadata.test"] = "169.254.169.254"
    with pytest.raises(OutboundRefused, match="metadata.test resolves to 169.254.169.254, which is a cloud metadata"):
        _run(lambda: outbound.async_http_client(allow_private=True).post("http://metadata.test/latest", content=b""))


# --- Redirects, timeouts and answers, sorted as on the blocking client ---------------------------------


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_is_not_followed(status):
    with provider_server() as target, provider_server(status, status, location=target.url + "/next?token=abc") as first:
        assert _run(lambda: outbound.async_http_client().post(first.url + "/x", content=b"{}")).status_code == status
        with pytest.raises(PermanentError) as refused:
            _run(lambda: ahttp_send("POST", first.url + "/x", content=b"{}"))
    assert str(refused.value) == f"HTTP {status}: redirected to 127.0.0.1; redirects are not followed"
    assert len(first.calls) == 2
    assert target.calls == []


def test_an_answer_that_does_not_come_in_time_is_transient():
    with provider_server(hold=True) as server:
        started = time.monotonic()
        with pytest.raises(TransientError, match=r"^timed out: reading the answer$"):
            _run(lambda: ahttp_send("POST", server.url + "/x", content=b"{}", timeout=0.3))
        assert time.monotonic() - started < 5
    assert len(server.calls) == 1


def test_a_connection_that_is_not_accepted_in_time_is_transient():
    """A listener whose backlog is full: the kernel lets the next connection wait unanswered."""
    with socket.socket() as listener, socket.create_connection(("127.0.0.1", _listen(listener))):
        port = listener.getsockname()[1]
        with pytest.raises(TransientError, match=r"^timed out: connecting$"):
            _run(lambda: ahttp_send("POST", f"http://127.0.0.1:{port}/x", content=b"{}", timeout=0.3))


def _listen(listener: socket.socket) -> int:
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)  # one connection queued, no more
    return int(listener.getsockname()[1])


def test_a_refused_connection_is_transient():
    with pytest.raises(TransientError, match=r"^ClientConnectorError: Cannot connect to host 127\.0\.0\.1"):
        _run(lambda: ahttp_send("POST", f"http://127.0.0.1:{free_port()}/x", content=b"{}"))


@pytest.mark.parametrize(("status", "error"), [(500, TransientError), (503, TransientError), (429, TransientError)])
def test_server_errors_and_throttling_are_transient(status, error):
    with provider_server(status) as server, pytest.raises(error, match=rf"^HTTP {status}: .*scripted failure"):
        _run(lambda: ahttp_send("POST", server.url + "/x", content=b"{}"))


@pytest.mark.parametrize("status", [400, 401, 404, 422])
def test_other_client_errors_are_permanent(status):
    with provider_server(status) as server, pytest.raises(PermanentError, match=rf"^HTTP {status}: .*scripted failure"):
        _run(lambda: ahttp_send("POST", server.url + "/x", content=b"{}"))


def test_a_header_value_with_a_newline_is_refused_and_transient_as_on_the_blocking_client():
    with provider_server() as server:
        with pytest.raises(TransientError, match="ValueError"):
            _run(lambda: ahttp_send("POST", server.url + "/x", headers={"X-Name": "a\r\nX-Injected: 1"}))
        assert server.calls == []


def test_a_compressed_answer_is_decoded_as_on_the_blocking_client():
    """The session offers gzip and leaves decoding to httpx's answer model, as the blocking client does."""
    with answering(200, "application/json", gzip.compress(b'{"sid": "SMgz"}'), encoding="gzip") as url:
        provider, outgoing = _sms(url.removesuffix("/x"))
        assert _run(lambda: provider.asend(outgoing)) == provider.send(outgoing) == "SMgz"


# --- TLS, and HTTP/2 for APNs ---------------------------------------------------------------------------


@dataclass
class TlsCall:
    version: str  # "1.1" or "2"
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class TlsServer:
    port: int = 0
    calls: list[TlsCall] = field(default_factory=list)


@dataclass
class Certificates:
    ca: Path
    chain: Path
    key: Path


@pytest.fixture(scope="module")
def certificates(tmp_path_factory) -> Certificates:
    """A test CA, and a certificate it signed for nudge.test only."""
    folder = tmp_path_factory.mktemp("tls")
    now = dt.datetime.now(dt.UTC)

    def certificate(subject: str, key: Any, issuer: str, signer: Any, *, ca: bool) -> x509.Certificate:
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if not ca:
            builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(subject)]), critical=False)
        return builder.sign(signer, hashes.SHA256())

    ca_key, leaf_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = certificate("Nudge test CA", ca_key, "Nudge test CA", ca_key, ca=True)
    leaf = certificate("nudge.test", leaf_key, "Nudge test CA", ca_key, ca=False)
    paths = Certificates(folder / "ca.pem", folder / "chain.pem", folder / "key.pem")
    paths.ca.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths.chain.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    paths.key.write_bytes(
        leaf_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return paths


@pytest.fixture
def trusted(monkeypatch, certificates) -> Iterator[None]:
    """The clients trust the test CA (one context per ALPN choice, as in `outbound._ssl_context`); the
    blocking clients, kept per process, are made anew with it and closed after the test."""
    contexts = {http2: ssl.create_default_context(cafile=str(certificates.ca)) for http2 in (False, True)}
    monkeypatch.setattr(outbound, "_ssl_context", lambda http2: contexts[http2])
    clients: dict[Any, Any] = {}
    monkeypatch.setattr(outbound, "_clients", clients)
    yield
    for client in clients.values():
        client.close()


@contextmanager
def tls_server(certificates: Certificates) -> Iterator[TlsServer]:
    """HTTPS on 127.0.0.1 (asyncio, in a thread) with the nudge.test certificate, offering h2 and
    http/1.1; every request answered 200 with an `apns-id` echoed (HTTP/2) or `{"sid": "SM1"}`."""
    state = TlsServer()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certificates.chain, certificates.key)
    context.set_alpn_protocols(["h2", "http/1.1"])
    loop = asyncio.new_event_loop()

    async def http2(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connection = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False, header_encoding="utf-8"))
        connection.initiate_connection()
        writer.write(connection.data_to_send())
        streams: dict[int, tuple[dict[str, str], bytearray]] = {}
        while data := await reader.read(65536):
            for event in connection.receive_data(data):
                if isinstance(event, h2.events.RequestReceived):
                    streams[event.stream_id] = (dict(event.headers), bytearray())
                elif isinstance(event, h2.events.DataReceived):
                    streams[event.stream_id][1].extend(event.data)
                    connection.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
                elif isinstance(event, h2.events.StreamEnded):
                    headers, body = streams.pop(event.stream_id)
                    state.calls.append(TlsCall("2", headers[":method"], headers[":path"], headers, bytes(body)))
                    answer = [(":status", "200"), ("apns-id", headers.get("apns-id", "")), ("content-length", "0")]
                    connection.send_headers(event.stream_id, answer, end_stream=True)
            writer.write(connection.data_to_send())
            await writer.drain()

    async def http1(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        body = b'{"sid": "SM1"}'
        while head := await reader.readuntil(b"\r\n\r\n"):
            start, *lines = head.decode().split("\r\n")
            headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines if line)}
            content = await reader.readexactly(int(headers.get("content-length", 0)))
            method, path, _ = start.split(" ")
            state.calls.append(TlsCall("1.1", method, path, headers, content))
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
            await writer.drain()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            alpn = writer.get_extra_info("ssl_object").selected_alpn_protocol()
            await (http2 if alpn == "h2" else http1)(reader, writer)
        except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
            pass
        finally:
            writer.close()

    async def main() -> asyncio.Server:
        server = await asyncio.start_server(serve, "127.0.0.1", 0, ssl=context)
        state.port = server.sockets[0].getsockname()[1]
        return server

    with served_on_a_thread(loop, main):
        yield state


def test_tls_verifies_the_certificate_and_the_host_name(dns, trusted, certificates):
    dns.update({"nudge.test": "127.0.0.1", "other.test": "127.0.0.1"})
    with tls_server(certificates) as server:
        provider, outgoing = _sms(f"https://nudge.test:{server.port}")
        assert _run(lambda: provider.asend(outgoing)) == "SM1"
        [call] = server.calls
        assert (call.version, call.path) == ("1.1", "/2010-04-01/Accounts/AC1/Messages.json")
        assert call.headers["host"] == f"nudge.test:{server.port}"
        provider, outgoing = _sms(f"https://other.test:{server.port}")  # the same server, another name
        with pytest.raises(TransientError, match="ClientConnectorCertificateError.*other.test"):
            _run(lambda: provider.asend(outgoing))
    assert len(server.calls) == 1


def test_tls_refuses_a_certificate_from_an_untrusted_authority(dns, certificates):
    dns["nudge.test"] = "127.0.0.1"
    with tls_server(certificates) as server:
        provider, outgoing = _sms(f"https://nudge.test:{server.port}")
        with pytest.raises(TransientError, match="ClientConnectorCertificateError"):
            _run(lambda: provider.asend(outgoing))
    assert server.calls == []


def test_apns_calls_go_out_over_http2_on_the_loop_and_blocking(dns, trusted, certificates):
    dns["nudge.test"] = "127.0.0.1"
    key = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    outgoing = Outgoing(
        message_id=1,
        idempotency_key="wf:1:send:7",
        workspace_id=1,
        channel="push",
        to="token-1",
        content={"title": "Hi", "body": "Your cart misses you"},
        devices=(Device(1, "token-1", "ios"),),
    )
    with tls_server(certificates) as server:
        options = {
            "team_id": "T",
            "key_id": "K",
            "bundle_id": "app.nudge",
            "base_url": f"https://nudge.test:{server.port}",
        }
        apns = ApnsProvider(options, key.decode())
        on_the_loop = _run(lambda: apns.asend(outgoing))
        blocking = apns.send(outgoing)
    assert on_the_loop == blocking != ""
    assert [(c.version, c.method, c.path) for c in server.calls] == 2 * [("2", "POST", "/3/device/token-1")]
    for call in server.calls:
        assert (call.headers[":authority"], call.headers["apns-topic"]) == (f"nudge.test:{server.port}", "app.nudge")
        assert call.headers["apns-id"] == on_the_loop
