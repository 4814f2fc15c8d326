"""send: messages/s from the outbox to a provider, against the provider's client alone.

SMS: queued outbox rows (a transactional SMS template with Liquid, one per profile) delivered by
`messaging.delivery.messages_deliver` in this process — claim with SKIP LOCKED, consent and address
checks, render, send on the event loop (NUDGE_SEND_CONCURRENCY in flight), record — to a Twilio-style
sink (`bench/sink.py`, its own process, keep-alive).
Ceiling: a bare `httpx.AsyncClient` on the transport delivery uses (the outbound address check, its
HTTP/1.1 pool) sending the same POSTs to the same sink, as many in flight, no database, no rendering.
The notes also give httpx's own pool at the same concurrency (httpcore's AsyncConnectionPool, which
`messaging.outbound` replaces because it is slower than all of Nudge's own work per message).
Email: the same through the SMTP provider (on delivery's threads) to a local aiosmtpd sink process;
ceiling: Django's SMTP backend sending the same emails one after the other (a connection per message,
as the provider does).
A second SMS row sends to a sink that answers after PROVIDER_MS, as a provider's API does: there the
figure is how many calls one process keeps in flight (16 threads before the event loop: ≤ 320/s).
What bounds it (py-spy over 8,000 SMS to the instant sink): one core's Python, ~740 µs of CPU a
message. The provider call is ~77 % of it, nearly all httpx: the client building the request and its
cookie jar (~17 %), httpcore and h11 writing it and reading the answer (~50 %, of which the socket
writes ~7 % and the anyio locks httpcore takes per request ~8 %), the client's send wrappers and the
response model (~10 %); the ceiling pays the same. Nudge's own ~20 %: the claim (ORM rows of messages,
enrollments, locked profiles: ~8 %), rendering with the message context and its unsubscribe token
(~9 %), the results statement (~2 %); a task per call ~4 %. The SMTP figure pays a connection per email.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import urllib.request
from datetime import UTC, datetime

import psycopg

from bench.harness import (
    DB_DSN,
    ROOT,
    Row,
    bench_env,
    database_reset,
    free_port,
    manage,
    profiles_copy,
    report,
    tables_analyze,
)

SCALES = {"small": (2_000, 300), "full": (20_000, 2_000)}  # (SMS per sink, emails)
PROVIDER_MS = 50  # the slow sink's answer time: a provider API's round trip


def _populate(workspace_id: int, count: int, channel: str, template: str) -> None:
    now = datetime.now(UTC)
    with psycopg.connect(DB_DSN) as conn:
        first = profiles_copy(conn, workspace_id, count, addresses=True)
        with conn.cursor().copy(
            "COPY messaging_message (workspace_id, profile_id, node, channel, template, payload, idempotency_key, "
            "status, status_reason, attempts, category, send_after, provider_message_id, rendered, created_at, "
            "updated_at) FROM STDIN"
        ) as copy:
            for i in range(count):
                pk = first + i
                copy.write_row(
                    (
                        workspace_id,
                        pk,
                        "",
                        channel,
                        template,
                        '{"event": {"code": "4711"}}',
                        f"bench:{channel}:{pk}",
                        "queued",
                        "",
                        0,
                        "",
                        now,
                        "",
                        "{}",
                        now,
                        now,
                    )
                )
    tables_analyze("activities_profile", "activities_identity", "messaging_message")


def _sent(channel: str) -> int:
    with psycopg.connect(DB_DSN) as conn:
        row = conn.execute(
            "SELECT count(*) FROM messaging_message WHERE channel = %s AND status = 'sent'", (channel,)
        ).fetchone()
        return int(row[0]) if row else 0


async def _posts(count: int, sink: str, own_pool: bool) -> float:
    """The delivery's requests from a bare async client, as many in flight as delivery has; requests/s."""
    import httpx
    from django.conf import settings

    from messaging import outbound

    concurrency = settings.NUDGE_SEND_CONCURRENCY
    if own_pool:
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        client = httpx.AsyncClient(limits=limits, follow_redirects=False, trust_env=False)
    else:
        client = outbound.async_http_client()
    limit = asyncio.Semaphore(concurrency)

    async def post(i: int) -> None:
        async with limit:
            response = await client.post(
                f"{sink}/2010-04-01/Accounts/AC1/Messages.json",
                data={"To": f"+1555{i:07d}", "From": "+15550000", "Body": f"Hi User {i}, your code is 4711"},
                auth=("AC1", "token"),
                headers={"I-Twilio-Idempotency-Token": f"ceiling:{own_pool}:{i}"},
                timeout=10.0,
            )
            response.raise_for_status()
            response.json()

    try:
        started = time.perf_counter()
        await asyncio.gather(*(post(i) for i in range(count)))
        return count / (time.perf_counter() - started)
    finally:
        if own_pool:
            await client.aclose()
        else:
            await outbound.async_clients_close()


