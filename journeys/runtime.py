"""The live runtime: the engine driven by stored activities (the evaluation pipeline) and by durable
timers (the sweep), with every effect applied in the same transaction as the state it follows from.

Locks, always in this order: a profile row (FOR NO KEY UPDATE: one evaluation per profile at a time,
which is what makes entry rules hold under concurrent events), then its enrollments. The sweep claims
timers with SKIP LOCKED and skips an enrollment another transaction holds, so it never waits in a
cycle with the evaluation path; a skipped timer fires on the next pass.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from activities.models import Activity, Profile
from journeys.document import Journey, parse_journey
from journeys.engine import (
    ActivityInput,
    CallWebhook,
    ChangeProfile,
    ClearTimer,
    Context,
    Converted,
    EdgeTaken,
    Effect,
    Exited,
    Instance,
    NodeEntered,
    PastEntry,
    SendMessage,
    SetTimer,
    Step,
    enter,
    entry_refusal,
    on_activity,
    on_timer,
)
from journeys.engine import stop as engine_stop
from journeys.models import Enrollment, JourneyStat, JourneyStatus, JourneyVersion, Timer
from journeys.models import Journey as JourneyRow
from journeys.subject import ProfileSubject
from messaging.models import Message, MessageStatus
from workspaces.models import Workspace

logger = logging.getLogger(__name__)

TAKING_ENTRIES = (JourneyStatus.LIVE, JourneyStatus.SCHEDULED)
RUNNING = (JourneyStatus.LIVE, JourneyStatus.SCHEDULED, JourneyStatus.PAUSED)
ATTRIBUTION_LOOKBACK = timedelta(days=400)  # longest conversion window a journey may look back over


# --- Live journeys, cached per worker and refreshed when the workspace's generation moves ---------


@dataclass(frozen=True)
class LiveJourney:
    journey_id: int
    version_id: int
    document: Journey


_documents: dict[int, Journey] = {}
_triggers: dict[int, tuple[int, dict[str, list[LiveJourney]], bool]] = {}


def version_document(version: JourneyVersion) -> Journey:
    """Versions never change, so their parsed documents are cached for the worker's life."""
    document = _documents.get(version.pk)
    if document is None:
        document = _documents[version.pk] = parse_journey(version.document)
    return document


def document_for(version_id: int) -> Journey:
    """The parsed document of a version, read from the database only the first time."""
    document = _documents.get(version_id)
    if document is None:
        document = version_document(JourneyVersion.objects.get(pk=version_id))
    return document


def live_index(workspace_id: int) -> tuple[dict[str, list[LiveJourney]], bool]:
    """Journeys taking entries, by entry event name (an activity costs O(journeys it triggers)), and
    whether any journey of the workspace is running at all. Refreshed when the generation moves."""
    generation = Workspace.objects.filter(pk=workspace_id).values_list("journeys_generation", flat=True).first()
    cached = _triggers.get(workspace_id)
    if cached is not None and cached[0] == generation:
        return cached[1], cached[2]
    index: dict[str, list[LiveJourney]] = {}
    rows = JourneyRow.objects.filter(
        workspace_id=workspace_id, status__in=TAKING_ENTRIES, live_version__isnull=False
    ).select_related("live_version")
    for row in rows:
        assert row.live_version is not None
        document = version_document(row.live_version)
        if document.entry.type == "event" and document.entry.event:
            index.setdefault(document.entry.event, []).append(LiveJourney(row.pk, row.live_version.pk, document))
    running = JourneyRow.objects.filter(workspace_id=workspace_id, status__in=RUNNING).exists()
    _triggers[workspace_id] = (generation or 0, index, running)
    return index, running


# --- Analytics counters, gathered per batch and written once ------------------------------------


