"""Delivery: queued outbox rows become sends, each at most once per step, none lost.

1. **Claim** (one short transaction): due `queued` rows, oldest first, `SKIP LOCKED`, bounded. Each passes
   the rules first (consent, an address, quiet hours, frequency caps — with the profile row locked so two
   workers cannot both take the last slot of a cap); suppressed and deferred rows are settled there. The
   rest become `sending` with a lease and one more attempt, and count against caps from that moment.
2. **Send** (no transaction held): render the template for the profile's locale and hand it to the
   workspace's provider with the message's idempotency key. The calls of a batch are in flight together
   on one event loop per delivery run, on a thread of its own, while the run records the batch before
   and claims the one after (the ORM never runs on the loop's thread). HTTP providers (SMS, push,
   webhooks) send through the loop's aiohttp session (HTTP/2 for APNs through httpx's async client), at
   most NUDGE_SEND_CONCURRENCY at once; providers without an async send (SMTP and ESPs through Django's
   email backends, web push through requests, the file outbox) run on a few threads.
3. **Record**: `sent`, or back to `queued` after an exponential backoff with jitter (transient), or
   `failed` with the provider's reason (permanent, or attempts exhausted). Guarded on `sending`, so a
   late worker cannot overwrite a newer outcome.

A worker that dies between 1 and 3 leaves its rows `sending`; when the lease runs out `messages_recover`
queues them again, and the resend carries the same idempotency key, which providers (and the test
servers standing in for them) dedupe on. So a crash may repeat a call, never a delivered message.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import random
import threading
import time
from collections import defaultdict, deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from activities.models import Profile, PushDevice
from config.sql import update_columns
from journeys.live import document_for
from messaging import outbound
from messaging.channels import render_content, variant_for
from messaging.counters import messages_counted, sends_counted
from messaging.models import Message, MessageStatus, MessagingPolicy, Template
from messaging.pacing import caps_parse, opt_out, quiet_until, zone_of
from messaging.providers.base import (
    AsyncProvider,
    Device,
    Outgoing,
    PermanentError,
    Provider,
    TransientError,
    provider_for,
    reason_clean,
)
from messaging.rendering import RenderError
from messaging.tracking import liquid_context, mentions_unsubscribe, tracked_bodies, tracked_headers, unsubscribe_url

logger = logging.getLogger(__name__)

COUNTED = (
    MessageStatus.SENDING,
    MessageStatus.SENT,
    MessageStatus.DELIVERED,
    MessageStatus.OPENED,
    MessageStatus.CLICKED,
)


def messages_deliver(
    *, now: datetime | None = None, batch_size: int = 100, max_batches: int = 20, budget_seconds: float = 20.0
) -> int:
    """Deliver what is due, batch after batch, claiming no new batch once `budget_seconds` are spent (a
    task's time limit must never cut a batch between its sends and its outcomes); returns how many were
    sent. Batches overlap: while one batch's calls are in flight on the run's loop (its own thread), this
    thread records the batch before it and claims the one after, so the calls never wait on the database
    nor the database on the calls. A batch is recorded only once all its calls are answered."""
    started = time.monotonic()
    sent = 0
    pending: deque[_Batch] = deque()  # sending or sent, not yet recorded; oldest first
    with _heap_frozen(), _SendingLoop() as loop:
        try:
            claimed = messages_claim(now=now or timezone.now(), batch_size=batch_size)
            claims = 1
            while claimed or pending:
                if claimed:
                    pending.append(_Batch(claimed, loop))
                if len(pending) > 1 or not claimed:
                    # Recorded, then let go: an error while it is recorded (a time limit in the wait
                    # for its calls) leaves it for the `finally` to record.
                    sent += pending[0].record()
                    pending.popleft()
                more = len(claimed) == batch_size and claims < max_batches
                if more and time.monotonic() - started <= budget_seconds:
                    claimed = messages_claim(now=now or timezone.now(), batch_size=batch_size)
                    claims += 1
                else:
                    claimed = []
        finally:
            for batch in pending:  # an error on the way: what was sent is still recorded
                batch.record_after_error()
    return sent


@contextmanager
def _heap_frozen() -> Iterator[None]:
    """The objects alive when a delivery run starts (Django, the apps, the libraries: most of the heap)
    are left out of the cyclic collector's passes until it ends. Sending allocates fast, so the
    collector's full passes came every ~1,000 messages and each walked that whole heap (~90 ms): a third
    of delivery's CPU. Unfrozen afterwards, so cycles among them are still collected then; left alone
    when something else froze the heap (its freeze is not ours to undo)."""
    if gc.get_freeze_count():
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def messages_recover(*, now: datetime | None = None) -> int:
    """Rows whose sender died (lease over) are queued again; their next attempt reuses the key."""
    return Message.objects.filter(status=MessageStatus.SENDING, lease_until__lt=now or timezone.now()).update(
        status=MessageStatus.QUEUED, lease_until=None, status_reason="resent after an interrupted attempt"
    )


# --- 1. Claim -------------------------------------------------------------------------------------------
#
# Read as rows (values_list, no model objects): a batch of 500 built ~5 model instances a message
# (Message, its enrollment and journey, Profile, Workspace), most of the claim's CPU.


@dataclass(slots=True)
class MessageRow:
    """A claimed outbox row: what the rules, the send and the record read and write of it."""

    pk: int
    workspace_id: int
    profile_id: int
    enrollment_id: int | None
    node: str
    channel: str
    template: str
    payload: dict[str, Any]
    idempotency_key: str
    status: str
    status_reason: str
    attempts: int
    category: str
    send_after: datetime | None
    lease_until: datetime | None
    sent_at: datetime | None
    updated_at: datetime
    journey_id: int | None  # the enrollment's, for the Liquid context
    journey_name: str | None
    version_id: int | None  # the enrollment's: its document says whether quiet hours and caps apply


MESSAGE_FIELDS = (
    "pk",
    "workspace_id",
    "profile_id",
    "enrollment_id",
    "node",
    "channel",
    "template",
    "payload",
    "idempotency_key",
    "status",
    "status_reason",
    "attempts",
    "category",
    "send_after",
    "lease_until",
    "sent_at",
    "updated_at",
    "enrollment__journey_id",
    "enrollment__journey__name",
    "enrollment__version_id",
)


@dataclass(frozen=True, slots=True)
class ProfileRow:
    """The locked profile's fields that sending reads (the Liquid context, consent, addresses, zone)."""

    pk: int
    user_id: str | None
    email: str
    phone: str
    timezone: str
    locale: str
    traits: dict[str, Any]
    tags: list[str]
    consent: dict[str, Any]
    workspace_timezone: str
    allow_private_webhooks: bool


PROFILE_FIELDS = (
    "pk",
    "user_id",
    "email",
    "phone",
    "timezone",
    "locale",
    "traits",
    "tags",
    "consent",
    "workspace__timezone",
    "workspace__allow_private_webhooks",
)


@dataclass(frozen=True, slots=True)
class TemplateRow:
    content: dict[str, Any]
    variants: dict[str, Any]
    category: str
    unsubscribes: bool  # a field of its content or variants names `unsubscribe_url`


@dataclass(slots=True)
class Claimed:
    message: MessageRow
    template: TemplateRow | None
    profile: ProfileRow
    devices: tuple[Device, ...] = ()  # push and web push: the profile's newest ten of the platform


def messages_claim(*, now: datetime, batch_size: int) -> list[Claimed]:
    with transaction.atomic():
        due = Message.objects.filter(Q(send_after__isnull=True) | Q(send_after__lte=now), status=MessageStatus.QUEUED)
        due = due.order_by("send_after", "pk")
        if connection.features.has_select_for_update:
            due = due.select_for_update(skip_locked=True, of=("self",))
        messages = [MessageRow(*row) for row in due.values_list(*MESSAGE_FIELDS)[:batch_size]]
        if not messages:
            return []
        profiles = _profiles_locked({m.profile_id for m in messages})
        templates = _templates(messages)
        devices = _devices({m.profile_id for m in messages if m.channel in ("push", "web_push")})
        policies = {
            p.workspace_id: p
            for p in MessagingPolicy.objects.filter(workspace_id__in={m.workspace_id for m in messages})
        }
        claimed: list[Claimed] = []
        taken: defaultdict[int, list[MessageRow]] = defaultdict(list)  # claimed above, by profile
        held_back: list[tuple[MessageRow, str]] = []
        lease_until = now + _lease()
        for message in messages:
            template = templates.get((message.workspace_id, message.channel, message.template))
            profile = profiles.get(message.profile_id)
            mine = _devices_for(message.channel, devices.get(message.profile_id, ()))
            profile_taken = taken[message.profile_id]
            verdict = _verdict(message, template, profile, mine, policies.get(message.workspace_id), now, profile_taken)
            if verdict is None:
                message.status, message.lease_until = MessageStatus.SENDING, lease_until
                message.attempts += 1
                message.sent_at = now  # counts against caps from now on
                message.updated_at = now
                assert profile is not None
                claimed.append(Claimed(message, template, profile, mine))
                profile_taken.append(message)
            else:
                held_back.append((message, "deferred" if message.status == MessageStatus.QUEUED else message.status))
        # One upsert of the counters per transaction: several, in different orders, deadlock with a
        # concurrent claim.
        _counted(held_back)
        # The claimed rows: what differs row to row as arrays, the rest bound once.
        update_columns(
            Message._meta.db_table,
            "id",
            {"attempts": "integer", "category": "text"},
            [(c.message.pk, c.message.attempts, c.message.category) for c in claimed],
            assign={"status": MessageStatus.SENDING, "lease_until": lease_until, "sent_at": now, "updated_at": now},
        )
        update_columns(
            Message._meta.db_table,
            "id",
            CLAIM_COLUMNS,
            [(m.pk, *(getattr(m, column) for column in CLAIM_COLUMNS)) for m, _ in held_back],
        )
        return claimed


def _counted(outcomes: list[tuple[MessageRow, str]]) -> None:
    # The counters read only a message's enrollment_id and node, which rows carry as models do.
    messages_counted(cast(list[tuple[Message, str]], outcomes))


CLAIM_COLUMNS = {  # a held-back row's
    "status": "text",
    "status_reason": "text",
    "lease_until": "timestamptz",
    "attempts": "integer",
    "sent_at": "timestamptz",
    "send_after": "timestamptz",
    "category": "text",
    "updated_at": "timestamptz",
}


def _lease() -> timedelta:
    return timedelta(seconds=settings.NUDGE_SEND_LEASE_SECONDS)


def _call_margin() -> timedelta:
    """How much of its lease a call must have left to start: a slow call's worst case (connecting,
    writing and reading, each bounded by the providers' 10 s timeout), or a quarter of a short lease."""
    return min(timedelta(seconds=30), _lease() / 4)


def _profiles_locked(ids: set[int]) -> dict[int, ProfileRow]:
    rows = Profile.objects.filter(pk__any=list(ids)).order_by("pk")
    if connection.features.has_select_for_update:
        rows = rows.select_for_update(no_key=True, of=("self",))
    return {row[0]: ProfileRow(*row) for row in rows.values_list(*PROFILE_FIELDS)}


def _templates(messages: Iterable[MessageRow]) -> dict[tuple[int, str, str], TemplateRow]:
    wanted = {(m.workspace_id, m.channel, m.template) for m in messages if m.template}
    if not wanted:
        return {}
    condition = Q()
    for workspace_id, channel, name in wanted:
        condition |= Q(workspace_id=workspace_id, channel=channel, name=name)
    rows = Template.objects.filter(condition).values_list(
        "workspace_id", "channel", "name", "content", "variants", "category"
    )
    return {
        (workspace_id, channel, name): TemplateRow(
            content, variants, category, mentions_unsubscribe(content) or mentions_unsubscribe(variants)
        )
        for workspace_id, channel, name, content, variants, category in rows
    }


def _devices(profile_ids: set[int]) -> dict[int, list[Device]]:
    """Every device of these profiles, newest first, in one read."""
    if not profile_ids:
        return {}
    found: defaultdict[int, list[Device]] = defaultdict(list)
    rows = PushDevice.objects.filter(profile_id__any=list(profile_ids)).order_by("-updated_at")
    for profile_id, pk, token, platform, subscription in rows.values_list(
        "profile_id", "pk", "token", "platform", "subscription"
    ):
        found[profile_id].append(Device(pk, token, platform, subscription))
    return found


def _devices_for(channel: str, devices: Iterable[Device]) -> tuple[Device, ...]:
    """Push goes to the newest ten non-web devices, web push to the newest ten web ones."""
    if channel == "push":
        return tuple(d for d in devices if d.platform != "web")[:10]
    if channel == "web_push":
        return tuple(d for d in devices if d.platform == "web")[:10]
    return ()


def _verdict(
    message: MessageRow,
    template: TemplateRow | None,
    profile: ProfileRow | None,
    devices: tuple[Device, ...],
    policy: MessagingPolicy | None,
    now: datetime,
    taken: list[MessageRow],
) -> str | None:
    """Settle the message here (suppressed or deferred, saying why), or None to send it."""
    if profile is None:
        return _settle(message, MessageStatus.SUPPRESSED, "the profile no longer exists")
    if message.template and template is None:
        return _settle(message, MessageStatus.FAILED, f"no {message.channel} template named {message.template!r}")
    category = template.category if template else "transactional"  # a journey's webhook step is the integrator's
    message.category = category
    transactional = _transactional(policy, category)
    reason = opt_out(profile.consent or {}, message.channel, category, transactional=transactional)
    if reason:
        return _settle(message, MessageStatus.SUPPRESSED, reason)
    if not _address(message, profile, devices):
        return _settle(message, MessageStatus.SUPPRESSED, f"the profile has no {message.channel} address")
    if transactional or policy is None or message.payload.get("test"):
        return None  # receipts, test sends: now, whatever the hour or the count
    document = document_for(message.version_id) if message.version_id is not None else None
    zone = zone_of(profile.timezone, profile.workspace_timezone)
    until = quiet_until(now, zone, policy.quiet_hours_start, policy.quiet_hours_end)
    if until is not None and (document is None or document.quiet_hours):
        message.send_after = until
        return _settle(message, MessageStatus.QUEUED, f"deferred: quiet hours until {until.isoformat()}")
    caps, _ = caps_parse(policy.frequency_caps if document is None or document.frequency_caps else [])
    for cap in caps:
        if not cap.applies(message.channel, category):
            continue
        recent = Message.objects.filter(profile_id=profile.pk, sent_at__gte=cap.per.before(now), status__in=COUNTED)
        if cap.channel != "*":
            recent = recent.filter(channel=cap.channel)
        if cap.category != "*":
            recent = recent.filter(category=cap.category)
        in_batch = sum(1 for m in taken if cap.applies(m.channel, m.category))  # claimed above, not yet written
        if recent.count() + in_batch >= cap.max:
            return _settle(message, MessageStatus.SUPPRESSED, f"frequency cap: {cap}")
    return None


def _settle(message: MessageRow, status: str, reason: str) -> str:
    message.status, message.status_reason = status, reason[:500]
    message.updated_at = timezone.now()
    return reason


def _transactional(policy: MessagingPolicy | None, category: str) -> bool:
    categories = policy.categories if policy is not None else [{"slug": "transactional", "transactional": True}]
    return any(isinstance(c, dict) and c.get("slug") == category and c.get("transactional") for c in categories)


def _address(message: MessageRow, profile: ProfileRow, devices: tuple[Device, ...]) -> str:
    """Where the message goes: the profile's email or phone, its devices' tokens, or (webhook, in-app)
    nothing to look up."""
    if message.channel == "email":
        return profile.email
    if message.channel == "sms":
        return profile.phone
    if message.channel in ("push", "web_push"):
        return ",".join(d.token for d in devices)
    if message.channel == "webhook":
        return "webhook"
    return str(profile.pk)


# --- 2. Send and 3. record ------------------------------------------------------------------------------


@dataclass
class _Attempt:
    item: Claimed
    outgoing: Outgoing | None = None
    provider: Provider | None = None
    on_loop: bool = False  # the provider sends on the event loop (else on a thread)
    outcome: str = ""  # sent, permanent, transient, crashed, deferred (not started: its lease ran short)
    detail: str = ""  # the provider's id when sent, else the reason


def messages_send(claimed: list[Claimed]) -> int:
    """Send one claimed batch on a loop of its own and record it; returns how many were sent."""
    with _SendingLoop() as loop:
        return _Batch(claimed, loop).record()


class _SendingLoop:
    """A delivery run's event loop, on a thread of its own for as long as the run lasts, with its HTTP
    clients (and their kept-alive connections). The provider calls of every batch go out on it, at most
    NUDGE_SEND_CONCURRENCY at once across the batches in flight. The ORM stays on the caller's thread,
    and no loop is ever run there (which a thread already running one, such as the panel tests' browser
    thread, could not do)."""

    _loop: asyncio.AbstractEventLoop  # these three are made on the loop's thread, once it runs
    _stop: asyncio.Event
    _limit: asyncio.Semaphore

    def __init__(self) -> None:
        self._started = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="nudge-delivery-loop", daemon=True)

    def __enter__(self) -> _SendingLoop:
        self._thread.start()
        self._started.wait()
        if self._error is not None:
            raise self._error
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join()
        if self._error is not None and exc_info[0] is None:
            raise self._error

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as error:  # handed to the caller's thread
            self._error = error
        finally:
            self._started.set()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        self._limit = asyncio.Semaphore(settings.NUDGE_SEND_CONCURRENCY)
        self._started.set()
        try:
            await self._stop.wait()
        finally:
            await outbound.async_clients_close()

    def calls(self, attempts: list[_Attempt]) -> Future[list[None]]:
        """Start the attempts' calls on the loop; the future is done when every one has its outcome."""
        return asyncio.run_coroutine_threadsafe(self._calls(attempts), self._loop)

    async def _calls(self, attempts: list[_Attempt]) -> list[None]:
        return await asyncio.gather(*(_call(attempt, self._limit) for attempt in attempts))


