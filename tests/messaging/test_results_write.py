"""A batch's outcomes are written as two set-based statements — the sent rows (their provider id and
what was rendered as arrays, the rest bound once) and the others — and the claim likewise: every row
ends in the state its outcome gives, and `update_columns(assign=...)` sets the shared values on exactly
the rows it names that pass the guard."""

from __future__ import annotations

from urllib.parse import parse_qs

import pytest
from django.utils import timezone

from activities.models import Profile
from config.sql import update_columns
from messaging.delivery import messages_deliver
from messaging.models import Message, MessageStatus
from tests.messaging.helpers import provider, template
from tests.messaging.servers import provider_server


@pytest.mark.django_db
def test_sent_retried_and_failed_rows_of_one_batch_each_get_their_state(acme):
    started = timezone.now()
    with provider_server(500, 400) as server:  # the first call is retried, the second fails, the rest go
        provider(acme, "sms", "twilio", secret="t", base_url=server.url, account_sid="AC1", from_number="+1555")
        template(acme, "code", "sms", {"body": "code {{ profile.first_name }}"}, "transactional")
        profile = Profile.objects.create(workspace=acme.workspace, user_id="kim", phone="+15550009", traits={})
        messages = [
            Message.objects.create(
                workspace=acme.workspace, profile=profile, channel="sms", template="code", idempotency_key=f"k:{i}"
            )
            for i in range(4)
        ]
        assert messages_deliver(batch_size=10) == 2
    first = server.calls[0].key  # the calls go out together: which message met which answer is theirs
    second = server.calls[1].key
    rows = {m.idempotency_key: m for m in Message.objects.filter(pk__in=[m.pk for m in messages])}
    retried, failed = rows.pop(first), rows.pop(second)
    assert (retried.status, retried.attempts, retried.sent_at, retried.lease_until) == (
        MessageStatus.QUEUED,
        1,
        None,
        None,
    )
    assert retried.status_reason.startswith("retrying: HTTP 500")
    assert retried.send_after is not None and retried.send_after > started
    assert (failed.status, failed.sent_at, failed.lease_until) == (MessageStatus.FAILED, None, None)
    assert failed.status_reason.startswith("HTTP 400")
    for sent in rows.values():
        assert (sent.status, sent.status_reason, sent.lease_until, sent.attempts) == (MessageStatus.SENT, "", None, 1)
        assert sent.provider_message_id == "SM123" and sent.category == "transactional"
        assert sent.sent_at is not None and sent.sent_at >= started and sent.updated_at == sent.sent_at
        assert sent.rendered == {"body": "code "}
    assert [parse_qs(c.body.decode())["Body"] for c in server.calls] == [["code "]] * 4


@pytest.mark.django_db
def test_shared_values_go_to_the_named_rows_that_pass_the_guard(acme):
    profile = Profile.objects.create(workspace=acme.workspace, user_id="kim")
    rows = [
        Message.objects.create(
            workspace=acme.workspace,
            profile=profile,
            channel="sms",
            idempotency_key=f"k:{i}",
            status=MessageStatus.SENDING if i < 3 else MessageStatus.SENT,
        )
        for i in range(4)
    ]
    now = timezone.now()
    written = update_columns(
        Message._meta.db_table,
        "id",
        {"provider_message_id": "text", "rendered": "jsonb"},
        [(rows[0].pk, "SM0", {"body": "a"}), (rows[1].pk, "SM1", {}), (rows[3].pk, "SM3", {"body": "c"})],
        assign={"status": MessageStatus.FAILED, "status_reason": "shared", "lease_until": None, "sent_at": now},
        guard="messaging_message.status = 'sending'",
        returning="id",
    )
    assert sorted(pk for (pk,) in written) == [rows[0].pk, rows[1].pk]
    after = {m.pk: m for m in Message.objects.filter(pk__in=[m.pk for m in rows])}
    assert [(after[m.pk].status, after[m.pk].provider_message_id) for m in rows] == [
        (MessageStatus.FAILED, "SM0"),
        (MessageStatus.FAILED, "SM1"),
        (MessageStatus.SENDING, ""),  # not named
        (MessageStatus.SENT, ""),  # named, but not `sending`
    ]
    assert after[rows[0].pk].rendered == {"body": "a"} and after[rows[0].pk].sent_at == now
    assert after[rows[1].pk].status_reason == "shared"
