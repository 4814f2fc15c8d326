"""Delivery's provider calls on one event loop (httpx's async client): the outbound policy holds for the
async client as for the blocking one (loopback, private and metadata addresses refused at the
connection, with a real server listening there to prove nothing reached it); each HTTP provider's
blocking and async sends make the same requests; one process has many calls in flight at once, never
more than NUDGE_SEND_CONCURRENCY; the async pool keeps connections alive and replaces one the server
hung up; and a worker killed with many calls in flight still delivers each message exactly once."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import httpx
import pytest
import time_machine
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from django.utils import timezone

from activities.models import Profile
from messaging import outbound
from messaging.delivery import messages_deliver, messages_recover
from messaging.models import Message, MessageStatus
from messaging.outbound import OutboundRefused
from messaging.providers.base import Device, HttpProvider, Outgoing
from messaging.providers.push import ApnsProvider, FcmProvider
from messaging.providers.sms import TwilioProvider
from messaging.providers.webhook import WebhookProvider
from messaging.tasks import deliver
from tests.conftest import ROOT, server_env
from tests.messaging.helpers import provider, sms_queued, template
from tests.messaging.servers import Call, ProviderServer, keepalive_server, provider_server, smtp_server

T = TypeVar("T")


def _run(make: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine on a loop of its own, closing that loop's clients after it (as delivery does). On
    a thread of its own: while the panel's browser tests hold Playwright's loop in the main thread, no
    other loop may run there."""

    async def main() -> T:
        try:
            return await make()
        finally:
            await outbound.async_clients_close()

    with ThreadPoolExecutor(max_workers=1) as thread:
        return thread.submit(lambda: asyncio.run(main())).result()


def _post(url: str, *, allow_private: bool = False) -> outbound.Answer | httpx.Response:
    return _run(lambda: outbound.async_http_client(allow_private=allow_private).post(url, content=b"{}"))


# --- The outbound policy on the async client ------------------------------------------------------------

# (where a real server listens, how the URL names it, what the refusal says)
REFUSED = {
    "127.0.0.1": ("127.0.0.1", "127.0.0.1", "refused: 127.0.0.1 is a loopback address"),
    "localhost": ("127.0.0.1", "localhost", "refused: localhost resolves to 127.0.0.1, which is a loopback address"),
    "::1": ("::1", "[::1]", "refused: ::1 is a loopback address"),
    "::ffff:127.0.0.1": ("127.0.0.1", "[::ffff:127.0.0.1]", "refused: ::ffff:127.0.0.1 is a loopback address"),
    "10.0.0.1": (None, "10.0.0.1", "refused: 10.0.0.1 is a private address"),
    "169.254.169.254": (None, "169.254.169.254", "refused: 169.254.169.254 is a cloud metadata address"),
}


@pytest.mark.parametrize("target", REFUSED)
def test_the_async_client_refuses_non_public_addresses(settings, target):
    settings.NUDGE_OUTBOUND_ALLOW = []  # as deployed (the test settings allow loopback for the servers)
    listen, host, refused = REFUSED[target]
    if listen is None:  # nothing could listen there; the refusal comes before any connection attempt
        with pytest.raises(OutboundRefused, match=refused):
            _post(f"http://{host}:80/hook")
        return
    with provider_server(host=listen) as server:
        port = server.url.rsplit(":", 1)[1]
        with pytest.raises(OutboundRefused, match=refused):
            _post(f"http://{host}:{port}/hook")
    assert server.calls == []


def test_the_async_client_reaches_an_allowed_address(settings):
    settings.NUDGE_OUTBOUND_ALLOW = ["127.0.0.2/32"]
    with provider_server(host="127.0.0.2") as allowed, provider_server() as other:
        assert _post(allowed.url + "/hook").status_code == 200
        with pytest.raises(OutboundRefused, match="127.0.0.1 is a loopback address"):
            _post(other.url + "/hook")
    assert [c.path for c in allowed.calls] == ["/hook"]
    assert other.calls == []


def test_private_webhooks_reach_loopback_on_the_async_client_never_metadata(settings):
    settings.NUDGE_OUTBOUND_ALLOW = []
    with provider_server() as server:
        assert _post(server.url + "/hook", allow_private=True).status_code == 200
    assert len(server.calls) == 1
    with pytest.raises(OutboundRefused, match="100.100.100.200 is a cloud metadata address"):
        _post("http://100.100.100.200/latest/meta-data", allow_private=True)