class Writes:
    """Everything one transaction of the runtime writes besides new enrollments: counter increments,
    outbox messages, timer changes and enrollment state. Gathered while the engine runs and written
    at the end with a handful of set-based statements, whatever the batch size (rows in key order, so
    concurrent flushes lock in the same order)."""

    def __init__(self) -> None:
        self.counts: dict[tuple[int, int, str, str, str, str], int] = {}
        self.messages: list[Message] = []
        self.timers: dict[int, tuple[datetime, bool, int] | None] = {}  # enrollment → (due, held, ws) or cleared
        self.enrollments: dict[int, Enrollment] = {}

    def count(self, enrollment: Enrollment, at: datetime, metric: str, node: str = "", outcome: str = "") -> None:
        key = (enrollment.journey_id, enrollment.version_id, at.date().isoformat(), metric, node, outcome)
        self.counts[key] = self.counts.get(key, 0) + 1

    def changed(self, enrollment: Enrollment) -> None:
        self.enrollments[enrollment.pk] = enrollment

    def flush(self) -> None:
        self._enrollments()
        self._timers()
        if self.messages:
            # One message per step: the idempotency key is unique, a replayed step adds nothing.
            Message.objects.bulk_create(self.messages, ignore_conflicts=True)
        self._counts()
        self.counts, self.messages, self.timers, self.enrollments = {}, [], {}, {}

    def _enrollments(self) -> None:
        if not self.enrollments:
            return
        table = Enrollment._meta.db_table
        pg = connection.vendor == "postgresql"
        cast = {"id": "::bigint", "ts": "::timestamptz", "json": "::jsonb"} if pg else {"id": "", "ts": "", "json": ""}
        row = (
            f"(%s{cast['id']}, %s, %s{cast['ts']}, %s{cast['ts']}, %s{cast['json']}, %s{cast['ts']}, "
            f"%s{cast['ts']}, %s)"
        )
        rows = [self.enrollments[pk] for pk in sorted(self.enrollments)]
        params: list[Any] = []
        for e in rows:
            params += [
                e.pk,
                e.node,
                e.wait_started,
                e.due_at,
                json.dumps(e.path),
                e.converted_at,
                e.exit_at,
                e.exit_reason,
            ]
        with connection.cursor() as cursor:
            cursor.execute(
                f"WITH v(id, node, wait_started, due_at, path, converted_at, exit_at, exit_reason) AS "
                f"(VALUES {', '.join([row] * len(rows))}) "
                f"UPDATE {table} SET node = v.node, wait_started = v.wait_started, due_at = v.due_at, "
                f"path = v.path, converted_at = v.converted_at, exit_at = v.exit_at, exit_reason = v.exit_reason "
                f"FROM v WHERE {table}.id = v.id",
                params,
            )

    def _timers(self) -> None:
        if not self.timers:
            return
        cleared = sorted(pk for pk, timer in self.timers.items() if timer is None)
        if cleared:
            Timer.objects.filter(enrollment_id__in=cleared).delete()
        kept = sorted((pk, timer) for pk, timer in self.timers.items() if timer is not None)
        if kept:
            Timer.objects.bulk_create(
                [Timer(enrollment_id=pk, due_at=due, held=held, workspace_id=ws) for pk, (due, held, ws) in kept],
                update_conflicts=True,
                unique_fields=["enrollment"],
                update_fields=["due_at", "held"],
            )

    def _counts(self) -> None:
        if not self.counts:
            return
        table = JourneyStat._meta.db_table
        rows = sorted(self.counts.items())
        values = ", ".join(["(%s, %s, %s, %s, %s, %s, %s)"] * len(rows))
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {table} (journey_id, version_id, day, metric, node, outcome, count) VALUES {values} "
                f"ON CONFLICT (journey_id, version_id, day, metric, node, outcome) "
                f"DO UPDATE SET count = {table}.count + excluded.count",
                [value for key, count in rows for value in (*key, count)],
            )


# --- Enrollment state <-> engine instance ----------------------------------------------------------


def instance_of(enrollment: Enrollment) -> Instance:
    return Instance(
        entered_at=enrollment.entered_at,
        trigger=enrollment.trigger,
        node=enrollment.node,
        wait_started=enrollment.wait_started,
        due_at=enrollment.due_at,
        path=[Step(datetime.fromisoformat(s["at"]), s["node"], s["outcome"]) for s in enrollment.path],
        converted_at=enrollment.converted_at,
        exit_at=enrollment.exit_at,
        exit_reason=enrollment.exit_reason or None,
    )


