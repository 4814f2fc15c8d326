"""send: messages/s from the outbox to a provider, against the provider's client alone.

SMS: queued outbox rows (a transactional SMS template with Liquid, one per profile) delivered by
`messaging.delivery.messages_deliver` in this process — claim with SKIP LOCKED, consent and address
checks, render, send on the event loop (NUDGE_SEND_CONCURRENCY in flight), record — to a Twilio-style
sink (`bench/sink.py`, its own process, keep-alive).
Ceiling: a bare aiohttp session — the library delivery's session is built on, with its defaults, no
address check — sending the same POSTs to the same sink, as many in flight and as many connections, no
database, no rendering. Delivery and the ceiling alternate, three rounds of a third of the messages
each (both start cold each round: a run's loop and its sessions are its own), and each figure is the
median of its rounds (the machine's speed drifts within minutes: one round of each had given ratios of
0.53 and 0.75 in two runs minutes apart). The notes also give delivery's own session alone
(`outbound.async_http_client`: addresses checked at connect time, bodies encoded and answers shaped as
httpx's), which tells the client's cost from the rest of delivery's.
Email: the same through the SMTP provider (on delivery's threads) to a local aiosmtpd sink process;
ceiling: Django's SMTP backend sending the same emails one after the other (a connection per message,
as the provider does).
A second SMS row sends to a sink that answers after PROVIDER_MS, as a provider's API does: there the
figure is how many calls one process keeps in flight (at most NUDGE_SEND_CONCURRENCY / PROVIDER_MS).
What bounds it (thread CPU per message, over rounds of 4,000 SMS to the instant sink at small scale,
2026-12-01 late, on a shared machine): a delivery run's batches overlap — its event loop, on a thread of
its own, sends one batch while the run's thread records the one before and claims the one after — so the
process no longer idles on PostgreSQL or on a batch's last calls. The loop thread spends ~210–300 µs of
CPU a message, what the bare session spends (~210–340 µs in the same rounds): about half aiohttp's
request handling, a quarter the event loop, a quarter Nudge's layers around a call (the address policy,
the providers' exchange and error wrappers; answers read without httpx's model, form bodies quoted in
one pass). The run's thread adds ~50–70 µs: the claim (rows, JSON fields converted), rendering (~15 µs;
plain `{{ a.b }}` sources without python-liquid) and the results statement (values the rows share bound
once). The two threads share the interpreter lock, and PostgreSQL and the sink run on the same two
cores.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Awaitable, Callable
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
ROUNDS = 3  # delivery and its ceiling alternate: the machine's speed drifts by up to half within minutes


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


def _form(i: int) -> dict[str, str]:
    return {"To": f"+1555{i:07d}", "From": "+15550000", "Body": f"Hi User {i}, your code is 4711"}


async def _in_flight(count: int, post: Callable[[int], Awaitable[None]]) -> float:
    """`count` calls of `post`, as many in flight as delivery keeps (NUDGE_SEND_CONCURRENCY); calls/s."""
    from django.conf import settings

    limit = asyncio.Semaphore(settings.NUDGE_SEND_CONCURRENCY)

    async def bounded(i: int) -> None:
        async with limit:
            await post(i)

    started = time.perf_counter()
    await asyncio.gather(*(bounded(i) for i in range(count)))
    return count / (time.perf_counter() - started)


async def _bare_posts(count: int, sink: str) -> float:
    """The ceiling: the delivery's requests from a plain aiohttp session (the library delivery's session is
    built on, with its defaults and nothing checked), as many in flight and connections; requests/s."""
    import aiohttp
    from django.conf import settings

    url, basic = f"{sink}/2010-04-01/Accounts/AC1/Messages.json", aiohttp.encode_basic_auth("AC1", "token")
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=10.0, sock_read=10.0)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=settings.NUDGE_SEND_CONCURRENCY)) as session:

        async def post(i: int) -> None:
            headers = {"Authorization": basic, "I-Twilio-Idempotency-Token": f"ceiling:bare:{i}"}
            async with session.post(url, data=_form(i), headers=headers, allow_redirects=False, timeout=timeout) as r:
                r.raise_for_status()
                await r.json()

        return await _in_flight(count, post)


async def _session_posts(count: int, sink: str) -> float:
    """The same requests from delivery's own session alone (`messaging.outbound.async_http_client`:
    addresses checked, httpx-shaped answers), without the database or rendering; requests/s."""
    from messaging import outbound

    url = f"{sink}/2010-04-01/Accounts/AC1/Messages.json"
    client = outbound.async_http_client()

    async def post(i: int) -> None:
        headers = {"I-Twilio-Idempotency-Token": f"ceiling:session:{i}"}
        response = await client.post(url, data=_form(i), auth=("AC1", "token"), headers=headers, timeout=10.0)
        response.raise_for_status()
        response.json()

    try:
        return await _in_flight(count, post)
    finally:
        await outbound.async_clients_close()


def _sms(workspace_id: int, count: int, sink: str) -> tuple[float, float]:
    """`count` SMS delivered to `sink` (the workspace's SMS provider points there), and the bare client's
    rate for as many of the same requests; messages/s each, the medians of ROUNDS rounds that alternate
    the two (a third of the messages each)."""
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
    rates, ceilings = [], []
    for size in [count // ROUNDS + (i < count % ROUNDS) for i in range(ROUNDS)]:
        earlier = _sent("sms")
        _populate(workspace_id, size, "sms", "code")
        started = time.perf_counter()
        sent = messages_deliver(batch_size=500, max_batches=1_000_000, budget_seconds=float("inf"))
        rates.append(sent / (time.perf_counter() - started))
        assert sent == size == _sent("sms") - earlier, f"sent {sent} of {size}"
        ceilings.append(asyncio.run(_bare_posts(size, sink)))
    return statistics.median(rates), statistics.median(ceilings)


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
        session_alone = asyncio.run(_session_posts(sms_count, base))
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
        f"SMS figures: the medians of {ROUNDS} rounds, delivery and its ceilings alternating, "
        f"{sms_count // ROUNDS:,} SMS a round.",
        f"{sms_count:,} SMS per sink and {email_count:,} emails queued, every one sent exactly once (checked: "
        f"rows 'sent', the sinks served {served[0]:,} and {served[1]:,} requests = outbox + bare clients).",
        f"SMS ceilings: a bare aiohttp session (the library delivery's session is built on), {concurrency} in "
        f"flight (NUDGE_SEND_CONCURRENCY), the same requests to the same sink; delivery's own session alone "
        f"(addresses checked, httpx-shaped answers, no database): {session_alone:,.0f}/s.",
        f"the {PROVIDER_MS} ms sink stands for a provider's round trip: at most {concurrency} / "
        f"{PROVIDER_MS} ms = {concurrency * 1000 // PROVIDER_MS:,}/s in flight.",
        "email ceiling: Django's SMTP backend alone, one email after the other.",
        "one delivery process; workers scale it out (claims skip each other's rows).",
    ]
    assert served == [3 * sms_count, 2 * sms_count], f"the sinks served {served}"
    report("send", scale, rows, notes)
