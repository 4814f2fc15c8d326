"""Scheduled (`segment`) entries: at `schedule.start_at`, and again daily at `entry.every_day_at` in the
workspace's time zone, every profile of the audience is offered entry (entry rules apply), in committed
batches of profiles. Runs are rows (ScheduledRun), so a beat tick that dies is resumed by the next.

The audience — in any of `audience.segments` (none: every profile), in none of the exclusions, and
matching `entry.where` — is selected once per run through the compiled query (`ScheduledEntrant` rows);
each batch then asks its profiles' segments together, as the pipeline does.
"""

from __future__ import annotations

import time as clock
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.db import connection, transaction
from django.utils import timezone

from activities.models import Profile
from journeys.document import Journey as Document
from journeys.engine import PastEntry, enter, entry_refusal
from journeys.live import version_document
from journeys.models import Enrollment, Journey, JourneyStatus, ScheduledEntrant, ScheduledRun
from journeys.runtime import Writes, apply_effects, context_for, instance_store
from segments.selectors import audience_condition, matching, memberships

BATCH = 500


def due_moment(document: Document, now: datetime, workspace_timezone: str) -> datetime | None:
    """The latest scheduled entry moment at or before now (missed daily runs are not repeated)."""
    start = document.schedule_start
    if start is None or start > now or (document.schedule_end is not None and now >= document.schedule_end):
        return None
    every = document.entry.every_day_at
    if every is None:
        return start
    try:
        zone = ZoneInfo(workspace_timezone)
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    local = now.astimezone(zone)
    today = datetime(local.year, local.month, local.day, every.hour, every.minute, tzinfo=zone)
    latest = today if today <= local else today - timedelta(days=1)
    return max(start, latest.astimezone(start.tzinfo))


def journeys_enter_scheduled(*, now: datetime | None = None, budget_seconds: float = 50.0) -> int:
    """Run (or resume) every due scheduled entry; returns how many profiles entered."""
    moment_now = now or timezone.now()
    started = clock.monotonic()
    entered = 0
    journeys = Journey.objects.filter(
        status__in=(JourneyStatus.LIVE, JourneyStatus.SCHEDULED), live_version__isnull=False
    ).select_related("live_version", "workspace")
    for journey in journeys:
        assert journey.live_version is not None
        document = version_document(journey.live_version)
        if journey.status == JourneyStatus.SCHEDULED and (
            document.schedule_start is None or document.schedule_start <= moment_now
        ):
            Journey.objects.filter(pk=journey.pk, status=JourneyStatus.SCHEDULED).update(status=JourneyStatus.LIVE)
        if document.entry.type != "segment":
            continue
        moment = due_moment(document, moment_now, journey.workspace.timezone)
        if moment is None:
            continue
        run, _ = ScheduledRun.objects.get_or_create(journey=journey, moment=moment)
        if run.audience is None and run.finished_at is None:
            _select(run, journey, document)
        while run.finished_at is None and clock.monotonic() - started < budget_seconds:
            entered += _run_batch(run, journey, document)
    return entered


@transaction.atomic
def _select(run: ScheduledRun, journey: Journey, document: Document) -> None:
    """The run's audience, set-based, in one statement (a run killed before it commits selects again)."""
    locked = ScheduledRun.objects.filter(pk=run.pk)
    if connection.features.has_select_for_update:
        locked = locked.select_for_update()
    current = locked.get()
    if current.audience is not None:
        run.audience = current.audience
        return
    condition = audience_condition(document.audience_segments, document.exclude_segments, document.entry.where)
    query = matching(journey.workspace_id, condition, now=current.moment)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {ScheduledEntrant._meta.db_table} (run_id, profile_id) SELECT %s, selected.id"
            f" FROM ({query.text}) selected",
            [current.pk, *query.params],
        )
        current.audience = run.audience = cursor.rowcount
    current.save(update_fields=["audience"])


@transaction.atomic
def _run_batch(run: ScheduledRun, journey: Journey, document: Document) -> int:
    locked = ScheduledRun.objects.filter(pk=run.pk)
    if connection.features.has_select_for_update:
        locked = locked.select_for_update()
    current = locked.get()
    if current.finished_at is not None:
        run.finished_at = current.finished_at
        return 0
    selected = list(
        ScheduledEntrant.objects.filter(run=current, profile_id__gt=current.cursor)
        .order_by("profile_id")
        .values_list("profile_id", flat=True)[:BATCH]
    )
    profiles = (
        Profile.objects.filter(pk__in=selected, merged_into__isnull=True).select_related("workspace").order_by("pk")
    )
    if connection.features.has_select_for_update:
        profiles = profiles.select_for_update(no_key=True, of=("self",))
    batch = list(profiles)
    refs = (*document.audience_segments, *document.exclude_segments)
    audiences = memberships(journey.workspace_id, refs, selected, now=current.moment)
    writes, entered = Writes(), 0
    assert journey.live_version is not None
    for profile in batch:
        past = [
            PastEntry(at, exit_at is None)
            for at, exit_at in Enrollment.objects.filter(journey=journey, profile=profile).values_list(
                "entered_at", "exit_at"
            )
        ]
        ctx = context_for(profile, journey.pk, segments={ref: profile.pk in audiences[ref] for ref in refs})
        if entry_refusal(document, at=current.moment, activity=None, subject=ctx.subject, entries=past) is not None:
            continue
        if any(entry.active for entry in past):
            continue  # a scheduled entry never restarts an instance (restart is for entry events)
        instance, effects = enter(document, at=current.moment, trigger={}, ctx=ctx)
        enrollment = Enrollment(
            workspace_id=journey.workspace_id,
            journey=journey,
            version=journey.live_version,
            profile=profile,
            entered_at=instance.entered_at,
            trigger={},
        )
        instance_store(enrollment, instance)
        writes.enroll(enrollment)
        apply_effects(enrollment, effects, paused=False, writes=writes)
        entered += 1
    writes.flush()
    current.cursor = selected[-1] if selected else current.cursor
    current.entered += entered
    if len(selected) < BATCH:
        current.finished_at = timezone.now()
        ScheduledEntrant.objects.filter(run=current).delete()
    current.save(update_fields=["cursor", "entered", "finished_at"])
    run.cursor, run.entered, run.finished_at = current.cursor, current.entered, current.finished_at
    return entered
