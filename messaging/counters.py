"""What became of a journey's messages, counted per journey, version, node and day in the journey's
counters (metric `message_status`, outcome = sent, delivered, opened, clicked, failed, suppressed,
deferred) as each transition happens, so reports never scan the outbox; and every provider call's
outcome per channel and provider kind (`DeliveryCount`, what /metrics shows)."""

from __future__ import annotations

import os
from collections import Counter

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from config.sql import insert_columns
from journeys.models import Enrollment
from journeys.stats import StatKey, stats_add
from messaging.models import DeliveryCount, Message, ProviderConfig


def message_counted(message: Message, outcome: str) -> None:
    messages_counted([(message, outcome)])


def messages_counted(outcomes: list[tuple[Message, str]]) -> None:
    """Many transitions at once: one read of their journeys, one upsert of the counters."""
    journeyed = [(m, outcome) for m, outcome in outcomes if m.enrollment_id is not None]
    if not journeyed:
        return
    rows = Enrollment.objects.filter(pk__in={m.enrollment_id for m, _ in journeyed})
    ids = {
        pk: (journey_id, version_id)
        for pk, journey_id, version_id in rows.values_list("pk", "journey_id", "version_id")
    }
    day = timezone.now().date()
    counts: dict[StatKey, int] = {}
    for message, outcome in journeyed:
        if message.enrollment_id in ids:
            key = (*ids[message.enrollment_id], day, "message_status", message.node, outcome)
            counts[key] = counts.get(key, 0) + 1
    stats_add(counts)


def sends_counted(outcomes: list[tuple[int, str, str]]) -> None:
    """Provider outcomes (workspace id, channel, outcome) added to the delivery counters by channel and
    provider kind (never by workspace): one read of the kinds, one upsert into this process's shard."""
    if not outcomes:
        return
    pairs = {(workspace_id, channel) for workspace_id, channel, _ in outcomes}
    condition = Q()
    for workspace_id, channel in pairs:
        condition |= Q(workspace_id=workspace_id, channel=channel)
    kinds = {
        (workspace_id, channel): kind
        for workspace_id, channel, kind in ProviderConfig.objects.filter(condition).values_list(
            "workspace_id", "channel", "kind"
        )
    }
    fallback = settings.NUDGE_DEFAULT_PROVIDER or "none"
    counts = Counter(
        (
            channel,
            kinds.get((workspace_id, channel)) or (channel if channel in ("webhook", "in_app") else fallback),
            outcome,
        )
        for workspace_id, channel, outcome in outcomes
    )
    shard = os.getpid() % DeliveryCount.SHARDS
    table = DeliveryCount._meta.db_table
    insert_columns(
        table,
        {"channel": "text", "provider": "text", "outcome": "text", "shard": "smallint", "count": "bigint"},
        [(*key, shard, count) for key, count in sorted(counts.items())],  # key order: concurrent adders lock alike
        conflict=(
            f"ON CONFLICT (channel, provider, outcome, shard) DO UPDATE SET count = {table}.count + excluded.count"
        ),
    )
