"""With a run's batches overlapping, a claimed message can wait behind the batches in flight before its
call starts, and a run can be interrupted while a batch is recorded. Neither may send a delivered message
again: a call is not started once its lease has nearly run out (the row could be handed out again while it
is in flight), an outcome is written only over the claim it came from, and a batch interrupted while it
is recorded is still recorded."""

from __future__ import annotations

from datetime import timedelta

import pytest
from celery.exceptions import SoftTimeLimitExceeded
from django.utils import timezone

from messaging import delivery
from messaging.delivery import messages_claim, messages_deliver, messages_recover, messages_send
from messaging.models import Message, MessageStatus
from tests.messaging.helpers import sms_queued
from tests.messaging.servers import provider_server


def _rows(messages: list[Message]) -> list[Message]:
    return list(Message.objects.filter(pk__in=[m.pk for m in messages]).order_by("pk"))


@pytest.mark.django_db
def test_a_call_whose_lease_has_nearly_run_out_is_not_started(acme, settings):
    settings.NUDGE_SEND_LEASE_SECONDS = 120  # a call must have 30 s of it left
    with provider_server() as server:
        messages = sms_queued(acme, server.url, 3)
        Message.objects.update(send_after=timezone.now() - timedelta(hours=1))
        # Claimed 100 s ago (as a batch waiting behind others would have been): 20 s of lease left.
        assert messages_deliver(now=timezone.now() - timedelta(seconds=100)) == 0
        assert server.calls == []
        rows = _rows(messages)
        assert {(m.status, m.status_reason, m.lease_until, m.sent_at) for m in rows} == {
            (MessageStatus.QUEUED, "retrying: its lease ran short before the call started", None, None)
        }
        assert all(m.send_after is not None and m.send_after <= timezone.now() for m in rows)  # due at once, no backoff
        assert messages_deliver() == 3
    assert {(m.status, m.attempts) for m in _rows(messages)} == {(MessageStatus.SENT, 2)}
    assert len(server.calls) == 3


@pytest.mark.django_db
def test_an_outcome_is_written_only_over_the_claim_it_came_from(acme):
    with provider_server() as server:
        messages = sms_queued(acme, server.url, 2)
        stale = messages_claim(now=timezone.now(), batch_size=10)
        assert messages_recover(now=timezone.now() + timedelta(days=1)) == 2  # its lease ran out
        later = messages_claim(now=timezone.now(), batch_size=10)
        assert messages_send(stale) == 0  # answered, but the rows are the later claim's now
        assert {(m.status, m.attempts) for m in _rows(messages)} == {(MessageStatus.SENDING, 2)}
        assert messages_send(later) == 2
    assert {(m.status, m.attempts) for m in _rows(messages)} == {(MessageStatus.SENT, 2)}


@pytest.mark.django_db
def test_a_batch_interrupted_while_it_is_recorded_is_still_recorded(acme, monkeypatch):
    write = delivery._results_write
    interrupted: list[int] = []

    def interrupt_once(attempts):
        if not interrupted:
            interrupted.append(len(attempts))
            raise SoftTimeLimitExceeded()  # the task's time limit, in the wait for the batch's calls
        return write(attempts)

    monkeypatch.setattr(delivery, "_results_write", interrupt_once)
    with provider_server() as server:
        messages = sms_queued(acme, server.url, 5)
        with pytest.raises(SoftTimeLimitExceeded):
            messages_deliver()
    assert interrupted == [5]
    assert {(m.status, m.attempts) for m in _rows(messages)} == {(MessageStatus.SENT, 1)}
    assert len(server.calls) == 5
