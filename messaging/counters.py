"""What became of a journey's messages, counted per journey, version, node and day in the journey's
counters (metric `message_status`, outcome = sent, delivered, opened, clicked, failed, suppressed,
deferred) as each transition happens, so reports never scan the outbox."""

from __future__ import annotations

from django.db.models import F
from django.utils import timezone

from config.sql import insert_columns
from journeys.models import Enrollment, JourneyStat
from messaging.models import Message


def message_counted(message: Message, outcome: str) -> None:
    if message.enrollment_id is None:
        return  # a test send: no journey to count for
    ids = Enrollment.objects.filter(pk=message.enrollment_id).values_list("journey_id", "version_id").first()
    if ids is None:
        return
    journey_id, version_id = ids
    key = {
        "journey_id": journey_id,
        "version_id": version_id,
        "day": timezone.now().date(),
        "metric": "message_status",
        "node": message.node,
        "outcome": outcome,
    }
    if not JourneyStat.objects.filter(**key).update(count=F("count") + 1):
        _, created = JourneyStat.objects.get_or_create(**key, defaults={"count": 1})
        if not created:
            JourneyStat.objects.filter(**key).update(count=F("count") + 1)


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
    counts: dict[tuple, int] = {}
    for message, outcome in journeyed:
        if message.enrollment_id in ids:
            key = (*ids[message.enrollment_id], day, "message_status", message.node, outcome)
            counts[key] = counts.get(key, 0) + 1
    table = JourneyStat._meta.db_table
    insert_columns(
        table,
        {
            "journey_id": "bigint",
            "version_id": "bigint",
            "day": "date",
            "metric": "text",
            "node": "text",
            "outcome": "text",
            "count": "bigint",
        },
        [(*key, count) for key, count in sorted(counts.items())],
        conflict=(
            "ON CONFLICT (journey_id, version_id, day, metric, node, outcome) "
            f"DO UPDATE SET count = {table}.count + excluded.count"
        ),
    )
