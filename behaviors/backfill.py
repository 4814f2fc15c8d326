"""Backfill: a new behavior evaluated over the last N days of stored activities, so "who is in this state
now" has an answer the moment it starts matching, not N days later.

Each profile's activities from [until − N days, until) are replayed through the compiled journey on the
journey engine (the simulator's `replay`, a virtual clock ending at `until`, the moment the backfill was
asked for). What the replay leaves:

- a match still open at `until` becomes the enrollment live matching would have: at its step, with its
  durable timer, in the behavior's version of that moment, so it fires (and journeys enter on it) when its
  window closes, as if the behavior had been running all along;
- a match that completed in the window is recorded as `behavior:<slug>` at the moment it completed, as
  history (like an import; its context says `nudge.backfill`): segments, reports and `max_once_per` see
  it; journeys do not enter on old news;
- the counters (entries, nodes, fired per day) count what the replay did.

Live matching and the backfill meet at the profile lock. A batch of profiles is locked (as an evaluation
would), then: activities still waiting for the pipeline are left to it; a profile the live path already
has an enrollment for is left to it as it stands. So no activity is matched twice and no match is
fired twice, whichever comes first. Batches commit with the cursor (the last profile id handled): a
backfill that dies resumes where it stopped. One backfill per behavior — a second would record its
firings again.
"""

from __future__ import annotations

import time as clock
from datetime import timedelta
from typing import Any

from django.contrib.auth.models import User
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone

from activities.models import Activity, EvaluationBatch, Profile
from behaviors.document import ANY, parse_behavior
from behaviors.document import Behavior as Pattern
from behaviors.models import Backfill, Behavior
from journeys.engine import ActivityInput, Recorded
from journeys.live import version_document
from journeys.models import Enrollment, JourneyStatus
from journeys.runtime import Writes, effect_count, instance_store, recorded_store
from journeys.simulator import SimulatedProfile, replay
from workspaces.services import audit_log_append

BATCH = 500
MAX_DAYS = 365


class BackfillRefused(ValueError):
    def __init__(self, field: str, message: str, *, conflict: bool = False) -> None:
        super().__init__(f"{field}: {message}")
        self.field, self.message, self.conflict = field, message, conflict


def days_parse(value: Any) -> int:
    """The `days` a backfill reaches back, from JSON or a query string."""
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_DAYS:
        raise BackfillRefused("days", f"must be a whole number of days from 1 to {MAX_DAYS}")
    return value


def backfill_start(*, behavior: Behavior, actor: User | None, days: int) -> Backfill:
    """Ask for a backfill of a running (or paused) behavior; batches run on the workers."""
    journey = behavior.journey
    if journey is None or journey.live_version_id is None:
        raise BackfillRefused("behavior", "is a draft: resume it to start matching, then backfill", conflict=True)
    if journey.status == JourneyStatus.STOPPED:
        raise BackfillRefused("behavior", "is stopped", conflict=True)
    until = timezone.now()
    try:
        with transaction.atomic():
            backfill = Backfill.objects.create(
                behavior=behavior,
                version_id=journey.live_version_id,
                document=behavior.document,
                days=days,
                since=until - timedelta(days=days),
                until=until,
                profiles_total=Profile.objects.filter(workspace_id=behavior.workspace_id, merged_into__isnull=True)
                .order_by()
                .count(),
                created_by=actor,
            )
    except IntegrityError:
        raise BackfillRefused("behavior", "has been backfilled already (once per behavior)", conflict=True) from None
    audit_log_append(workspace=behavior.workspace, actor=actor, action="backfill started", obj=behavior)
    transaction.on_commit(_run_soon)
    return backfill


def _run_soon() -> None:
    from behaviors.tasks import backfill_soon

    backfill_soon()


def backfills_run(*, budget_seconds: float = 50.0) -> int:
    """Advance every running backfill, a batch at a time, within the budget; returns profiles handled."""
    started, handled = clock.monotonic(), 0
    for pk in (
        Backfill.objects.filter(status=Backfill.Status.RUNNING).order_by("created_at").values_list("pk", flat=True)
    ):
        while clock.monotonic() - started < budget_seconds:
            done = _batch(pk)
            if done is None:
                break
            handled += done
    return handled


def _batch(pk: int) -> int | None:
    """One batch of profiles in one transaction; how many were handled, None when there is nothing to
    do (finished, cancelled, or another worker holds it)."""
    with transaction.atomic():
        rows = Backfill.objects.filter(pk=pk, status=Backfill.Status.RUNNING).select_related(
            "behavior__journey", "version"
        )
        if connection.features.has_select_for_update:
            rows = rows.select_for_update(skip_locked=True, of=("self",))
        backfill = rows.first()
        if backfill is None:
            return None
        journey = backfill.behavior.journey
        if journey is None or journey.status == JourneyStatus.STOPPED:
            _finish(backfill, Backfill.Status.CANCELLED)
            return None
        chunk = list(
            Profile.objects.filter(
                workspace_id=backfill.behavior.workspace_id, merged_into__isnull=True, pk__gt=backfill.cursor
            )
            .order_by("pk")
            .values_list("pk", flat=True)[:BATCH]
        )
        tally = _profiles(backfill, chunk) if chunk else _Tally()
        Backfill.objects.filter(pk=pk).update(
            cursor=chunk[-1] if chunk else backfill.cursor,
            profiles_done=F("profiles_done") + len(chunk),
            matched=F("matched") + tally.matched,
            skipped_live=F("skipped_live") + tally.skipped_live,
            opened=F("opened") + tally.opened,
            fired=F("fired") + tally.fired,
        )
        if len(chunk) < BATCH:
            _finish(backfill, Backfill.Status.DONE)
        return len(chunk)


