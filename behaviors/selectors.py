"""Reads on behaviors: the open matches (enrollments of the compiled journeys that have not exited), per
profile and per behavior, described as the marketer wrote the behavior — which step, since and until when."""

from __future__ import annotations

from datetime import date
from typing import Any

from django.db.models import BigIntegerField, Count, OuterRef, Q, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce

from behaviors.compiler import waiting_for
from behaviors.models import Behavior
from journeys.models import Enrollment, JourneyStat


def open_matches(*, workspace_id: int) -> QuerySet[Enrollment]:
    return (
        Enrollment.objects.filter(workspace_id=workspace_id, exit_at__isnull=True, journey__behavior__isnull=False)
        .select_related("journey__behavior", "version", "profile")
        .order_by("journey__behavior__name", "profile_id")
    )


def match_describe(enrollment: Enrollment) -> dict[str, Any]:
    behavior: Behavior = enrollment.journey.behavior
    waiting = waiting_for(enrollment.version.document, enrollment.node) or {}
    bounded = waiting.pop("bounded", True)
    return {
        "behavior": {"id": behavior.pk, "slug": behavior.slug, "name": behavior.name},
        "profile": {"id": enrollment.profile_id, "user_id": enrollment.profile.user_id},
        "version": enrollment.version.number,
        "started_at": enrollment.entered_at,
        "waiting_for": waiting or None,
        "since": enrollment.wait_started,
        "until": enrollment.due_at if bounded else None,
    }


# A firing is an arrival at the node that records `behavior:<slug>`: "record" behind the max_once_per
# check, else "complete" itself (`behaviors.compiler`); read per version, as a version has one or the other.
FIRED = Q(metric="node_entered") & (
    Q(node="record") | Q(node="complete", version__document__nodes__complete__type="record_activity")
)


def behaviors_with_counts(queryset: QuerySet[Behavior], *, since: date) -> QuerySet[Behavior]:
    """Each behavior with `open_now` (open matches) and `fired_since` (firings from `since`, UTC days),
    from the enrollments' index and the daily counters."""
    open_now = (
        Enrollment.objects.filter(journey_id=OuterRef("journey_id"), exit_at__isnull=True)
        .order_by()
        .values("journey_id")
        .annotate(n=Count("pk"))
        .values("n")
    )
    fired = (
        JourneyStat.objects.filter(FIRED, journey_id=OuterRef("journey_id"), day__gte=since)
        .order_by()
        .values("journey_id")
        .annotate(n=Sum("count"))
        .values("n")
    )
    return queryset.annotate(
        open_now=Coalesce(Subquery(open_now), 0), fired_since=Coalesce(Subquery(fired), Value(0, BigIntegerField()))
    )


def fired_per_day(*, journey_ids: list[int], since: date) -> dict[int, dict[date, int]]:
    """Firings per (UTC) day from `since`, by compiled journey."""
    rows = (
        JourneyStat.objects.filter(FIRED, journey_id__in=journey_ids, day__gte=since)
        .values_list("journey_id", "day")
        .annotate(total=Sum("count"))
        .order_by()
    )
    found: dict[int, dict[date, int]] = {}
    for journey_id, day, total in rows:
        found.setdefault(journey_id, {})[day] = int(total)
    return found
