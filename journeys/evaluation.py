"""The evaluation pipeline's journey consumer: a stored batch of activities, run through the journeys
profile by profile in time order, everything it decides written in the batch's transaction.

A batch costs a fixed handful of statements, whatever its size:

1. which of its profiles have an enrollment the batch's activity names can move (unlocked, keys only);
2. lock those profiles and the ones whose activities trigger a journey, in id order (one statement);
3. read, locked, the enrollments the batch can move: inside a version that waits for or converts on one
   of its names, or finished and still inside that version's conversion window;
4. read, unlocked, the past entries the entry rules of the triggered journeys look at (once, lock, cap,
   already inside, this very activity), bounded by how far back each rule can see;
5. run the engine in memory, then one flush (`runtime.Writes`).

The profile lock is what makes entry rules hold under concurrent batches: two batches with activities
of one profile take turns. Lock order everywhere is profiles (by id), then enrollments.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from django.db import connection
from django.db.models import Q

from activities.models import Activity, Profile
from journeys.engine import ActivityInput, Instance, PastEntry, enter, entry_refusal, on_activity
from journeys.live import LiveIndex, LiveJourney, document_for, live_index
from journeys.models import Enrollment, JourneyStatus
from journeys.runtime import Writes, apply_effects, context_for, instance_of, instance_store


@dataclass
class _Past:
    """An entry the batch cannot move, as the entry rules see it."""

    entered_at: datetime
    active: bool
    entry_activity_id: int | None


@dataclass
class _ProfileState:
    """One locked profile's journeys while its activities run."""

    profile: Profile
    movable: list[Enrollment]
    past: dict[int, list[_Past]] = field(default_factory=dict)  # journey → entries the batch cannot move
    instances: dict[int, Instance] = field(default_factory=dict)  # id(enrollment) → engine state

    def __post_init__(self) -> None:
        self.instances = {id(e): instance_of(e) for e in self.movable}

    def run(self, activity: Activity, index: LiveIndex, writes: Writes) -> None:
        given = ActivityInput(activity.name, activity.properties, activity.timestamp)
        for enrollment in list(self.movable):
            instance = self.instances[id(enrollment)]
            attributable = instance.exit_reason == "completed" and instance.converted_at is None
            if not (instance.active or attributable):
                continue
            effects = on_activity(
                document_for(enrollment.version_id), instance, given, context_for(self.profile, enrollment.journey_id)
            )
            if effects:
                instance_store(enrollment, instance)
                paused = enrollment.journey.status == JourneyStatus.PAUSED
                apply_effects(enrollment, effects, paused=paused, writes=writes)
        for live in index.triggers.get(activity.name, []):
            self._try_enter(activity, given, live, writes)

    def _try_enter(self, activity: Activity, given: ActivityInput, live: LiveJourney, writes: Writes) -> None:
        past = self.past.get(live.journey_id, [])
        mine = [e for e in self.movable if e.journey_id == live.journey_id]
        if any(p.entry_activity_id == activity.pk for p in past) or any(
            e.entry_activity_id == activity.pk for e in mine
        ):
            return  # this activity already entered (a batch evaluated again)
        entries = [PastEntry(p.entered_at, p.active) for p in past] + [
            PastEntry(self.instances[id(e)].entered_at, self.instances[id(e)].active) for e in mine
        ]
        ctx = context_for(self.profile, live.journey_id)
        if entry_refusal(live.document, at=given.timestamp, activity=given, subject=ctx.subject, entries=entries):
            return
        instance, effects = enter(live.document, at=given.timestamp, trigger=given.properties, ctx=ctx)
        enrollment = Enrollment(
            workspace_id=self.profile.workspace_id,
            journey=live.row,
            version_id=live.version_id,
            profile=self.profile,
            entry_activity_id=activity.pk,
            entered_at=instance.entered_at,
            trigger=dict(instance.trigger),
        )
        instance_store(enrollment, instance)
        self.instances[id(enrollment)] = instance
        self.movable.append(enrollment)
        writes.enroll(enrollment)
        apply_effects(enrollment, effects, paused=False, writes=writes)