def test_the_async_client_resolves_a_name_once_and_connects_to_the_checked_address(settings, monkeypatch):
    """The attack: a name that answers with an allowed address for the check and loopback after it."""
    settings.NUDGE_OUTBOUND_ALLOW = ["127.0.0.2/32"]
    real, asked = outbound.socket.getaddrinfo, []

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host != "rebind.test":
            return real(host, port, *args, **kwargs)
        asked.append(host)
        return real("127.0.0.2" if len(asked) == 1 else "127.0.0.1", port, *args, **kwargs)

    monkeypatch.setattr(outbound.socket, "getaddrinfo", getaddrinfo)
    with provider_server(host="127.0.0.2") as checked:
        port = int(checked.url.rsplit(":", 1)[1])
        with provider_server(port=port) as rebound:
            assert _post(f"http://rebind.test:{port}/hook").status_code == 200
    assert asked == ["rebind.test"]
    assert rebound.calls == []
    [call] = checked.calls
    assert call.headers["Host"] == f"rebind.test:{port}"


# --- Blocking and async sends make the same requests -----------------------------------------------------


def _pem(key: Any) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def _twilio(url: str) -> HttpProvider:
    return TwilioProvider({"base_url": url, "account_sid": "AC1", "from_number": "+15550001"}, "auth-token")


def _webhook(url: str) -> HttpProvider:
    return WebhookProvider({}, "")


def _fcm(url: str) -> HttpProvider:
    key = _pem(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    account = {"client_email": f"same-{time.monotonic_ns()}@demo.iam", "private_key": key, "token_uri": url + "/token"}
    return FcmProvider({"project_id": "demo", "base_url": url}, json.dumps(account))


def _apns(url: str) -> HttpProvider:
    key = _pem(ec.generate_private_key(ec.SECP256R1()))
    return ApnsProvider({"team_id": "T", "key_id": "K", "bundle_id": "app.nudge", "base_url": url}, key)


def _reply(call: Call) -> bytes:
    return b'{"access_token": "ya29.local", "expires_in": 3600}' if call.path == "/token" else b'{"sid": "SM1"}'


@pytest.mark.parametrize("make", [_twilio, _webhook, _fcm, _apns], ids=["twilio", "webhook", "fcm", "apns"])
def test_blocking_and_async_sends_make_the_same_requests(make):
    with provider_server(reply=_reply) as server:
        sender = make(server.url)
        outgoing = Outgoing(
            message_id=1,
            idempotency_key="wf:1:send:7",
            workspace_id=1,
            channel="sms",
            to="+905551112233",
            content={
                "body": "Your code is 4711",
                "title": "Hi",
                "url": server.url + "/hook?x=1",
                "headers": {"X-Shop": "acme"},
            },
            devices=(Device(1, "token-1", "ios"), Device(2, "token-2", "android")),
            allow_private=True,
        )
        with time_machine.travel(datetime(2026, 5, 4, 9, 30, tzinfo=UTC), tick=False):  # signed tokens alike
            blocking = sender.send(outgoing)
            made = len(server.calls)
            asynchronous = _run(lambda: sender.asend(outgoing))
    assert asynchronous == blocking
    sent_blocking, sent_async = server.calls[:made], server.calls[made:]
    assert sent_async  # FCM's token was fetched once, by the blocking send, and kept
    for one, other in zip(sent_blocking[-len(sent_async) :], sent_async, strict=True):
        assert (one.method, one.path, one.body) == (other.method, other.path, other.body)
        assert _signed(one.headers) == _signed(other.headers)


def _signed(headers: httpx.Headers) -> dict[str, str]:
    """The headers, a bearer JWT by what it signs (an ES256 signature differs on every signing)."""
    plain = dict(headers)
    if plain.get("authorization", "").startswith("bearer ey"):
        plain["authorization"] = plain["authorization"].rpartition(".")[0]
    return plain


# --- Many in flight, bounded ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_many_calls_are_in_flight_at_once_in_one_process(acme, settings):
    """Each request is answered only once 40 are open at the same time: more than delivery has threads
    (16), so only calls in flight together on the event loop get through."""
    settings.NUDGE_SEND_CONCURRENCY = 40
    together = threading.Barrier(40, timeout=20)

    def reply(call: Call) -> bytes:
        together.wait()
        return b'{"sid": "SM1"}'

    with provider_server(reply=reply) as server:
        messages = sms_queued(acme, server.url, 40)
        assert messages_deliver() == 40
    assert {m.status for m in Message.objects.filter(pk__in=[m.pk for m in messages])} == {MessageStatus.SENT}
    assert len(server.delivered) == 40


@pytest.mark.django_db
def test_no_more_calls_are_in_flight_than_the_setting(acme, settings):
    """The server holds every request; once five are open, no sixth comes while they are held."""
    settings.NUDGE_SEND_CONCURRENCY = 5
    seen: list[int] = []

    def watch(server: ProviderServer) -> None:
        deadline = time.monotonic() + 10
        while len(server.calls) < 5 and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.5)  # a sixth call, if one were let through, arrives in well under this
        seen.append(len(server.calls))
        server.release.set()

    with provider_server(hold=True) as server:
        sms_queued(acme, server.url, 20)
        watcher = threading.Thread(target=watch, args=(server,))
        watcher.start()
        assert messages_deliver() == 20
        watcher.join()
    assert seen == [5]
    assert len(server.delivered) == 20


