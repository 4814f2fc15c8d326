"""The live runtime's shared parts: the unit of work every path writes through (`Writes`), the
mapping between enrollment rows and engine instances, effects into writes, the durable timer sweep,
and what happens to journeys when a profile is deleted or merged. Activities reach the engine through
`journeys.evaluation`; the cached index of running journeys is `journeys.live`.

Locks, always in this order: profile rows (FOR NO KEY UPDATE, in id order: one evaluation per profile at
a time, which is what makes entry rules hold under concurrent events), then their enrollments. The
sweep claims timers with SKIP LOCKED and skips an enrollment or profile another transaction holds, so it
never waits in a cycle with the evaluation path; a skipped timer fires on the next pass.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any

from django.db import connection, transaction
from django.db.models import QuerySet
from django.utils import timezone
from orjson import loads

from activities.identity import profiles_addressed
from activities.models import Profile
from activities.recorded import RecordedActivity, recorded_write
from activities.segment_spec import Message as SpecMessage
from activities.store import messages_store
from config.sql import insert_columns, raw_cursor, update_columns
from journeys.engine import (
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
    Recorded,
    SendMessage,
    SetTimer,
    Step,
    on_timer,
)
from journeys.engine import stop as engine_stop
from journeys.live import document_for, version_reads_profile
from journeys.models import Enrollment, JourneyStatus
from journeys.models import Journey as JourneyRow
from journeys.stats import StatKey, stats_add
from journeys.subject import BatchHistory, ProfileSubject
from messaging.models import Message, MessageStatus
from messaging.tasks import deliver_soon

# --- Enrollments as the hot paths hold them ---------------------------------------------------------


@dataclass(slots=True, eq=False)
class EnrollmentRow:
    """An enrollment's columns without a model: what the evaluation and the sweep read, create and
    write, thousands per batch (a model costs ten times as much to build and to read). Attribute names
    are the model's, so everything that takes an `Enrollment` takes a row too."""

    pk: int  # 0 until the flush that inserts it gives it its key
    workspace_id: int
    journey_id: int
    version_id: int
    profile_id: int
    entry_activity_id: int | None
    entered_at: datetime
    trigger: dict[str, Any]
    node: str | None = None
    wait_started: datetime | None = None
    due_at: datetime | None = None
    timer_held: bool = False
    path: list[dict[str, Any]] = field(default_factory=list)
    converted_at: datetime | None = None
    exit_at: datetime | None = None
    exit_reason: str = ""

    def model(self) -> Enrollment:
        """The model of the row (unsaved and keyless if the row is new)."""
        values = {name: getattr(self, name) for name in ROW_FIELDS}
        return Enrollment(**{**values, "pk": self.pk or None})


ROW_FIELDS = tuple(f.name for f in fields(EnrollmentRow))  # pk first: the column order `rows_locked` reads
EnrollmentLike = Enrollment | EnrollmentRow
TRIGGER, PATH = ROW_FIELDS.index("trigger"), ROW_FIELDS.index("path")  # the JSON columns `rows_locked` parses


def rows_locked(queryset: QuerySet[Enrollment], *, skip_locked: bool = False) -> list[EnrollmentRow]:
    """The queryset's enrollments as rows, locked (FOR NO KEY UPDATE) where the database can. On
    PostgreSQL the queryset's SQL runs on psycopg's cursor and the JSON columns are parsed by orjson:
    Django's per-value converters were most of the cost of reading a sweep's batch."""
    if connection.features.has_select_for_update:
        queryset = queryset.select_for_update(no_key=True, skip_locked=skip_locked)
    values = queryset.values_list(*ROW_FIELDS)
    if connection.vendor != "postgresql":
        return [EnrollmentRow(*row) for row in values]
    sql, params = values.query.sql_with_params()
    with raw_cursor() as cursor:
        cursor.execute(sql, params)
        rows = [list(row) for row in cursor.fetchall()]
    for row in rows:
        row[TRIGGER], row[PATH] = loads(row[TRIGGER]), loads(row[PATH])
    return [EnrollmentRow(*row) for row in rows]


# --- Writes, gathered per transaction and made at its end -----------------------------------------


