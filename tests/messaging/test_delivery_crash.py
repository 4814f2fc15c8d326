"""A delivery process killed (SIGKILL) after the provider accepted a message but before the status was
written, or after claiming it but before sending, ends with the message delivered exactly once: the
lease runs out, the message is handed out again, and the resend carries the same idempotency key."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from messaging.delivery import messages_deliver, messages_recover
from messaging.models import Message, MessageStatus
from tests.conftest import ROOT, server_env
from tests.messaging.helpers import journey_sending, provider, template, track
from tests.messaging.servers import provider_server

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def _queued(acme, server) -> Message:
    provider(acme, "sms", "twilio", secret="t", base_url=server.url, account_sid="AC1", from_number="+1")
    template(acme, "code", "sms", {"body": "code {{ event.code }}"}, "transactional")
    journey_sending(acme, {"type": "send", "channel": "sms", "template": "code"}, event="login")
    track(acme, "kim", "login", traits={"phone": "+15550009"}, code="1")
    return Message.objects.get()


def _worker(code: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "manage.py", "shell", "-c", code], cwd=ROOT, env=server_env(), stdout=subprocess.DEVNULL
    )


def _finish_after_the_lease(message: Message) -> None:
    later = timezone.now() + timedelta(seconds=600)
    assert messages_recover(now=later) == 1
    assert messages_deliver(now=later) == 1
    message.refresh_from_db()
    assert message.status == MessageStatus.SENT


def test_killed_after_the_provider_accepted_before_the_status_was_written(acme):
    with provider_server(hold=True) as server:
        message = _queued(acme, server)
        worker = _worker("from messaging.delivery import messages_deliver; messages_deliver()")
        assert server.received.wait(30), "the worker never reached the provider"
        worker.send_signal(signal.SIGKILL)  # the provider has it; the worker never hears back
        worker.wait(10)
        server.release.set()
        message.refresh_from_db()
        assert message.status == MessageStatus.SENDING  # leased by the dead worker
        _finish_after_the_lease(message)
    assert len(server.calls) == 2  # the call was repeated …
    assert {call.key for call in server.calls} == {message.idempotency_key}
    assert len(server.delivered) == 1  # … the message was not


def test_killed_after_claiming_before_sending(acme):
    with provider_server() as server:
        message = _queued(acme, server)
        worker = _worker(
            "import time; from django.utils import timezone; from messaging.delivery import messages_claim; "
            "messages_claim(now=timezone.now(), batch_size=10); print('claimed', flush=True); time.sleep(60)"
        )
        deadline = time.monotonic() + 30
        while Message.objects.get(pk=message.pk).status != MessageStatus.SENDING:
            assert time.monotonic() < deadline and worker.poll() is None, "the worker never claimed"
            time.sleep(0.05)
        worker.send_signal(signal.SIGKILL)
        worker.wait(10)
        assert server.calls == []
        assert messages_deliver() == 0  # leased: nobody else takes it while the lease runs
        _finish_after_the_lease(message)
    assert len(server.calls) == 1
    assert len(server.delivered) == 1