class _Batch:
    """A claimed batch: rendered and its calls started on the loop when made, recorded by `record`.
    Rendering and every database read and write happen on the caller's thread."""

    def __init__(self, claimed: list[Claimed], loop: _SendingLoop) -> None:
        providers: dict[tuple[int, str], Provider | PermanentError] = {}
        self.attempts = [_prepare(item, providers) for item in claimed]
        ready = [a for a in self.attempts if a.provider is not None]
        self.calls = loop.calls(ready) if ready else None

    def record(self) -> int:
        """Once every call is answered: the outcomes written, gone devices removed; how many were sent."""
        if self.calls is not None:
            self.calls.result()
        sent = _results_write(self.attempts)
        gone = [pk for a in self.attempts if a.outgoing is not None for pk in a.outgoing.gone]
        if gone:
            PushDevice.objects.filter(pk__in=gone).delete()
        return sent

    def record_after_error(self) -> None:
        """`record`, while an error is on its way out: a failure here is logged, not raised over it (the
        rows stay `sending` until their lease runs out, then go out again with the same key)."""
        try:
            self.record()
        except Exception:
            logger.exception("the outcomes of a batch in flight could not be recorded")


BLOCKING_THREADS = 16  # at most, for providers without an async send (email, web push, the file outbox)
_executor: ThreadPoolExecutor | None = None


