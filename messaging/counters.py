"""What became of a journey's messages, counted per journey, version, node and day in the journey's
counters (metric `message_status`, outcome = sent, delivered, opened, clicked, failed, suppressed,
deferred) as each transition happens, so reports never scan the outbox."""

from __future__ import annotations

from django.utils import timezone

from journeys.models import Enrollment
from journeys.stats import StatKey, stats_add
from messaging.models import Message


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