class Writes:
    """Everything one transaction of the runtime writes: new enrollments, counter increments, outbox
    messages and enrollment state (its timer included). Gathered while the engine runs and written at the end
    with a handful of set-based statements, whatever the batch size (rows in key order, so concurrent
    flushes lock in the same order). New enrollments get their keys at flush, so everything that refers
    to an enrollment is held by the object until then."""

    def __init__(self) -> None:
        self._clear()

    def _clear(self) -> None:
        self.counts: dict[StatKey, int] = {}
        self.new: list[EnrollmentLike] = []
        self.changed_rows: dict[int, EnrollmentLike] = {}  # by id(): new enrollments have no key yet
        self.messages: list[tuple[EnrollmentLike, str, str, str, dict[str, Any], bool]] = []
        self.recorded: list[tuple[EnrollmentLike, Recorded]] = []  # activities to store on the profile

    def count(self, enrollment: EnrollmentLike, at: datetime, metric: str, node: str = "", outcome: str = "") -> None:
        key = (enrollment.journey_id, enrollment.version_id, at.date(), metric, node, outcome)
        self.counts[key] = self.counts.get(key, 0) + 1

    def enroll(self, enrollment: EnrollmentLike) -> None:
        """A new enrollment, inserted (with its state as it stands at flush) before what refers to it."""
        self.new.append(enrollment)
        self.count(enrollment, enrollment.entered_at, "entered")

    def changed(self, enrollment: EnrollmentLike) -> None:
        self.changed_rows[id(enrollment)] = enrollment

    def timer(self, enrollment: EnrollmentLike, due: tuple[datetime, bool] | None) -> None:
        """The enrollment's timer, set (due time, held because its journey is paused) or cleared; it is
        written with the enrollment's state."""
        enrollment.due_at, enrollment.timer_held = due if due is not None else (None, False)
        self.changed(enrollment)

    def flush(self) -> None:
        self._update()  # first: a restarted instance must have left before its successor comes in
        self._insert()
        self._messages()
        self._counts()
        self._record()
        self._clear()

    def _record(self) -> None:
        """Recorded activities go through ingestion's store (same transaction), so the pipeline hands
        them to every journey like any activity; keyed by entry, node and version, stored once."""
        by_workspace: dict[int, list[tuple[int, Recorded, str]]] = {}
        for enrollment, effect in self.recorded:
            key = f"journey:{enrollment.pk}:{effect.node}:{enrollment.version_id}"
            by_workspace.setdefault(enrollment.workspace_id, []).append((enrollment.profile_id, effect, key))
        for workspace_id, recorded in by_workspace.items():
            recorded_store(workspace_id, recorded)

    def _insert(self) -> None:
        if not self.new:
            return
        if connection.vendor != "postgresql":
            models = [e if isinstance(e, Enrollment) else e.model() for e in self.new]
            Enrollment.objects.bulk_create(models)
            for enrollment, model in zip(self.new, models, strict=True):
                enrollment.pk = model.pk
            return
        # The keys come back in the order of the rows, as Django's own bulk_create relies on for the
        # same INSERT … SELECT FROM unnest … RETURNING.
        ids = insert_columns(
            Enrollment._meta.db_table,
            {**ENROLLMENT_FIXED, **ENROLLMENT_STATE},
            [(*_fixed(e), *_state(e)) for e in self.new],
            returning="id",
        )
        for enrollment, (pk,) in zip(self.new, ids, strict=True):
            enrollment.pk = pk

    def _update(self) -> None:
        inserted = {id(e) for e in self.new}
        rows = sorted((e for key, e in self.changed_rows.items() if key not in inserted), key=lambda e: e.pk)
        update_columns(Enrollment._meta.db_table, "id", ENROLLMENT_STATE, [(e.pk, *_state(e)) for e in rows])

    def _messages(self) -> None:
        """One message per step: the idempotency key is unique, so a replayed step adds nothing."""
        now = timezone.now()
        rows: list[tuple] = [
            (
                f"journey:{e.pk}:{node}:{e.version_id}",
                e.workspace_id,
                e.profile_id,
                e.pk,
                node,
                channel,
                template,
                payload,
                MessageStatus.HELD if paused else MessageStatus.QUEUED,
                "",
                0,
                now,
                now,
                now,
                "",
                "",
                {},
            )
            for e, node, channel, template, payload, paused in self.messages
        ]
        insert_columns(
            Message._meta.db_table, MESSAGE_COLUMNS, rows, conflict="ON CONFLICT (idempotency_key) DO NOTHING"
        )
        if any(row[8] == MessageStatus.QUEUED for row in rows):
            transaction.on_commit(deliver_soon)

    def _counts(self) -> None:
        stats_add(self.counts)


ENROLLMENT_FIXED = {
    "workspace_id": "bigint",
    "journey_id": "bigint",
    "version_id": "bigint",
    "profile_id": "bigint",
    "entry_activity_id": "bigint",
    "entered_at": "timestamptz",
    "trigger": "jsonb",
}
ENROLLMENT_STATE = {
    "node": "text",
    "wait_started": "timestamptz",
    "due_at": "timestamptz",
    "timer_held": "boolean",
    "path": "jsonb",
    "converted_at": "timestamptz",
    "exit_at": "timestamptz",
    "exit_reason": "text",
}
MESSAGE_COLUMNS = {
    "idempotency_key": "text",
    "workspace_id": "bigint",
    "profile_id": "bigint",
    "enrollment_id": "bigint",
    "node": "text",
    "channel": "text",
    "template": "text",
    "payload": "jsonb",
    "status": "text",
    "status_reason": "text",
    "attempts": "integer",
    "created_at": "timestamptz",
    "updated_at": "timestamptz",
    "send_after": "timestamptz",
    "category": "text",  # settled from the template when delivery claims it
    "provider_message_id": "text",
    "rendered": "jsonb",
}