def instance_store(enrollment: Enrollment, instance: Instance) -> None:
    enrollment.node, enrollment.wait_started, enrollment.due_at = instance.node, instance.wait_started, instance.due_at
    enrollment.path = [{"at": s.at.isoformat(), "node": s.node, "outcome": s.outcome} for s in instance.path]
    enrollment.converted_at, enrollment.exit_at = instance.converted_at, instance.exit_at
    enrollment.exit_reason = instance.exit_reason or ""


def context_for(profile: Profile, journey_id: int) -> Context:
    subject = ProfileSubject(profile)
    tz = profile.timezone or profile.workspace.timezone

    def change(effect: ChangeProfile) -> None:
        profile.traits = {**profile.traits, **effect.traits}
        profile.tags = sorted((set(profile.tags) | set(effect.add_tags)) - set(effect.remove_tags))
        profile.save(update_fields=["traits", "tags", "updated_at"])

    return Context(
        subject=subject, profile_key=str(profile.pk), journey_key=str(journey_id), timezone=tz, on_profile_change=change
    )


def apply_effects(enrollment: Enrollment, effects: list[Effect], *, paused: bool, writes: Writes) -> None:
    """Record what the engine decided; `writes.flush()` writes it in the caller's transaction."""
    writes.changed(enrollment)
    for effect in effects:
        match effect:
            case NodeEntered(node, at):
                writes.count(enrollment, at, "node_entered", node)
            case EdgeTaken(node, outcome, at):
                writes.count(enrollment, at, "edge", node, outcome)
            case Converted(at):
                writes.count(enrollment, at, "converted")
            case Exited(reason, at):
                writes.count(enrollment, at, "exited", outcome=reason)
            case SetTimer(at):
                writes.timers[enrollment.pk] = (at, paused, enrollment.workspace_id)
            case ClearTimer():
                writes.timers[enrollment.pk] = None
            case SendMessage(node, channel, template, at):
                writes.messages.append(
                    _message(enrollment, node, channel, template, {"event": enrollment.trigger}, paused)
                )
                writes.count(enrollment, at, "message", node)
            case CallWebhook(node, url, method, headers, body, at):
                request = {
                    "url": url,
                    "method": method,
                    "headers": dict(headers),
                    "body": body,
                    "event": enrollment.trigger,
                }
                writes.messages.append(_message(enrollment, node, "webhook", "", request, paused))
                writes.count(enrollment, at, "message", node)


def _message(
    enrollment: Enrollment, node: str, channel: str, template: str, payload: dict[str, Any], paused: bool
) -> Message:
    return Message(
        idempotency_key=f"journey:{enrollment.pk}:{node}:{enrollment.version_id}",
        workspace_id=enrollment.workspace_id,
        profile_id=enrollment.profile_id,
        enrollment=enrollment,
        node=node,
        channel=channel,
        template=template,
        payload=payload,
        status=MessageStatus.HELD if paused else MessageStatus.QUEUED,
    )


# --- The evaluation pipeline's consumer -----------------------------------------------------------


def activities_evaluate(workspace_id: int, activities: list[Activity]) -> None:
    """Run every activity of a stored batch through the journeys, profile by profile, in time order.

    Each profile's enrollments are read (and locked) once per batch and kept in memory while its
    activities run; everything is written together at the end.
    """
    triggers, running = live_index(workspace_id)
    if not running:
        return  # no journey live, scheduled or paused: nothing can react
    writes = Writes()
    by_profile: dict[int, list[Activity]] = {}
    for activity in activities:
        by_profile.setdefault(activity.profile_id, []).append(activity)
    for profile_id in sorted(by_profile):
        own = sorted(by_profile[profile_id], key=lambda a: (a.timestamp, a.pk))
        triggered = {live.journey_id for a in own for live in triggers.get(a.name, [])}
        known = _known_enrollments(profile_id, triggered, own[0].timestamp)
        if not known and not triggered:
            continue
        profile = _lock_profile(profile_id)
        if profile is None or profile.merged_into_id is not None:
            continue
        if known:  # read again now that the profile is ours: no other evaluation can change them
            known = _known_enrollments(profile_id, triggered, own[0].timestamp, lock=True)
        instances = {e.pk: instance_of(e) for e in known}
        for activity in own:
            _evaluate(profile, activity, triggers, known, instances, writes)
    writes.flush()