def _pool() -> ThreadPoolExecutor:
    global _executor
    if _executor is None:
        threads = min(settings.NUDGE_SEND_CONCURRENCY, BLOCKING_THREADS)
        _executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="nudge-send")
    return _executor


def _prepare(item: Claimed, providers: dict[tuple[int, str], Provider | PermanentError]) -> _Attempt:
    attempt = _Attempt(item)
    message = item.message
    key = (message.workspace_id, message.channel)
    if key not in providers:
        try:
            providers[key] = provider_for(*key)
        except PermanentError as error:
            providers[key] = error
    provider = providers[key]
    try:
        if isinstance(provider, PermanentError):
            raise provider
        attempt.outgoing = _outgoing(item)
        attempt.provider = provider
        attempt.on_loop = hasattr(provider, "asend")  # AsyncProvider (a Protocol check costs more)
    except (PermanentError, RenderError) as error:
        attempt.outcome, attempt.detail = "permanent", str(error)
    return attempt


async def _call(attempt: _Attempt, limit: asyncio.Semaphore) -> None:
    """The provider call, on the event loop or, for a provider without `asend`, a sender thread (no
    database here)."""
    provider, outgoing = attempt.provider, attempt.outgoing
    assert provider is not None and outgoing is not None
    try:
        async with limit:
            lease = attempt.item.message.lease_until
            if lease is not None and timezone.now() + _call_margin() > lease:
                # Waited its turn behind the batches in flight until its lease nearly ran out: sent now,
                # it could still be answered after the lease, when the row may be handed out again.
                attempt.outcome, attempt.detail = "deferred", "its lease ran short before the call started"
                return
            if attempt.on_loop:
                attempt.detail = await cast(AsyncProvider, provider).asend(outgoing)
            else:
                attempt.detail = await asyncio.get_running_loop().run_in_executor(_pool(), provider.send, outgoing)
        attempt.outcome = "sent"
    except PermanentError as error:
        attempt.outcome, attempt.detail = "permanent", str(error)
    except TransientError as error:
        attempt.outcome, attempt.detail = "transient", str(error)
    except Exception as error:  # a provider bug must not leave the row leased forever
        logger.exception("provider crashed on message %s", attempt.item.message.pk)
        attempt.outcome, attempt.detail = "crashed", f"retrying after an error: {type(error).__name__}"