def _fixed(e: EnrollmentLike) -> tuple:
    return (e.workspace_id, e.journey_id, e.version_id, e.profile_id, e.entry_activity_id, e.entered_at, e.trigger)


def _state(e: EnrollmentLike) -> tuple:
    return (e.node, e.wait_started, e.due_at, e.timer_held, e.path, e.converted_at, e.exit_at, e.exit_reason)


def recorded_store(
    workspace_id: int,
    recorded: list[tuple[int, Recorded, str]],
    *,
    historical: bool = False,
    context: dict[str, Any] | None = None,
) -> int:
    """Store what `record_activity` steps recorded — (profile id, effect, message id) — on their profiles,
    in the caller's transaction; a message id is stored once. `historical` ones are not handed to the
    pipeline. Returns how many were about profiles that could take them.

    On PostgreSQL one statement writes them all (`activities.recorded`: the profile is known, nothing
    to resolve); SQLite takes ingestion's general store, by the profile's user or anonymous id."""
    if connection.vendor == "postgresql":
        rows = [RecordedActivity(pk, effect.name, effect.properties, effect.at, key) for pk, effect, key in recorded]
        return recorded_write(workspace_id, rows, received_at=timezone.now(), historical=historical, context=context)
    addressed = profiles_addressed(profile_id for profile_id, _, _ in recorded)
    messages = [
        SpecMessage(
            type="track",
            name=effect.name,
            message_id=key,
            timestamp=effect.at,
            user_id=addressed[profile_id][0],
            anonymous_id=addressed[profile_id][1],
            properties=dict(effect.properties),
            context=dict(context or {}),
        )
        for profile_id, effect, key in recorded
        if profile_id in addressed
    ]
    if messages:
        messages_store(workspace_id=workspace_id, messages=messages, received_at=timezone.now(), historical=historical)
    return len(messages)


# --- Enrollment state <-> engine instance ----------------------------------------------------------


def instance_of(enrollment: EnrollmentLike) -> Instance:
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


def instance_store(enrollment: EnrollmentLike, instance: Instance) -> None:
    enrollment.node, enrollment.wait_started, enrollment.due_at = instance.node, instance.wait_started, instance.due_at
    enrollment.path = [{"at": s.at.isoformat(), "node": s.node, "outcome": s.outcome} for s in instance.path]
    enrollment.converted_at, enrollment.exit_at = instance.converted_at, instance.exit_at
    enrollment.exit_reason = instance.exit_reason or ""


def context_for(
    profile: Profile,
    journey_id: int,
    *,
    segments: Mapping[str, bool] | None = None,
    history: BatchHistory | None = None,
    subject: ProfileSubject | None = None,
) -> Context:
    """`segments`, `history`: what a caller answered for a whole batch already (segment membership,
    plain history counts); `subject`: the profile's, shared by the contexts of its journeys (what it
    asked once it remembers)."""
    subject = subject or ProfileSubject(profile, segments=segments, history=history)
    tz = profile.timezone or profile.workspace.timezone

    def change(effect: ChangeProfile) -> None:
        profile.traits = {**profile.traits, **effect.traits}
        profile.tags = sorted((set(profile.tags) | set(effect.add_tags)) - set(effect.remove_tags))
        profile.save(update_fields=["traits", "tags", "updated_at"])

    return Context(
        subject=subject, profile_key=str(profile.pk), journey_key=str(journey_id), timezone=tz, on_profile_change=change
    )


def apply_effects(
    enrollment: EnrollmentLike,
    effects: list[Effect],
    *,
    paused: bool,
    writes: Writes,
    event: dict[str, Any] | None = None,
) -> None:
    """Record what the engine decided; `writes.flush()` writes it in the caller's transaction. `event`
    is the activity that caused these steps (its properties become the message's `event`); steps a
    timer caused carry the activity that entered the journey."""
    writes.changed(enrollment)
    cause = event if event is not None else enrollment.trigger
    for effect in effects:
        if effect_count(writes, enrollment, effect):
            continue
        match effect:
            case SetTimer(at):
                writes.timer(enrollment, (at, paused))
            case ClearTimer():
                writes.timer(enrollment, None)
            case SendMessage(node, channel, template, at):
                writes.messages.append((enrollment, node, channel, template, {"event": cause}, paused))
                writes.count(enrollment, at, "message", node)
            case Recorded():
                writes.recorded.append((enrollment, effect))
            case CallWebhook(node, url, method, headers, body, at):
                request = {
                    "url": url,
                    "method": method,
                    "headers": dict(headers),
                    "body": body,
                    "event": cause,
                }
                writes.messages.append((enrollment, node, "webhook", "", request, paused))
                writes.count(enrollment, at, "message", node)


