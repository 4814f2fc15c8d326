"""A delivery run's batches overlap: the next batch is claimed (and its calls started) while the one
before is still in flight, never with more calls in flight than NUDGE_SEND_CONCURRENCY across them, and
every batch is recorded once all its calls are answered — each message sent once, its row written once.
A spent budget or the batch limit still stops the claims, and the batch in flight is recorded."""

from __future__ import annotations

import threading
import time

import pytest

from messaging.delivery import messages_deliver
from messaging.models import Message, MessageStatus
from tests.messaging.helpers import sms_queued
from tests.messaging.servers import ProviderServer, provider_server


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
@pytest.mark.parametrize(
    ("concurrency", "batch", "open_at_once"),
    [
        (10, 5, 10),  # two batches of five, every answer held: all ten calls arrive together, so the
        # second batch was claimed and started before the first had its answers
        (3, 2, 3),  # batches in flight together keep to the concurrency across them
    ],
)
def test_the_next_batch_goes_out_while_the_one_before_is_in_flight_within_the_concurrency(
    acme, settings, concurrency: int, batch: int, open_at_once: int
):
    settings.NUDGE_SEND_CONCURRENCY = concurrency
    seen: list[int] = []
    with provider_server(hold=True) as server:
        messages = sms_queued(acme, server.url, 10)
        watcher = _held_until(server, open_at_once, seen)
        assert messages_deliver(batch_size=batch) == 10
        watcher.join()
    assert seen == [open_at_once]
    _each_sent_once(server, messages)


@pytest.mark.django_db
@pytest.mark.parametrize("limits", [{"budget_seconds": 0.0}, {"max_batches": 1}])
def test_a_spent_budget_or_the_batch_limit_claims_no_next_batch(acme, limits):
    with provider_server() as server:
        messages = sms_queued(acme, server.url, 10)
        assert messages_deliver(batch_size=4, **limits) == 4
        statuses = sorted(Message.objects.filter(pk__in=[m.pk for m in messages]).values_list("status", flat=True))
        assert statuses == [MessageStatus.QUEUED] * 6 + [MessageStatus.SENT] * 4
        assert len(server.calls) == 4
        assert messages_deliver(batch_size=4) == 6  # the rest, in two overlapping batches
    _each_sent_once(server, messages)