def _settle_attempt(attempt: _Attempt, now: datetime) -> tuple:
    """A row not sent, its new state: (id, attempts — the claim's, which guards the write — status, reason,
    lease, sent_at, send_after, provider id, rendered). A deferred call counts as an attempt, as a crashed
    one does; neither gives up on the message."""
    message = attempt.item.message
    if attempt.outcome == "permanent":
        status, reason, after = MessageStatus.FAILED, attempt.detail, message.send_after
    elif attempt.outcome == "transient" and message.attempts >= settings.NUDGE_SEND_MAX_ATTEMPTS:
        status, reason = MessageStatus.FAILED, f"gave up after {message.attempts} attempts: {attempt.detail}"
        after = message.send_after
    elif attempt.outcome == "deferred":  # never sent: due again at once
        status, reason, after = MessageStatus.QUEUED, f"retrying: {attempt.detail}", now
    else:
        status = MessageStatus.QUEUED
        reason = attempt.detail if attempt.outcome == "crashed" else f"retrying: {attempt.detail}"
        after = now + _backoff(message.attempts)
    # A send that did not happen does not count against caps (sent_at cleared).
    return (message.pk, message.attempts, status, reason_clean(reason), None, None, after, "", {})


def _backoff(attempts: int) -> timedelta:
    """Exponential in the attempts made, capped, with full jitter over its upper half."""
    base = min(settings.NUDGE_SEND_BACKOFF_SECONDS * 2 ** max(attempts - 1, 0), settings.NUDGE_SEND_BACKOFF_MAX_SECONDS)
    return timedelta(seconds=base / 2 + random.uniform(0, base / 2))