def activities_evaluate(workspace_id: int, activities: list[Activity]) -> None:
    index = live_index(workspace_id)
    if not index.running or not activities:
        return  # no journey live, scheduled or paused: nothing can react
    by_profile: dict[int, list[Activity]] = {}
    for activity in activities:
        by_profile.setdefault(activity.profile_id, []).append(activity)
    names = {a.name for a in activities}
    earliest = min(a.timestamp for a in activities)
    triggering = {pid for pid, own in by_profile.items() if any(a.name in index.triggers for a in own)}
    others = _movable(index, {pid: own for pid, own in by_profile.items() if pid not in triggering}, earliest)
    wanted = triggering | _having(others)
    if not wanted:
        return
    profiles = _lock_profiles(sorted(wanted))
    enrollments = _enrollments(_movable(index, {pid: by_profile[pid] for pid in profiles}, earliest))
    entering = {live.journey_id: live for name in names for live in index.triggers.get(name, [])}
    past = _past_entries(
        entering.values(),
        [pid for pid in profiles if pid in triggering],
        earliest,
        [a.pk for a in activities],
        exclude={e.pk for rows in enrollments.values() for e in rows},
    )
    writes = Writes()
    for profile_id, profile in profiles.items():
        state = _ProfileState(profile, enrollments.get(profile_id, []), past.get(profile_id, {}))
        for activity in sorted(by_profile[profile_id], key=lambda a: (a.timestamp, a.pk)):
            state.run(activity, index, writes)
    writes.flush()


def _movable(index: LiveIndex, by_profile: dict[int, list[Activity]], earliest: datetime) -> Q | None:
    """The enrollments these profiles' own activities can move: inside a version that waits for or
    converts on one of them, or done and still convertible. Profiles with the same activity names share
    one term, so the condition stays small whatever the batch size."""
    groups: dict[frozenset[str], list[int]] = {}
    for profile_id, own in by_profile.items():
        groups.setdefault(frozenset(a.name for a in own), []).append(profile_id)
    condition = Q()
    for names, profile_ids in groups.items():
        versions = index.versions_moved(names)
        if not versions:
            continue
        moved = Q(exit_at__isnull=True, version_id__in=versions)
        by_bound: dict[datetime, list[int]] = {}
        for version_id in versions & index.conversion.keys():
            if index.conversion[version_id][0] in names:
                by_bound.setdefault(index.attributable_since(version_id, earliest), []).append(version_id)
        for bound, ids in by_bound.items():
            moved |= Q(version_id__in=ids, exit_reason="completed", converted_at__isnull=True, entered_at__gte=bound)
        condition |= Q(moved, profile_id__in=profile_ids)
    return condition or None


def _having(movable: Q | None) -> set[int]:
    """The profiles with an enrollment to move (read without locks, to know which to lock)."""
    if movable is None:
        return set()
    return set(Enrollment.objects.filter(movable).values_list("profile_id", flat=True).distinct())


def _lock_profiles(profile_ids: list[int]) -> dict[int, Profile]:
    """The profiles, locked in id order (the order every path locks several in), merged ones left out."""
    rows = (
        Profile.objects.select_related("workspace").filter(pk__in=profile_ids, merged_into__isnull=True).order_by("pk")
    )
    if connection.features.has_select_for_update:
        rows = rows.select_for_update(no_key=True, of=("self",))
    return {profile.pk: profile for profile in rows}


def _enrollments(movable: Q | None) -> dict[int, list[Enrollment]]:
    """The movable enrollments of the locked profiles, locked, by profile."""
    if movable is None:
        return {}
    rows = Enrollment.objects.filter(movable).select_related("journey").order_by("pk")
    if connection.features.has_select_for_update:
        rows = rows.select_for_update(no_key=True, of=("self",))
    found: dict[int, list[Enrollment]] = {}
    for enrollment in rows:
        found.setdefault(enrollment.profile_id, []).append(enrollment)
    return found


def _past_entries(
    entering: Iterable[LiveJourney],
    profile_ids: list[int],
    earliest: datetime,
    activity_ids: list[int],
    *,
    exclude: set[int],
) -> dict[int, dict[int, list[_Past]]]:
    """By profile and journey: the entries the triggered journeys' entry rules can see: any inside now,
    any this batch's activities entered, and those recent enough for once, lock and cap to count."""
    journeys = {live.journey_id for live in entering}
    if not profile_ids or not journeys:
        return {}
    condition = Q(journey_id__in=journeys, exit_at__isnull=True) | Q(
        journey_id__in=journeys, entry_activity_id__in=activity_ids
    )
    by_bound: dict[datetime | None, list[int]] = {}
    for live in entering:
        by_bound.setdefault(live.entries_since(earliest), []).append(live.journey_id)
    for since, ids in by_bound.items():
        condition |= Q(journey_id__in=ids) if since is None else Q(journey_id__in=ids, entered_at__gte=since)
    rows = Enrollment.objects.filter(condition, profile_id__in=profile_ids).values_list(
        "pk", "profile_id", "journey_id", "entered_at", "exit_at", "entry_activity_id"
    )
    past: dict[int, dict[int, list[_Past]]] = {}
    for pk, profile_id, journey_id, entered_at, exit_at, activity_id in rows:
        if pk not in exclude:
            past.setdefault(profile_id, {}).setdefault(journey_id, []).append(
                _Past(entered_at, exit_at is None, activity_id)
            )
    return past