def effect_count(writes: Writes, enrollment: EnrollmentLike, effect: Effect) -> bool:
    """Count an effect that is only a counter (a node entered, an edge taken, a conversion, an exit).
    Looked up by the effect's type: most of what the engine says is counters, several per step."""
    counted = _COUNTERS.get(type(effect))
    if counted is None:
        return False
    counted(writes, enrollment, effect)
    return True


_COUNTERS: dict[type, Callable[[Writes, EnrollmentLike, Any], None]] = {
    NodeEntered: lambda writes, e, effect: writes.count(e, effect.at, "node_entered", effect.node),
    EdgeTaken: lambda writes, e, effect: writes.count(e, effect.at, "edge", effect.node, effect.outcome),
    Converted: lambda writes, e, effect: writes.count(e, effect.at, "converted"),
    Exited: lambda writes, e, effect: writes.count(e, effect.at, "exited", outcome=effect.reason),
}


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
    """(timers claimed, timers that moved an enrollment) for one bounded batch, in one transaction.

    A handful of statements whatever the batch size: claim (lock) the due enrollments, read which of
    their journeys are paused, lock only the profiles a version reads (`engine.reads_profile`: a branch,
    a profile update, a delay until a local time); then one flush, whose enrollment update is also what
    spends the timers. Most journeys' timers (a wait times out, a message goes, the entry ends) never
    touch the profile row."""
    with transaction.atomic():
        # An enrollment (or profile) an evaluation holds is skipped; it stays due for the next pass.
        # Waiting for it here, holding others, could deadlock with an evaluation (which locks profiles,
        # then enrollments).
        due = Enrollment.objects.filter(due_at__lte=now, timer_held=False).order_by("due_at")[:batch_size]
        enrollments = rows_locked(due, skip_locked=True)
        reading = {e.profile_id for e in enrollments if version_reads_profile(e.version_id)}
        profiles = _profiles_claim(reading)
        held = set(
            JourneyRow.objects.filter(
                pk__any={e.journey_id for e in enrollments}, status=JourneyStatus.PAUSED
            ).values_list("pk", flat=True)
        )
        writes, fired, paused = Writes(), 0, []
        for enrollment in enrollments:
            if enrollment.journey_id in held:
                paused.append(enrollment.pk)
                continue
            if enrollment.profile_id in reading:
                profile = profiles.get(enrollment.profile_id)
                if profile is None:
                    continue  # held by an evaluation: the next pass
                ctx = context_for(profile, enrollment.journey_id)
            else:
                ctx = Context(
                    subject=UNREAD, profile_key=str(enrollment.profile_id), journey_key=str(enrollment.journey_id)
                )
            instance = instance_of(enrollment)
            effects = on_timer(document_for(enrollment.version_id), instance, now=now, ctx=ctx)
            writes.timer(enrollment, None)  # this timer is spent, whatever it did
            if effects:
                instance_store(enrollment, instance)
                apply_effects(enrollment, effects, paused=False, writes=writes)
                fired += 1
        if paused:
            Enrollment.objects.filter(pk__any=paused).update(timer_held=True)
        writes.flush()
        return len(enrollments), fired


class _Unread:
    """The subject of a version that never reads its profile (`engine.reads_profile`): asking it is a
    bug, never a wrong answer."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"a version that does not read the profile asked for {name!r}")


UNREAD: Any = _Unread()


def _profiles_claim(profile_ids: set[int]) -> dict[int, Profile]:
    if not profile_ids:
        return {}
    rows = Profile.objects.select_related("workspace").filter(pk__any=profile_ids).order_by("pk")
    if connection.features.has_select_for_update:
        rows = rows.select_for_update(skip_locked=True, no_key=True, of=("self",))
    return {profile.pk: profile for profile in rows}


def timers_release(journey: JourneyRow) -> int:
    """On resume: held timers fire again (in due order, by the sweep's ordering)."""
    return Enrollment.objects.filter(journey=journey, due_at__isnull=False, timer_held=True).update(timer_held=False)


def timers_hold(journey: JourneyRow) -> int:
    return Enrollment.objects.filter(journey=journey, due_at__isnull=False, timer_held=False).update(timer_held=True)


# --- Profiles leaving: deleted (privacy) or merged into another --------------------------------------


def enrollments_end(enrollments: Sequence[EnrollmentLike], *, reason: str, at: datetime, writes: Writes) -> int:
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