# Every result is guarded on the row being in the claim it came from (`sending`, with the attempt that
# claim counted): a row whose lease ran out and was handed out again is someone else's.
RESULT_GUARD = "messaging_message.status = 'sending' AND messaging_message.attempts = v.attempts"
SENT_COLUMNS = {"attempts": "integer", "provider_message_id": "text", "rendered": "jsonb"}  # a sent row's own
SENT_SHARED = {"status": MessageStatus.SENT, "status_reason": "", "lease_until": None}
RESULT_COLUMNS = {  # a row not sent
    "attempts": "integer",
    "status": "text",
    "status_reason": "text",
    "lease_until": "timestamptz",
    "sent_at": "timestamptz",
    "send_after": "timestamptz",
    "provider_message_id": "text",
    "rendered": "jsonb",
    "updated_at": "timestamptz",
}


def _results_write(attempts: list[_Attempt]) -> int:
    """Every outcome of a batch in one transaction — the sent rows in one statement (what differs row to
    row as arrays, the rest bound once), the others in another — only over rows still `sending` (a row
    handed out again after a lease ran out is not overwritten); returns how many were sent."""
    now = timezone.now()
    sent = [a for a in attempts if a.outcome == "sent"]
    settled = [(a, _settle_attempt(a, now)) for a in attempts if a.outcome != "sent"]
    table, guard = Message._meta.db_table, RESULT_GUARD
    with transaction.atomic():
        written = {
            pk
            for (pk,) in update_columns(
                table,
                "id",
                SENT_COLUMNS,
                [
                    (
                        a.item.message.pk,
                        a.item.message.attempts,
                        a.detail[:200],
                        dict(cast(Outgoing, a.outgoing).content),
                    )
                    for a in sent
                ],
                assign=SENT_SHARED | {"sent_at": now, "updated_at": now},
                guard=guard,
                returning="id",
            )
        }
        delivered = [(a.item.message, MessageStatus.SENT) for a in sent if a.item.message.pk in written]
        written |= {
            pk
            for (pk,) in update_columns(
                table, "id", RESULT_COLUMNS, [(*row, now) for _, row in settled], guard=guard, returning="id"
            )
        }
        others = [(a.item.message, row[2]) for a, row in settled if row[0] in written]
        _counted(delivered + [(m, status) for m, status in others if status != MessageStatus.QUEUED])
        sends_counted(
            [
                (a.item.message.workspace_id, a.item.message.channel, a.outcome)
                for a in attempts
                if a.item.message.pk in written
            ]
        )
    return len(delivered)


