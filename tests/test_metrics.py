"""`GET /metrics`: off without a token, bearer-only with one, and each figure equal to the rows set up."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.test import Client
from prometheus_client.parser import text_string_to_metric_families

from activities.models import EvaluationBatch, Profile
from config import metrics
from journeys.models import Enrollment, JourneyVersion
from journeys.services import journey_create
from messaging.delivery import messages_deliver
from messaging.models import Channel, Message, MessageStatus
from messaging.providers.base import KINDS
from tests.conftest import held_by_another_session
from tests.messaging.helpers import provider, template
from tests.personas import Tenant

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
TOKEN = "metrics-token-0123456789-abcdefghijklmnop"
LABELS = {"channel", "status", "provider", "outcome"}


@pytest.fixture
def token(settings: Any) -> str:
    settings.NUDGE_METRICS_TOKEN = TOKEN
    return TOKEN


def scrape() -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a scrape, by name and labels, parsed as Prometheus would."""
    response = Client().get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=")
    samples = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            assert set(sample.labels) <= LABELS, sample
            samples[sample.name, tuple(sorted(sample.labels.items()))] = sample.value
    return samples


def _profile(tenant: Tenant, user_id: str, **fields: Any) -> Profile:
    return Profile.objects.create(workspace=tenant.workspace, user_id=user_id, first_seen=NOW, last_seen=NOW, **fields)


def _timer(tenant: Tenant, version: JourneyVersion, n: int, due_at: datetime, held: bool = False) -> None:
    Enrollment.objects.create(
        workspace=tenant.workspace,
        journey=version.journey,
        version=version,
        profile=_profile(tenant, f"timer-{n}"),
        entered_at=NOW - timedelta(hours=1),
        node="wait",
        due_at=due_at,
        timer_held=held,
    )


def _message(tenant: Tenant, profile: Profile, channel: str, status: str, n: int, **fields: Any) -> Message:
    return Message.objects.create(
        workspace=tenant.workspace,
        profile=profile,
        channel=channel,
        status=status,
        idempotency_key=f"{tenant.workspace.pk}:{channel}:{status}:{n}",
        **fields,
    )


def test_off_without_a_token(db: None, settings: Any) -> None:
    settings.NUDGE_METRICS_TOKEN = ""
    assert Client().get("/metrics").status_code == 404
    assert Client().get("/metrics", HTTP_AUTHORIZATION="Bearer anything").status_code == 404