def _sms(workspace_id: int, count: int, sink: str) -> tuple[float, float]:
    """`count` SMS delivered to `sink` (the workspace's SMS provider points there), and the bare client's
    rate for as many of the same requests; messages/s each."""
    from messaging.delivery import messages_deliver
    from messaging.models import ProviderConfig, Template

    Template.objects.get_or_create(
        workspace_id=workspace_id,
        name="code",
        channel="sms",
        defaults={
            "category": "transactional",
            "content": {"body": "Hi {{ profile.first_name }}, your code is {{ event.code }}"},
        },
    )
    ProviderConfig.objects.update_or_create(
        workspace_id=workspace_id,
        channel="sms",
        defaults={
            "kind": "twilio",
            "secret": "token",
            "settings": {"base_url": sink, "account_sid": "AC1", "from_number": "+15550000"},
        },
    )
    earlier = _sent("sms")
    _populate(workspace_id, count, "sms", "code")
    started = time.perf_counter()
    sent = messages_deliver(batch_size=500, max_batches=1_000_000, budget_seconds=float("inf"))
    rate = sent / (time.perf_counter() - started)
    assert sent == count == _sent("sms") - earlier, f"sent {sent} of {count}"
    return rate, asyncio.run(_posts(count, sink, own_pool=False))


def _email(workspace_id: int, count: int, port: int) -> tuple[float, float]:
    from django.core.mail import EmailMultiAlternatives, get_connection

    from messaging.delivery import messages_deliver
    from messaging.models import ProviderConfig, Template

    Template.objects.create(
        workspace_id=workspace_id,
        name="welcome",
        channel="email",
        category="transactional",
        content={
            "subject": "Welcome, {{ profile.first_name }}",
            "html": "<p>Hi {{ profile.first_name }}</p>",
            "text": "Hi",
        },
    )
    ProviderConfig.objects.create(
        workspace_id=workspace_id, channel="email", kind="smtp", settings={"host": "127.0.0.1", "port": port}
    )
    _populate(workspace_id, count, "email", "welcome")
    started = time.perf_counter()
    sent = messages_deliver(batch_size=500, max_batches=1_000_000, budget_seconds=float("inf"))
    rate = sent / (time.perf_counter() - started)
    assert sent == count == _sent("email"), f"sent {sent} of {count}"
    started = time.perf_counter()
    for i in range(count):
        connection = get_connection("django.core.mail.backends.smtp.EmailBackend", host="127.0.0.1", port=port)
        mail = EmailMultiAlternatives(
            "Welcome, User", "Hi", "nudge@localhost", [f"u{i}@bench.test"], connection=connection
        )
        mail.attach_alternative("<p>Hi User</p>", "text/html")
        mail.send()
    return rate, count / (time.perf_counter() - started)


def run(scale: str) -> None:
    os.environ.update(bench_env())
    import django

    django.setup()
    from django.db import connection

    sms_count, email_count = SCALES[scale]
    database_reset()
    created = json.loads(manage("workspace_create", "Bench", "--owner", "bench@example.com"))
    connection.close()
    http_port, slow_port, smtp_port = free_port(), free_port(), free_port()
    sink = subprocess.Popen([sys.executable, "-m", "bench.sink", str(http_port)], cwd=ROOT)
    slow = subprocess.Popen([sys.executable, "-m", "bench.sink", str(slow_port), str(PROVIDER_MS)], cwd=ROOT)
    smtp = subprocess.Popen(
        [sys.executable, "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{smtp_port}", "-c", "aiosmtpd.handlers.Sink"],
        cwd=ROOT,
    )
    base, slow_base = f"http://127.0.0.1:{http_port}", f"http://127.0.0.1:{slow_port}"
    try:
        time.sleep(1.0)
        sms_rate, sms_ceiling = _sms(created["workspace_id"], sms_count, base)
        httpx_pool = asyncio.run(_posts(sms_count, base, own_pool=True))
        slow_rate, slow_ceiling = _sms(created["workspace_id"], sms_count, slow_base)
        email_rate, email_ceiling = _email(created["workspace_id"], email_count, smtp_port)
        served = [int(urllib.request.urlopen(f"{url}/count").read()) for url in (base, slow_base)]
    finally:
        for process in (sink, slow, smtp):
            process.terminate()
    rows = [
        Row("SMS messages/s, outbox → HTTP sink", sms_rate, sms_ceiling, "≥ 2,000/s"),
        Row(f"SMS messages/s, sink answering in {PROVIDER_MS} ms", slow_rate, slow_ceiling, "—"),
        Row("emails/s, outbox → local SMTP server", email_rate, email_ceiling, "—"),
    ]
    from django.conf import settings

    concurrency = settings.NUDGE_SEND_CONCURRENCY
    notes = [
        f"{sms_count:,} SMS per sink and {email_count:,} emails queued, every one sent exactly once (checked: "
        f"rows 'sent', the sinks served {served[0]:,} and {served[1]:,} requests = outbox + bare clients).",
        f"SMS ceilings: a bare httpx.AsyncClient on delivery's transport, {concurrency} in flight "
        f"(NUDGE_SEND_CONCURRENCY), the same requests to the same sink; httpx's own pool at the same "
        f"concurrency: {httpx_pool:,.0f}/s.",
        f"the {PROVIDER_MS} ms sink stands for a provider's round trip: at most {concurrency} / "
        f"{PROVIDER_MS} ms = {concurrency * 1000 // PROVIDER_MS:,}/s in flight.",
        "email ceiling: Django's SMTP backend alone, one email after the other.",
        "one delivery process; workers scale it out (claims skip each other's rows).",
    ]
    assert served == [3 * sms_count, 2 * sms_count], f"the sinks served {served}"
    report("send", scale, rows, notes)