def _finish(backfill: Backfill, status: str) -> None:
    Backfill.objects.filter(pk=backfill.pk).update(status=status, finished_at=timezone.now())


class _Tally:
    def __init__(self) -> None:
        self.matched = self.skipped_live = self.opened = self.fired = 0


def _profiles(backfill: Backfill, chunk: list[int]) -> _Tally:
    """Replay the profiles of one chunk whose activities in the window start a match."""
    behavior = parse_behavior(backfill.document)
    journey = backfill.behavior.journey
    assert journey is not None
    first = behavior.steps[0]
    window = Activity.objects.filter(profile_id__in=chunk, timestamp__gte=backfill.since, timestamp__lt=backfill.until)
    starters = window if first.name == ANY else window.filter(name=first.name)
    candidates = sorted(set(starters.values_list("profile_id", flat=True)))
    tally = _Tally()
    if not candidates:
        return tally
    locked = Profile.objects.select_related("workspace").filter(pk__in=candidates, merged_into__isnull=True)
    if connection.features.has_select_for_update:
        locked = locked.select_for_update(no_key=True, of=("self",))
    profiles = {p.pk: p for p in locked.order_by("pk")}  # in id order, as every evaluation locks them
    live = set(Enrollment.objects.filter(journey=journey, profile_id__in=profiles).values_list("profile_id", flat=True))
    tally.skipped_live = len(live)
    wanted = [pk for pk in profiles if pk not in live]
    streams, histories = _activities(backfill, behavior, wanted)
    document = version_document(backfill.version)
    paused = journey.status == JourneyStatus.PAUSED
    writes, firings = Writes(), []
    for pk in wanted:
        stream = streams.get(pk, [])
        if not any(first.matches(a.name) for a in stream):
            continue  # its only starts still wait for the pipeline, which will match them
        profile = profiles[pk]
        person = SimulatedProfile(
            str(pk),
            traits=dict(profile.traits),
            tags=frozenset(profile.tags),
            timezone=profile.timezone or profile.workspace.timezone,
            history=histories.get(pk, []),
        )
        entries = replay(document, person, stream, backfill.until, str(journey.pk)).entries
        tally.matched += bool(entries)
        for entry in entries:
            enrollment = Enrollment(
                workspace_id=journey.workspace_id,
                journey=journey,
                version=backfill.version,
                profile=profile,
                entered_at=entry.instance.entered_at,
                trigger=dict(entry.instance.trigger),
            )
            instance_store(enrollment, entry.instance)
            if entry.instance.active:
                writes.enroll(enrollment)
                if entry.instance.due_at is not None:
                    writes.timer(enrollment, (entry.instance.due_at, paused))
                tally.opened += 1
            else:
                writes.count(enrollment, entry.instance.entered_at, "entered")
            for effect in entry.effects:
                if isinstance(effect, Recorded):
                    firings.append((pk, effect))
                else:
                    effect_count(writes, enrollment, effect)
    writes.flush()
    tally.fired = _record(backfill, firings)
    return tally


def _activities(
    backfill: Backfill, behavior: Pattern, profile_ids: list[int]
) -> tuple[dict[int, list[ActivityInput]], dict[int, list[ActivityInput]]]:
    """By profile: the window's activities the pipeline is done with, in order; and what the behavior
    recorded before `until` (for `max_once_per`)."""
    if not profile_ids:
        return {}, {}
    pending = {
        activity_id
        for ids in EvaluationBatch.objects.filter(workspace_id=backfill.behavior.workspace_id).values_list(
            "activity_ids", flat=True
        )
        for activity_id in ids
    }
    window = Activity.objects.filter(
        profile_id__in=profile_ids, timestamp__gte=backfill.since, timestamp__lt=backfill.until
    ).exclude(name__startswith="behavior:")
    if all(step.kind != "inactive" and step.name != ANY for step in behavior.steps):
        window = window.filter(name__in={step.name for step in behavior.steps})
    streams: dict[int, list[ActivityInput]] = {}
    for pk, profile_id, name, properties, moment in window.order_by("timestamp", "pk").values_list(
        "pk", "profile_id", "name", "properties", "timestamp"
    ):
        if pk not in pending:
            streams.setdefault(profile_id, []).append(ActivityInput(name, properties, moment))
    histories: dict[int, list[ActivityInput]] = {}
    recorded = Activity.objects.filter(
        profile_id__in=profile_ids, name=behavior.activity, timestamp__lt=backfill.until
    ).values_list("profile_id", "properties", "timestamp")
    for profile_id, properties, moment in recorded:
        histories.setdefault(profile_id, []).append(ActivityInput(behavior.activity, properties, moment))
    return streams, histories


def _record(backfill: Backfill, firings: list[tuple[int, Recorded]]) -> int:
    """Store past firings as history (not handed to journeys), keyed so a retried batch stores nothing
    twice."""
    if not firings:
        return 0
    return recorded_store(
        backfill.behavior.workspace_id,
        [(pk, effect, f"backfill:{backfill.pk}:{pk}:{effect.at.isoformat()}") for pk, effect in firings],
        historical=True,
        context={"nudge": {"backfill": backfill.pk}},
    )
