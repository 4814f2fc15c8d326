"""The evaluation pipeline's journey consumer: a stored batch of activities, run through the journeys
profile by profile in time order, everything it decides written in the batch's transaction.

A batch costs a fixed handful of statements, whatever its size:

1. which of its profiles have an enrollment the batch's activity names can move (unlocked, keys only);
2. lock those profiles and the ones whose activities trigger a journey, in id order (one statement, the
   workspace read once for all of them);
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
from config.sql import execute
from journeys.engine import (
    ActivityInput,
    Context,
    Instance,
    PastEntry,
    blocks_restart,
    enter,
    entry_refusal,
    on_activity,
)
from journeys.engine import stop as engine_stop
from journeys.live import LiveIndex, LiveJourney, document_for, live_index, version_histories
from journeys.models import Enrollment
from journeys.runtime import EnrollmentRow, Writes, apply_effects, context_for, instance_of, instance_store, rows_locked
from journeys.subject import BatchHistory, ProfileSubject
from segments.selectors import memberships
from workspaces.models import Workspace


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
    movable: list[EnrollmentRow]
    past: dict[int, list[_Past]] = field(default_factory=dict)  # journey → entries the batch cannot move
    segments: dict[str, bool] = field(default_factory=dict)  # audience segments, answered for the batch
    history: BatchHistory | None = None  # plain history counts, read for the batch
    instances: dict[int, Instance] = field(default_factory=dict)  # id(enrollment) → engine state

    def __post_init__(self) -> None:
        self.subject = ProfileSubject(self.profile, segments=self.segments, history=self.history)
        self.contexts: dict[int, Context] = {}  # journey → the engine's context (one per journey and batch)
        self.instances = {id(e): instance_of(e) for e in self.movable}
        self.by_journey: dict[int, list[EnrollmentRow]] = {}
        for e in self.movable:
            self.by_journey.setdefault(e.journey_id, []).append(e)
        # (journey, activity) pairs that entered already: a batch evaluated again enters nothing twice
        self.entered = {(e.journey_id, e.entry_activity_id) for e in self.movable}
        self.entered |= {(journey, p.entry_activity_id) for journey, pasts in self.past.items() for p in pasts}

    def context(self, journey_id: int) -> Context:
        ctx = self.contexts.get(journey_id)
        if ctx is None:
            ctx = self.contexts[journey_id] = context_for(self.profile, journey_id, subject=self.subject)
        return ctx

    def run(self, activity: Activity, index: LiveIndex, writes: Writes) -> None:
        given = ActivityInput(activity.name, activity.properties, activity.timestamp)
        kept: set[int] = set()  # journeys this activity moved on (in restart mode, it does not restart them)
        moved = index.versions_moved_by(activity.name)  # no other version reacts to this activity
        for enrollment in list(self.movable):
            if enrollment.version_id not in moved:
                continue
            instance = self.instances[id(enrollment)]
            attributable = instance.exit_reason == "completed" and instance.converted_at is None
            if not (instance.active or attributable):
                continue
            effects = on_activity(
                document_for(enrollment.version_id),
                instance,
                given,
                self.context(enrollment.journey_id),
            )
            if blocks_restart(instance, effects):
                kept.add(enrollment.journey_id)
            if effects:
                instance_store(enrollment, instance)
                paused = enrollment.journey_id in index.paused
                apply_effects(enrollment, effects, paused=paused, writes=writes, event=dict(activity.properties))
        for live in index.triggered_by(activity.name):
            if live.journey_id not in kept:
                self._try_enter(activity, given, live, writes)

    def _try_enter(self, activity: Activity, given: ActivityInput, live: LiveJourney, writes: Writes) -> None:
        activity_id, journey_id = activity.pk, live.journey_id
        if (journey_id, activity_id) in self.entered:
            return  # this activity already entered (a batch evaluated again)
        past = self.past.get(journey_id, [])
        mine = self.by_journey.get(journey_id, [])
        entries = [PastEntry(p.entered_at, p.active) for p in past] + [
            PastEntry(self.instances[id(e)].entered_at, self.instances[id(e)].active) for e in mine
        ]
        ctx = self.context(journey_id)
        if entry_refusal(live.document, at=given.timestamp, activity=given, subject=ctx.subject, entries=entries):
            return
        if any(p.active for p in past):
            return  # inside, but not in a way this batch can move (restart needs the instance in hand)
        for enrollment in mine:  # restart mode: the instance inside ends before the new one starts
            instance = self.instances[id(enrollment)]
            if instance.active:
                stopped = engine_stop(instance, at=given.timestamp, reason="restarted")
                instance_store(enrollment, instance)
                apply_effects(enrollment, stopped, paused=False, writes=writes)
        instance, effects = enter(live.document, at=given.timestamp, trigger=given.properties, ctx=ctx)
        enrollment = EnrollmentRow(
            pk=0,
            workspace_id=self.profile.workspace_id,
            journey_id=live.journey_id,
            version_id=live.version_id,
            profile_id=self.profile.pk,
            entry_activity_id=activity_id,
            entered_at=instance.entered_at,
            trigger=dict(instance.trigger),
        )
        instance_store(enrollment, instance)
        self.instances[id(enrollment)] = instance
        self.movable.append(enrollment)
        self.by_journey.setdefault(journey_id, []).append(enrollment)
        self.entered.add((journey_id, activity_id))
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
    triggering = {pid for pid, own in by_profile.items() if any(index.triggered_by(a.name) for a in own)}
    movable = _Movable(index, by_profile, earliest)
    wanted = triggering | set(_movable_keys(movable, (pid for pid in by_profile if pid not in triggering)))
    if not wanted:
        return
    profiles = _lock_profiles(workspace_id, sorted(wanted))
    enrollments = _enrollments(movable, profiles)
    entering = {live.journey_id: live for name in names for live in index.triggered_by(name)}
    past = _past_entries(
        {pid: _triggered(index, by_profile[pid]) for pid in profiles if pid in triggering},
        earliest,
        [a.pk for a in activities],
        exclude={e.pk for rows in enrollments.values() for e in rows},
    )
    audiences = _audiences(workspace_id, entering.values(), [pid for pid in profiles if pid in triggering])
    versions = {live.version_id for live in entering.values()} | {
        e.version_id for rows in enrollments.values() for e in rows
    }
    history = _history(versions, profiles, earliest)
    writes = Writes()
    for profile_id, profile in profiles.items():
        segments = {ref: profile_id in members for ref, members in audiences.items()}
        state = _ProfileState(profile, enrollments.get(profile_id, []), past.get(profile_id, {}), segments, history)
        for activity in sorted(by_profile[profile_id], key=lambda a: (a.timestamp, a.pk)):
            state.run(activity, index, writes)
    writes.flush()


def _triggered(index: LiveIndex, activities: list[Activity]) -> list[LiveJourney]:
    """The journeys these activities trigger, each once."""
    return list({live.journey_id: live for a in activities for live in index.triggered_by(a.name)}.values())


class _Movable:
    """Which enrollments these profiles' own activities can move: inside a version that waits for or
    converts on one of them, or done and still inside the conversion window of a version converting on
    one of them. Read with one simple condition (the profiles, the versions any of them moves), then
    narrowed per profile here: a handful of extra rows beats a planner-hostile OR per profile."""

    def __init__(self, index: LiveIndex, by_profile: dict[int, list[Activity]], earliest: datetime) -> None:
        self.versions: dict[int, set[int]] = {}  # profile → versions its activities may move
        self.converting: dict[int, dict[int, datetime]] = {}  # profile → version → oldest creditable entry
        for profile_id, own in by_profile.items():
            names = {a.name for a in own}
            versions = index.versions_moved(names)
            if not versions:
                continue
            self.versions[profile_id] = versions
            self.converting[profile_id] = {
                v: index.attributable_since(v, earliest)
                for v in versions & index.conversion.keys()
                if index.conversion[v][0] in names
            }

    def query(self, profile_ids: Iterable[int]) -> Q | None:
        ids = [pid for pid in profile_ids if pid in self.versions]
        if not ids:
            return None
        versions = set().union(*(self.versions[pid] for pid in ids))
        bounds = [bound for pid in ids for bound in self.converting[pid].values()]
        condition = Q(exit_at__isnull=True)
        if bounds:
            condition |= Q(exit_reason="completed", converted_at__isnull=True, entered_at__gte=min(bounds))
        return condition & Q(profile_id__any=ids, version_id__any=versions)

    def keeps(self, profile_id: int, version_id: int, active: bool, entered_at: datetime) -> bool:
        if version_id not in self.versions.get(profile_id, ()):
            return False
        bound = self.converting[profile_id].get(version_id)
        return active or (bound is not None and entered_at >= bound)


def _movable_keys(movable: _Movable, profile_ids: Iterable[int]) -> dict[int, list[int]]:
    """By profile, the keys of its movable enrollments, read without locks (a light read of a few
    columns, narrowed here)."""
    condition = movable.query(profile_ids)
    if condition is None:
        return {}
    found: dict[int, list[int]] = {}
    rows = Enrollment.objects.filter(condition).values_list("pk", "profile_id", "version_id", "exit_at", "entered_at")
    for pk, profile_id, version_id, exit_at, entered_at in rows:
        if movable.keeps(profile_id, version_id, exit_at is None, entered_at):
            found.setdefault(profile_id, []).append(pk)
    return found


def _lock_profiles(workspace_id: int, profile_ids: list[int]) -> dict[int, Profile]:
    """The profiles, locked in id order (the order every path locks several in), merged ones left out.
    Their workspace (the batch's) is read once and shared, rather than joined into every row and built
    anew for each."""
    rows = Profile.objects.filter(pk__any=profile_ids, merged_into__isnull=True).order_by("pk")
    if connection.features.has_select_for_update:
        rows = rows.select_for_update(no_key=True)
    profiles = {profile.pk: profile for profile in rows}
    if profiles:
        workspace = Workspace.objects.get(pk=workspace_id)
        for profile in profiles.values():
            if profile.workspace_id == workspace_id:
                profile._state.fields_cache["workspace"] = workspace
    return profiles


def _enrollments(movable: _Movable, profile_ids: Iterable[int]) -> dict[int, list[EnrollmentRow]]:
    """The movable enrollments of the locked profiles, locked, by profile. With the profiles locked no
    evaluation or sweep can add to or move them, so the light read finds them all; a stop may still
    end one before it is locked, which the check on the locked row sees. (One locked read by the
    condition instead measured slower: it locks every row the condition's broad form finds.)"""
    keys = [pk for pks in _movable_keys(movable, profile_ids).values() for pk in pks]
    if not keys:
        return {}
    found: dict[int, list[EnrollmentRow]] = {}
    for e in rows_locked(Enrollment.objects.filter(pk__any=keys).order_by("pk")):
        if movable.keeps(e.profile_id, e.version_id, e.exit_at is None, e.entered_at):
            found.setdefault(e.profile_id, []).append(e)
    return found


def _history(versions: Iterable[int], profile_ids: Iterable[int], earliest: datetime) -> BatchHistory | None:
    """The plain history counts the versions this batch runs can ask, for the batch's profiles, from each
    name's oldest window back from the batch's first activity (one statement; PostgreSQL)."""
    bounds: dict[str, datetime] = {}
    for version_id in versions:
        for name, window in version_histories(version_id):
            since = window.before(earliest)
            bounds[name] = min(since, bounds.get(name, since))
    if not bounds or connection.vendor != "postgresql":
        return None
    return BatchHistory.read(profile_ids, bounds)


def _audiences(workspace_id: int, entering: Iterable[LiveJourney], profile_ids: list[int]) -> dict[str, set[int]]:
    """Which of the entering profiles are in each segment the triggered journeys' audiences name: one
    query per segment for the whole batch, asked now (rules as they hold at this moment)."""
    refs = {ref for live in entering for ref in (*live.document.audience_segments, *live.document.exclude_segments)}
    if not refs or not profile_ids:
        return {}
    return memberships(workspace_id, refs, profile_ids)


def _past_entries(
    entering: dict[int, list[LiveJourney]],
    earliest: datetime,
    activity_ids: list[int],
    *,
    exclude: set[int],
) -> dict[int, dict[int, list[_Past]]]:
    """By profile and journey — the journeys each profile's own activities trigger (`entering`) — the
    entries their entry rules can see: any inside now, any this batch's activities entered, and those
    recent enough for once, lock and cap to count."""
    pairs = [(pid, live.journey_id, live.entries_since(earliest)) for pid, lives in entering.items() for live in lives]
    if not pairs:
        return {}
    if connection.vendor == "postgresql":
        rows = execute(_PAST_SQL, [*map(list, zip(*pairs, strict=True)), activity_ids])
    else:  # SQLite: one simple condition over the profiles and journeys, narrowed to the pairs here
        journeys = {journey_id for _, journey_id, _ in pairs}
        condition = Q(journey_id__in=journeys, exit_at__isnull=True) | Q(
            journey_id__in=journeys, entry_activity_id__in=activity_ids
        )
        for since in {since for _, _, since in pairs}:
            ids = {journey_id for _, journey_id, bound in pairs if bound == since}
            condition |= Q(journey_id__in=ids) if since is None else Q(journey_id__in=ids, entered_at__gte=since)
        wanted = {(profile_id, journey_id) for profile_id, journey_id, _ in pairs}
        found = Enrollment.objects.filter(condition, profile_id__in=entering.keys()).values_list(
            "pk", "profile_id", "journey_id", "entered_at", "exit_at", "entry_activity_id"
        )
        rows = [row for row in found if (row[1], row[2]) in wanted]
    past: dict[int, dict[int, list[_Past]]] = {}
    for pk, profile_id, journey_id, entered_at, exit_at, activity_id in rows:
        if pk not in exclude:
            past.setdefault(profile_id, {}).setdefault(journey_id, []).append(
                _Past(entered_at, exit_at is None, activity_id)
            )
    return past


# One index probe (enrollment_history: journey, profile, entered_at) per pair: the lateral subquery's
# OFFSET 0 keeps the planner from flattening it into a merge join over the whole table, which it
# prefers when the table's statistics are older than its rows. `since` NULL: every entry counts (once,
# a cap with no period).
_PAST_SQL = f"""
SELECT e.id, e.profile_id, e.journey_id, e.entered_at, e.exit_at, e.entry_activity_id
FROM unnest(%b::bigint[], %b::bigint[], %b::timestamptz[]) AS w(profile_id, journey_id, since)
CROSS JOIN LATERAL (
    SELECT id, profile_id, journey_id, entered_at, exit_at, entry_activity_id FROM {Enrollment._meta.db_table}
    WHERE journey_id = w.journey_id AND profile_id = w.profile_id OFFSET 0
) e
WHERE e.exit_at IS NULL OR e.entry_activity_id = ANY(%b::bigint[]) OR w.since IS NULL OR e.entered_at >= w.since
"""
