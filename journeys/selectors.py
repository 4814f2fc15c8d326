"""Reads of journeys and enrollments shared by the API, the panel and the tests."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from journeys.models import Enrollment


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat().replace("+00:00", "Z") if moment is not None else None


def enrollments_report(*, journey_id: int, profile_id: int) -> list[dict[str, Any]]:
    """A profile's entries into a journey in the simulator's shape (§8.8), so live and simulated runs
    compare directly."""
    rows = Enrollment.objects.filter(journey_id=journey_id, profile_id=profile_id).order_by("entered_at", "pk")
    report = []
    for enrollment in rows.prefetch_related("messages"):
        steps = {(step["node"]): step["at"] for step in enrollment.path}
        report.append(
            {
                "entered_at": _iso(enrollment.entered_at),
                "converted_at": _iso(enrollment.converted_at),
                "exit": {"at": _iso(enrollment.exit_at), "reason": enrollment.exit_reason}
                if enrollment.exit_at is not None
                else None,
                "path": [
                    {"at": _iso(datetime.fromisoformat(s["at"])), "node": s["node"], "outcome": s["outcome"]}
                    for s in enrollment.path
                ],
                "messages": [
                    {
                        "at": _iso(datetime.fromisoformat(steps[m.node])) if m.node in steps else None,
                        "node": m.node,
                        "channel": m.channel,
                        "template": m.template,
                    }
                    for m in sorted(enrollment.messages.all(), key=lambda m: m.pk)
                ],
            }
        )
    return report
