"""`GET /metrics`: the lag operators watch (pipeline, timers, outbox, provider outcomes) in Prometheus's
text format, read from the database at scrape time so every web process answers the same."""

from __future__ import annotations

import hmac
import logging
from collections.abc import Iterator
from datetime import datetime

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.db.models import Count, Min, Q, Sum
from django.http import Http404, HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

logger = logging.getLogger(__name__)

# A scrape that cannot finish in this time reports the database down rather than pile up queries.
STATEMENT_TIMEOUT_MS = 2000
BACKLOG = ("held", "queued", "sending")


class NudgeCollector(Collector):
    """Each gauge is one index-backed query whose cost follows the backlog, never the table: the
    outbox of batches is emptied as it is processed, due timers and queued, sending and held messages
    have partial indexes, and provider outcomes are a few counter rows."""

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("nudge_metrics_database_up", "1 if the figures below could be read in time")
        try:
            metrics = list(self._read(timezone.now()))
        except DatabaseError as error:  # a timeout or an unreachable database: say so, answer anyway
            logger.warning("metrics: the database did not answer: %s", error)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from metrics

    def _read(self, now: datetime) -> Iterator[Metric]:
        with transaction.atomic():
            if connection.vendor == "postgresql":
                with connection.cursor() as cursor:
                    cursor.execute(f"SET LOCAL statement_timeout = {STATEMENT_TIMEOUT_MS}")
            yield from _pipeline(now)
            yield from _timers(now)
            yield from _outbox(now)
            yield _sends()


def _age(now: datetime, since: datetime | None) -> float:
    return max((now - since).total_seconds(), 0.0) if since is not None else 0.0


def _pipeline(now: datetime) -> Iterator[Metric]:
    from activities.models import EvaluationBatch

    batches = EvaluationBatch.objects.aggregate(n=Count("pk"), oldest=Min("created_at"))
    yield GaugeMetricFamily(
        "nudge_pipeline_batches", "Stored activity batches waiting for the evaluation pipeline", batches["n"]
    )
    yield GaugeMetricFamily(
        "nudge_pipeline_oldest_batch_age_seconds",
        "Age of the oldest batch waiting for evaluation (0 when none waits)",
        _age(now, batches["oldest"]),
    )


def _timers(now: datetime) -> Iterator[Metric]:
    from journeys.models import Enrollment

    # Behaviors compile onto journeys: their timers are enrollments' too (the sweep's partial index).
    overdue = Enrollment.objects.filter(timer_held=False, due_at__lte=now).aggregate(
        n=Count("pk"), oldest=Min("due_at")
    )
    yield GaugeMetricFamily(
        "nudge_timers_overdue",
        "Journey and behavior timers due and not yet fired (paused journeys' excluded)",
        overdue["n"],
    )
    yield GaugeMetricFamily(
        "nudge_timers_oldest_lateness_seconds",
        "How late the most overdue timer is (0 when none is overdue)",
        _age(now, overdue["oldest"]),
    )


def _outbox(now: datetime) -> Iterator[Metric]:
    from messaging.models import Channel, Message

    backlog = GaugeMetricFamily(
        "nudge_outbox_messages", "Messages not yet settled, by channel and status", labels=["channel", "status"]
    )
    counts = {(channel, status): 0 for channel in Channel.values for status in BACKLOG}
    for status in BACKLOG:  # one query per status, each on its partial index
        rows = Message.objects.filter(status=status).values_list("channel").annotate(n=Count("pk")).order_by()
        for channel, n in rows:
            if (channel, status) in counts:  # only known channels: labels stay bounded
                counts[channel, status] = n
    for (channel, status), n in sorted(counts.items()):
        backlog.add_metric([channel, status], n)
    yield backlog

    due = GaugeMetricFamily(
        "nudge_outbox_due_messages",
        "Queued messages whose time has come (not deferred by quiet hours or a retry's backoff), by channel",
        labels=["channel"],
    )
    rows = (
        Message.objects.filter(Q(send_after__isnull=True) | Q(send_after__lte=now), status="queued")
        .values_list("channel")
        .annotate(n=Count("pk"))
        .order_by()
    )
    due_counts = dict.fromkeys(Channel.values, 0) | {c: n for c, n in rows if c in Channel.values}
    for channel, n in sorted(due_counts.items()):
        due.add_metric([channel], n)
    yield due


def _sends() -> Metric:
    from messaging.models import DeliveryCount

    sends = CounterMetricFamily(
        "nudge_provider_sends",
        "Provider calls by channel, provider kind and outcome (sent, permanent, transient, crashed), since the start",
        labels=["channel", "provider", "outcome"],
    )
    rows = DeliveryCount.objects.values_list("channel", "provider", "outcome").annotate(n=Sum("count")).order_by()
    for channel, provider, outcome, n in sorted(rows):
        sends.add_metric([channel, provider, outcome], n)
    return sends


registry = CollectorRegistry(auto_describe=False)
registry.register(NudgeCollector())


def _authorized(request: HttpRequest) -> bool:
    token = settings.NUDGE_METRICS_TOKEN
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())


@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    """Off (404) until NUDGE_METRICS_TOKEN is set; then only with `Authorization: Bearer <token>`."""
    if not settings.NUDGE_METRICS_TOKEN:
        raise Http404
    if not _authorized(request):
        response = HttpResponse("A bearer token is required.\n", status=401, content_type="text/plain")
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    response = HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
    response["Cache-Control"] = "no-store"
    return response
