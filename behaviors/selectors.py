"""Reads on behaviors: the open matches (enrollments of the compiled journeys that have not exited), per
profile and per behavior, described as the marketer wrote the behavior — which step, since and until when."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from behaviors.compiler import waiting_for
from behaviors.models import Behavior
from journeys.models import Enrollment


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
