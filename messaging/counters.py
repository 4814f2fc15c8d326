"""What became of a journey's messages, counted per journey, version, node and day in the journey's
counters (metric `message_status`, outcome = sent, delivered, opened, clicked, failed, suppressed,
deferred) as each transition happens, so reports never scan the outbox."""

from __future__ import annotations

from django.db.models import F
from django.utils import timezone

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