@pytest.mark.django_db
def test_email_on_threads_and_sms_on_the_loop_go_out_in_one_batch(acme):
    with provider_server() as api, smtp_server() as mailbox:
        messages = sms_queued(acme, api.url, 3)
        provider(acme, "email", "smtp", host="127.0.0.1", port=mailbox.port)
        template(acme, "hello", "email", {"subject": "Hi", "text": "Hello"}, "transactional")
        Profile.objects.filter(pk=messages[0].profile_id).update(email="kim@example.com")
        Message.objects.create(
            workspace=acme.workspace,
            profile=messages[0].profile,
            channel="email",
            template="hello",
            idempotency_key="e",
        )
        assert messages_deliver() == 4
    assert len(api.delivered) == 3
    assert len(mailbox.delivered) == 1


# --- The async pool -------------------------------------------------------------------------------------


def test_the_async_client_keeps_connections_alive_as_many_as_in_flight():
    async def requests(url: str) -> None:
        client = outbound.async_http_client()
        for _ in range(20):  # one after the other: one connection
            (await client.post(url, content=b"{}")).raise_for_status()
        for _ in range(3):  # ten at a time: ten connections, the same ones each time
            for response in await asyncio.gather(*(client.post(url, content=b"{}") for _ in range(10))):
                response.raise_for_status()

    with keepalive_server() as server:
        _run(lambda: requests(server.url + "/x"))
        assert (server.requests, server.connections) == (50, 10)
        deadline = time.monotonic() + 10
        while server.open and time.monotonic() < deadline:  # closed with the loop's clients
            time.sleep(0.01)
        assert server.open == 0


def test_a_connection_the_server_hung_up_is_replaced_not_reused():
    async def requests(url: str, hung_up: threading.Event) -> None:
        client = outbound.async_http_client()
        (await client.post(url, content=b"{}")).raise_for_status()
        assert await asyncio.to_thread(hung_up.wait, 10)  # the server closed the idle connection
        # ... and its FIN reaches this loop: a request racing the FIN meets a reset, as it would with any
        # client (what is tested is that a connection seen closed is not reused).
        await asyncio.sleep(0.1)
        (await client.post(url, content=b"{}")).raise_for_status()

    with keepalive_server(idle_close=0.05) as server:
        _run(lambda: requests(server.url + "/x", server.hung_up))
        assert (server.requests, server.connections) == (2, 2)


# --- On a real worker ------------------------------------------------------------------------------------


@pytest.mark.slow
def test_the_deliver_task_sends_on_a_real_celery_worker(acme, celery_worker_process):
    """The task's event loop inside a worker process, its batch as large as the concurrency."""
    with provider_server() as server:
        messages = sms_queued(acme, server.url, 30)
        deliver.delay()
        deadline = time.monotonic() + 60
        while Message.objects.filter(status=MessageStatus.SENT).count() < 30:
            assert time.monotonic() < deadline and celery_worker_process.poll() is None, "not all were sent"
            time.sleep(0.1)
    assert sorted(server.delivered) == sorted(m.idempotency_key for m in messages)


# --- Exactly once, with many in flight -------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_killed_with_many_calls_in_flight_each_message_is_delivered_exactly_once(acme):
    """The provider has all 20 requests (held open) when the worker is killed; after the lease each is
    sent again with its key, and each message is delivered once."""
    with provider_server(hold=True) as server:
        messages = sms_queued(acme, server.url, 20)
        worker = subprocess.Popen(
            [
                sys.executable,
                "manage.py",
                "shell",
                "-c",
                "from messaging.delivery import messages_deliver; messages_deliver()",
            ],
            cwd=ROOT,
            env=server_env(),
            stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while len(server.calls) < 20:
            assert time.monotonic() < deadline and worker.poll() is None, (
                f"{len(server.calls)} calls reached the server"
            )
            time.sleep(0.05)
        worker.send_signal(signal.SIGKILL)
        worker.wait(10)
        server.release.set()
        assert set(Message.objects.values_list("status", flat=True)) == {MessageStatus.SENDING}
        later = timezone.now() + timedelta(seconds=600)
        assert messages_recover(now=later) == 20
        assert messages_deliver(now=later) == 20
    assert set(Message.objects.values_list("status", flat=True)) == {MessageStatus.SENT}
    keys = [call.key for call in server.calls]
    assert sorted(keys) == sorted(2 * [m.idempotency_key for m in messages])  # every call repeated once …
    assert len(server.delivered) == 20  # … every message delivered once
