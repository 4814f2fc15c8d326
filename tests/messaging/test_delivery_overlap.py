"""A delivery run's batches overlap: the next batch is claimed (and its calls started) while the one
before is still in flight, never with more calls in flight than NUDGE_SEND_CONCURRENCY across them, and
every batch is recorded once all its calls are answered — each message sent once, its row written once.
A spent budget or the batch limit still stops the claims, and the batch in flight is recorded."""

from __future__ import annotations

import threading
import time

import pytest

from activities.models import Profile
from messaging.delivery import messages_deliver
from messaging.models import Message, MessageStatus
from tests.messaging.helpers import provider, template
from tests.messaging.servers import ProviderServer, provider_server


def _messages(tenant, server_url: str, count: int) -> list[Message]:
    provider(tenant, "sms", "twilio", secret="t", base_url=server_url, account_sid="AC1", from_number="+1555")
    template(tenant, "code", "sms", {"body": "code {{ profile.first_name }}"}, "transactional")
    profile = Profile.objects.create(workspace=tenant.workspace, user_id="kim", phone="+15550009")
    return [
        Message.objects.create(
            workspace=tenant.workspace, profile=profile, channel="sms", template="code", idempotency_key=f"k:{i}"
        )
        for i in range(count)
    ]


def _held_until(server: ProviderServer, calls: int, seen: list[int]) -> threading.Thread:
    """Watch a holding server: once `calls` requests are open (or 10 s have passed), wait long enough
    for another to arrive if one could, note how many came, and let them all go."""

    def watch() -> None:
        deadline = time.monotonic() + 10
        while len(server.calls) < calls and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.5)
        seen.append(len(server.calls))
        server.release.set()

    watcher = threading.Thread(target=watch)
    watcher.start()
    return watcher


def _each_sent_once(server: ProviderServer, messages: list[Message]) -> None:
    rows = Message.objects.filter(pk__in=[m.pk for m in messages])
    assert {(m.status, m.attempts) for m in rows} == {(MessageStatus.SENT, 1)}
    assert len(server.calls) == len(server.delivered) == len(messages)


@pytest.mark.django_db
def test_the_next_batch_is_claimed_and_sent_while_the_one_before_is_in_flight(acme, settings):
    """Two batches of five, the server holding every answer: all ten calls arrive together, so the
    second batch was claimed and started before the first had its answers."""
    settings.NUDGE_SEND_CONCURRENCY = 10
    seen: list[int] = []
    with provider_server(hold=True) as server:
        messages = _messages(acme, server.url, 10)
        watcher = _held_until(server, 10, seen)
        assert messages_deliver(batch_size=5) == 10
        watcher.join()
    assert seen == [10]
    _each_sent_once(server, messages)


@pytest.mark.django_db
def test_batches_in_flight_together_keep_to_the_concurrency(acme, settings):
    settings.NUDGE_SEND_CONCURRENCY = 3
    seen: list[int] = []
    with provider_server(hold=True) as server:
        messages = _messages(acme, server.url, 10)
        watcher = _held_until(server, 3, seen)
        assert messages_deliver(batch_size=2) == 10
        watcher.join()
    assert seen == [3]
    _each_sent_once(server, messages)


@pytest.mark.django_db
@pytest.mark.parametrize("limits", [{"budget_seconds": 0.0}, {"max_batches": 1}])
def test_a_spent_budget_or_the_batch_limit_claims_no_next_batch(acme, limits):
    with provider_server() as server:
        messages = _messages(acme, server.url, 10)
        assert messages_deliver(batch_size=4, **limits) == 4
        statuses = sorted(Message.objects.filter(pk__in=[m.pk for m in messages]).values_list("status", flat=True))
        assert statuses == [MessageStatus.QUEUED] * 6 + [MessageStatus.SENT] * 4
        assert len(server.calls) == 4
        assert messages_deliver(batch_size=4) == 6  # the rest, in two overlapping batches
    _each_sent_once(server, messages)