def test_the_token_is_enforced(db: None, token: str) -> None:
    client = Client()
    for header in ({}, {"HTTP_AUTHORIZATION": "Bearer wrong"}, {"HTTP_AUTHORIZATION": f"Basic {token}"}):
        response = client.get("/metrics", **header)
        assert response.status_code == 401, header
        assert response["WWW-Authenticate"].startswith("Bearer")
        assert b"nudge_" not in response.content
    assert client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 200
    assert client.get("/metrics", HTTP_AUTHORIZATION=f"bearer {token}").status_code == 200
    assert client.post("/metrics", HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 405


def test_an_empty_database_reads_zero(db: None, token: str) -> None:
    samples = scrape()
    assert samples["nudge_metrics_database_up", ()] == 1
    assert samples["nudge_pipeline_batches", ()] == 0
    assert samples["nudge_pipeline_oldest_batch_age_seconds", ()] == 0
    assert samples["nudge_timers_overdue", ()] == 0
    assert samples["nudge_timers_oldest_lateness_seconds", ()] == 0
    assert samples["nudge_outbox_messages", (("channel", "sms"), ("status", "queued"))] == 0
    assert not [key for key in samples if key[0].startswith("nudge_provider_sends")]


def test_the_figures_match_the_rows(acme: Tenant, globex: Tenant, token: str) -> None:
    with time_machine.travel(NOW, tick=False):
        for age in (40, 10):
            EvaluationBatch.objects.create(
                workspace=acme.workspace, activity_ids=[1], created_at=NOW - timedelta(seconds=age)
            )
        journey = journey_create(workspace=acme.workspace, actor=acme.owner, document={"name": "Winback"})
        version = JourneyVersion.objects.create(journey=journey, number=1, document={"name": "Winback"})
        for n, late in enumerate((90, 30, 5)):
            _timer(acme, version, n, NOW - timedelta(seconds=late))
        _timer(acme, version, 3, NOW - timedelta(seconds=500), held=True)  # a paused journey's: not late
        _timer(acme, version, 4, NOW + timedelta(seconds=60))  # not due yet
        ann, bob = _profile(acme, "ann"), _profile(globex, "bob")
        _message(acme, ann, "email", MessageStatus.QUEUED, 1)
        _message(acme, ann, "email", MessageStatus.QUEUED, 2, send_after=NOW + timedelta(hours=8))  # quiet hours
        _message(globex, bob, "email", MessageStatus.QUEUED, 3, send_after=NOW - timedelta(seconds=1))
        _message(acme, ann, "sms", MessageStatus.SENDING, 4, lease_until=NOW + timedelta(seconds=60))
        for n in range(3):
            _message(acme, ann, "push", MessageStatus.HELD, 10 + n)
        _message(acme, ann, "email", MessageStatus.SENT, 20, sent_at=NOW)  # settled: not in the backlog
        _message(acme, ann, "email", MessageStatus.FAILED, 21)

        samples = scrape()

    assert samples["nudge_pipeline_batches", ()] == 2
    assert samples["nudge_pipeline_oldest_batch_age_seconds", ()] == pytest.approx(40)
    assert samples["nudge_timers_overdue", ()] == 3
    assert samples["nudge_timers_oldest_lateness_seconds", ()] == pytest.approx(90)
    backlog = {
        dict(labels)["channel"] + "/" + dict(labels)["status"]: value
        for (name, labels), value in samples.items()
        if name == "nudge_outbox_messages" and value
    }
    assert backlog == {"email/queued": 3, "sms/sending": 1, "push/held": 3}
    due = {
        dict(labels)["channel"]: value
        for (name, labels), value in samples.items()
        if name == "nudge_outbox_due_messages" and value
    }
    assert due == {"email": 2}


def test_sends_are_counted_by_provider_outcome(acme: Tenant, token: str, settings: Any, tmp_path: Any) -> None:
    settings.VAR_DIR = tmp_path
    ann = _profile(acme, "ann", email="ann@example.com", phone="+15555550100")
    template(acme, "hello", "in_app", {"body": "Hi"}, "transactional")
    template(acme, "receipt", "email", {"subject": "Receipt", "text": "Thanks"}, "transactional")
    template(acme, "code", "sms", {"body": "Your code"}, "transactional")
    provider(acme, "email", "file")  # sms: none configured, and none by default in production
    for n in range(2):
        _message(acme, ann, "in_app", MessageStatus.QUEUED, n, template="hello")
    _message(acme, ann, "email", MessageStatus.QUEUED, 5, template="receipt")
    _message(acme, ann, "sms", MessageStatus.QUEUED, 6, template="code")

    assert messages_deliver() == 3

    sends = {labels: value for (name, labels), value in scrape().items() if name == "nudge_provider_sends_total"}
    assert sends == {
        (("channel", "email"), ("outcome", "sent"), ("provider", "file")): 1,
        (("channel", "in_app"), ("outcome", "sent"), ("provider", "in_app")): 2,
        (("channel", "sms"), ("outcome", "permanent"), ("provider", "none")): 1,
    }
    assert Message.objects.get(channel="sms").status == MessageStatus.FAILED


def test_no_label_names_a_workspace_or_a_person(acme: Tenant, token: str, settings: Any, tmp_path: Any) -> None:
    """Labels take bounded values only (channels, statuses, provider kinds, outcomes): never a workspace,
    a profile or an address."""
    settings.VAR_DIR = tmp_path
    zelda = _profile(acme, "zelda-4471", email="zelda@acme.test")
    template(acme, "receipt", "email", {"subject": "Receipt", "text": "Thanks"}, "transactional")
    provider(acme, "email", "file")
    _message(acme, zelda, "email", MessageStatus.QUEUED, 1, template="receipt")
    messages_deliver()
    _message(acme, zelda, "email", MessageStatus.QUEUED, 2)
    allowed = {
        "channel": set(Channel.values),
        "status": {"held", "queued", "sending"},
        "provider": {*KINDS, "none"},
        "outcome": {"sent", "permanent", "transient", "crashed"},
    }
    samples = scrape()
    assert ("nudge_provider_sends_total", (("channel", "email"), ("outcome", "sent"), ("provider", "file"))) in samples
    for _, labels in samples:
        for label, value in labels:
            assert value in allowed[label], (label, value)
    text = Client().get("/metrics", HTTP_AUTHORIZATION=f"Bearer {token}").content.decode().lower()
    for secret in ("acme", "zelda", "4471", "@"):
        assert secret not in text, secret


@pytest.mark.django_db(transaction=True)
def test_a_slow_database_is_reported_not_waited_for(token: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Another session holds the batches table: the scrape gives up at its statement timeout and says so."""
    monkeypatch.setattr(metrics, "STATEMENT_TIMEOUT_MS", 200)
    with held_by_another_session(f"LOCK TABLE {EvaluationBatch._meta.db_table} IN ACCESS EXCLUSIVE MODE"):
        samples = scrape()
    assert samples == {("nudge_metrics_database_up", ()): 0}
    assert scrape()["nudge_metrics_database_up", ()] == 1