def _outgoing(item: Claimed) -> Outgoing:
    """The message rendered for its provider. Its unsubscribe token is signed only when something uses
    it: the template names it, a webhook's request does, or it is an email (List-Unsubscribe)."""
    message, template, profile = item.message, item.template, item.profile
    email = message.channel == "email"
    request: dict[str, Any] = {}
    if template is None:  # a journey's webhook step carries its request
        request = {k: v for k, v in message.payload.items() if k in ("url", "method", "headers", "body")}
    wanted = email or (template.unsubscribes if template is not None else mentions_unsubscribe(request))
    unsubscribe = unsubscribe_url(message.pk) if wanted else None
    journey = {"id": message.journey_id, "name": message.journey_name} if message.journey_id is not None else {}
    context = liquid_context(profile, message.payload.get("event"), journey, unsubscribe)
    if template is not None:
        content = render_content(
            message.channel, variant_for(template.content, template.variants, profile.locale), context
        )
    else:
        content = render_content("webhook", request, context)
    headers: dict[str, str] = {}
    if email:
        assert unsubscribe is not None
        headers = tracked_headers(unsubscribe)
        if template is not None:
            content = {**content, **tracked_bodies(message.pk, content)}
    return Outgoing(
        devices=item.devices,
        message_id=message.pk,
        idempotency_key=message.idempotency_key,
        workspace_id=message.workspace_id,
        channel=message.channel,
        to=_address(message, profile, item.devices),
        content=content,
        headers=headers,
        allow_private=message.channel == "webhook" and profile.allow_private_webhooks,
    )