def _known_enrollments(
    profile_id: int, triggered: set[int], earliest: datetime, *, lock: bool = False
) -> list[Enrollment]:
    """The profile's enrollments that an activity may move (inside, or attributable for conversion) and,
    for journeys it may enter, its past entries (for once, lock and cap)."""
    rows = (
        Enrollment.objects.filter(
            Q(exit_at__isnull=True)
            | Q(exit_reason="completed", converted_at__isnull=True, entered_at__gte=earliest - ATTRIBUTION_LOOKBACK)
            | Q(journey_id__in=triggered),
            profile_id=profile_id,
            journey__status__in=RUNNING,
        )
        .select_related("journey")
        .order_by("pk")
    )
    if lock and connection.features.has_select_for_update:
        rows = rows.select_for_update(of=("self",))
    return list(rows)


def _lock_profile(profile_id: int) -> Profile | None:
    rows = Profile.objects.select_related("workspace").filter(pk=profile_id)
    if connection.features.has_select_for_update:
        rows = rows.select_for_update(no_key=True, of=("self",))
    return rows.first()


def _evaluate(
    profile: Profile,
    activity: Activity,
    triggers: dict[str, list[LiveJourney]],
    known: list[Enrollment],
    instances: dict[int, Instance],
    writes: Writes,
) -> None:
    given = ActivityInput(activity.name, activity.properties, activity.timestamp)
    for enrollment in list(known):
        instance = instances[enrollment.pk]
        attributable = (
            instance.exit_reason == "completed"
            and instance.converted_at is None
            and instance.entered_at >= activity.timestamp - ATTRIBUTION_LOOKBACK
        )
        if not (instance.active or attributable):
            continue
        effects = on_activity(
            document_for(enrollment.version_id), instance, given, context_for(profile, enrollment.journey_id)
        )
        if effects:
            instance_store(enrollment, instance)
            apply_effects(enrollment, effects, paused=enrollment.journey.status == JourneyStatus.PAUSED, writes=writes)
    for live in triggers.get(activity.name, []):
        entered = _try_enter(profile, activity, given, live, known, instances, writes)
        if entered is not None:
            known.append(entered)


def _try_enter(
    profile: Profile,
    activity: Activity,
    given: ActivityInput,
    live: LiveJourney,
    known: list[Enrollment],
    instances: dict[int, Instance],
    writes: Writes,
) -> Enrollment | None:
    """Enter the profile if the rules allow; the new enrollment, or None."""
    mine = [e for e in known if e.journey_id == live.journey_id]
    if any(e.entry_activity_id == activity.pk for e in mine):
        return None  # this activity already entered
    past = [PastEntry(instances[e.pk].entered_at, instances[e.pk].active) for e in mine]
    ctx = context_for(profile, live.journey_id)
    if entry_refusal(live.document, at=given.timestamp, activity=given, subject=ctx.subject, entries=past):
        return None
    instance, effects = enter(live.document, at=given.timestamp, trigger=given.properties, ctx=ctx)
    enrollment = Enrollment(
        workspace_id=profile.workspace_id,
        journey_id=live.journey_id,
        version_id=live.version_id,
        profile=profile,
        entry_activity_id=activity.pk,
        entered_at=instance.entered_at,
        trigger=dict(instance.trigger),
    )
    instance_store(enrollment, instance)
    enrollment.save()
    instances[enrollment.pk] = instance
    writes.count(enrollment, instance.entered_at, "entered")
    apply_effects(enrollment, effects, paused=False, writes=writes)
    return enrollment


# --- The timer sweep --------------------------------------------------------------------------------


def timers_fire(*, now: datetime | None = None, batch_size: int = 500, max_batches: int = 100) -> int:
    """Fire due timers in bounded batches, oldest first; returns how many fired."""
    fired = 0
    for _ in range(max_batches):
        claimed, done = _fire_batch(now or timezone.now(), batch_size)
        fired += done
        if claimed < batch_size:
            return fired
    return fired


def _fire_batch(now: datetime, batch_size: int) -> tuple[int, int]:
    """(timers claimed, timers that moved an enrollment) for one bounded batch, in one transaction."""
    with transaction.atomic():
        claim = Timer.objects.filter(held=False, due_at__lte=now).order_by("due_at", "pk")
        if connection.features.has_select_for_update:
            claim = claim.select_for_update(skip_locked=True)
        timers = list(claim.values_list("enrollment_id", flat=True)[:batch_size])
        rows = Enrollment.objects.select_related("journey", "profile__workspace").filter(pk__in=timers).order_by("pk")
        if connection.features.has_select_for_update:
            # An enrollment an evaluation holds is skipped; its timer stays for the next pass.
            rows = rows.select_for_update(skip_locked=True, of=("self",))
        writes, fired, paused = Writes(), 0, []
        for enrollment in rows:
            if enrollment.journey.status == JourneyStatus.PAUSED:
                paused.append(enrollment.pk)
                continue
            instance = instance_of(enrollment)
            ctx = context_for(enrollment.profile, enrollment.journey_id)
            effects = on_timer(document_for(enrollment.version_id), instance, now=now, ctx=ctx)
            writes.timers[enrollment.pk] = None  # this timer is spent, whatever it did
            if effects:
                instance_store(enrollment, instance)
                apply_effects(enrollment, effects, paused=False, writes=writes)
                fired += 1
        if paused:
            Timer.objects.filter(enrollment_id__in=paused).update(held=True)
        writes.flush()
        return len(timers), fired


def timers_release(journey: JourneyRow) -> int:
    """On resume: held timers fire again (in due order, by the sweep's ordering)."""
    return Timer.objects.filter(enrollment__journey=journey, held=True).update(held=False)


def timers_hold(journey: JourneyRow) -> int:
    return Timer.objects.filter(enrollment__journey=journey, held=False).update(held=True)


def generation_bump(workspace_id: int) -> None:
    Workspace.objects.filter(pk=workspace_id).update(journeys_generation=F("journeys_generation") + 1)


# --- Profiles leaving: deleted (privacy) or merged into another --------------------------------------


def enrollments_end(enrollments: list[Enrollment], *, reason: str, at: datetime, writes: Writes) -> int:
    """Exit active enrollments from outside the engine (journey stopped, profile deleted)."""
    for enrollment in enrollments:
        instance = instance_of(enrollment)
        effects = engine_stop(instance, at=at, reason=reason)
        instance_store(enrollment, instance)
        apply_effects(enrollment, effects, paused=False, writes=writes)
    return len(enrollments)


def profile_deleted(profile: Profile) -> None:
    """Before a privacy deletion removes a profile (and, by cascade, its enrollments): count the exits."""
    writes = Writes()
    active = list(Enrollment.objects.select_for_update().filter(profile=profile, exit_at__isnull=True))
    enrollments_end(active, reason="profile_deleted", at=timezone.now(), writes=writes)
    writes.flush()


def profile_merged(source: Profile, target: Profile) -> None:
    """Journey state follows a merge. Where both were inside the same journey the identified profile's
    entry continues and the anonymous one's ends (profile_deleted: that profile is gone)."""
    writes = Writes()
    target_journeys = set(
        Enrollment.objects.filter(profile=target, exit_at__isnull=True).values_list("journey_id", flat=True)
    )
    duplicates = list(
        Enrollment.objects.select_for_update().filter(
            profile=source, exit_at__isnull=True, journey_id__in=target_journeys
        )
    )
    enrollments_end(duplicates, reason="profile_deleted", at=timezone.now(), writes=writes)
    writes.flush()
    Enrollment.objects.filter(profile=source).update(profile=target)
