"""Reads of segments, shared by the API, the journeys runtime and tasks: who is in a segment now (by the
compiled rule, for a whole audience or a few profiles at once), sizes, members, what uses a segment."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from django.db import DatabaseError, connection, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from activities.models import Profile
from journeys.models import Journey, JourneyStatus
from segments.compiler import Dialect, Postgres, Scope, SegmentDef, Sql, Sqlite, compile_condition, compile_count
from segments.conditions import (
    AllOf,
    AnyOf,
    Condition,
    ConditionError,
    InSegment,
    NotOf,
    parse_condition,
    segments_in,
)
from segments.models import Membership, Segment, SegmentKind

_parsed: dict[tuple[int, int], Condition | None] = {}  # (segment, rule version) → its parsed rule
_icu: dict[str, bool] = {}


def dialect() -> Dialect:
    """The compiler's dialect for the default database."""
    if connection.vendor != "postgresql":
        return Sqlite()
    found = _icu.get(connection.alias)
    if found is None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT EXISTS (SELECT 1 FROM pg_collation WHERE collname = 'und-x-icu')")
            found = _icu[connection.alias] = bool(cursor.fetchone()[0])
    return Postgres(icu=found)


def segment_rule(segment: Segment) -> Condition | None:
    """A rule segment's parsed rule (cached per version: rules change only through services)."""
    if segment.kind != SegmentKind.RULE or segment.rule is None:
        return None
    key = (segment.pk, segment.rule_version)
    if key not in _parsed:
        _parsed[key] = parse_condition(segment.rule, "rule")
    return _parsed[key]


def definitions(workspace_id: int) -> dict[str, SegmentDef]:
    """Every segment of the workspace by each way a condition may name it: its id and its slug. Rules
    are read and parsed only for versions this process has not seen (asked on every entry check)."""
    rows = list(Segment.objects.filter(workspace_id=workspace_id).values_list("pk", "slug", "kind", "rule_version"))
    unseen = [pk for pk, _, kind, version in rows if kind == SegmentKind.RULE and (pk, version) not in _parsed]
    if unseen:
        for pk, rule, version in Segment.objects.filter(pk__in=unseen).values_list("pk", "rule", "rule_version"):
            try:
                _parsed[(pk, version)] = parse_condition(rule, "rule") if rule is not None else None
            except ConditionError:
                _parsed[(pk, version)] = None  # stored before a stricter vocabulary: holds nobody
    found: dict[str, SegmentDef] = {}
    for pk, slug, kind, version in rows:
        definition = SegmentDef(pk, kind, _parsed.get((pk, version)) if kind == SegmentKind.RULE else None)
        found[str(pk)] = found[slug] = definition
    return found


def segment_resolve(workspace_id: int, ref: str | int) -> Segment | None:
    """The workspace's segment a condition or document names, by id or slug."""
    text = str(ref)
    query = Q(pk=int(text)) if text.isdigit() else Q(slug=text)
    return Segment.objects.filter(query, workspace_id=workspace_id).first()


def matching(
    workspace_id: int,
    condition: Condition,
    *,
    profile_ids: Iterable[int] | None = None,
    now: datetime | None = None,
    known: Mapping[str, SegmentDef] | None = None,
) -> Sql:
    """The query selecting the ids of the workspace's profiles (or of `profile_ids`) the condition holds for."""
    resolve = (known if known is not None else definitions(workspace_id)).get
    scope = Scope(workspace_id, tuple(profile_ids) if profile_ids is not None else None)
    return compile_condition(condition, dialect=dialect(), scope=scope, now=now or timezone.now(), resolve=resolve)


def _ids(query: Sql) -> set[int]:
    with connection.cursor() as cursor:
        cursor.execute(query.text, query.params)
        return {row[0] for row in cursor.fetchall()}


def memberships(
    workspace_id: int, refs: Iterable[str], profile_ids: Iterable[int], *, now: datetime | None = None
) -> dict[str, set[int]]:
    """For each named segment, which of these profiles are in it now: one query per segment for all the
    profiles together (how journeys check their audience for a batch)."""
    ids = sorted(set(profile_ids))
    wanted = sorted(set(refs))
    if not ids or not wanted:
        return {ref: set() for ref in wanted}
    known = definitions(workspace_id)
    return {
        ref: _ids(matching(workspace_id, InSegment(ref), profile_ids=ids, now=now, known=known))
        if ref in known
        else set()
        for ref in wanted
    }


def in_segment(workspace_id: int, ref: str, profile_id: int, *, now: datetime | None = None) -> bool:
    """Is this profile in the segment now? The rule asked of one profile: index reads, no audience scan."""
    return profile_id in memberships(workspace_id, [ref], [profile_id], now=now)[ref]


def history_count(profile_id: int, name: str, where: Condition | None, since: datetime | None, until: datetime) -> int:
    query = compile_count(name, where, dialect=dialect(), profile_id=profile_id, since=since, until=until)
    with connection.cursor() as cursor:
        cursor.execute(query.text, query.params)
        return int(cursor.fetchone()[0])


@dataclass(frozen=True)
class Estimate:
    size: int | None  # None: it did not finish within the time allowed
    profiles: int


def estimate(workspace_id: int, condition: Condition, *, timeout_ms: int) -> Estimate:
    """How many profiles an (unsaved) rule holds now, given at most `timeout_ms` (PostgreSQL)."""
    profiles = Profile.objects.live().filter(workspace_id=workspace_id).count()
    query = matching(workspace_id, condition)
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute("SELECT set_config('statement_timeout', %s, true)", [str(int(timeout_ms))])
            cursor.execute(f"SELECT count(*) FROM ({query.text}) counted", query.params)
            return Estimate(int(cursor.fetchone()[0]), profiles)
    except DatabaseError as error:
        if getattr(error.__cause__, "sqlstate", None) == "57014":  # query_canceled: the timeout
            return Estimate(None, profiles)
        raise


def segment_members(segment: Segment) -> QuerySet[Membership]:
    """The members as of the last refresh (a list's members as they are), newest first."""
    return (
        Membership.objects.filter(segment=segment, profile__merged_into__isnull=True)
        .select_related("profile")
        .order_by("-since", "-profile_id")
    )


def profile_segments(profile: Profile) -> list[tuple[Segment, datetime | None]]:
    """The segments a profile is in now (rules asked now, lists by their members), with since when
    (a rule's: since the refresh that first saw it there)."""
    segments = list(Segment.objects.filter(workspace_id=profile.workspace_id).order_by("name"))
    since = dict(Membership.objects.filter(profile=profile).values_list("segment_id", "since"))
    known = definitions(profile.workspace_id)
    now = timezone.now()
    found = []
    for segment in segments:
        if segment.kind == SegmentKind.LIST:
            inside = segment.pk in since
        else:
            inside = profile.pk in _ids(
                matching(
                    profile.workspace_id, InSegment(str(segment.pk)), profile_ids=[profile.pk], now=now, known=known
                )
            )
        if inside:
            found.append((segment, since.get(segment.pk)))
    return found


@dataclass(frozen=True)
class Usage:
    journeys: list[Journey]
    segments: list[Segment]

    def __bool__(self) -> bool:
        return bool(self.journeys or self.segments)


def segment_usage(segment: Segment) -> Usage:
    """What would break without this segment: running journeys whose live version names it (audience,
    exclusions, conditions), and other segments whose rules include it."""
    names = {str(segment.pk), segment.slug}
    journeys = []
    running = Journey.objects.filter(
        workspace_id=segment.workspace_id,
        status__in=(JourneyStatus.LIVE, JourneyStatus.SCHEDULED, JourneyStatus.PAUSED),
        live_version__isnull=False,
    ).select_related("live_version")
    for journey in running:
        assert journey.live_version is not None
        if names & document_segments(journey.live_version.document):
            journeys.append(journey)
    segments = []
    for other in Segment.objects.filter(workspace_id=segment.workspace_id, kind=SegmentKind.RULE).exclude(
        pk=segment.pk
    ):
        try:
            rule = segment_rule(other)
        except ConditionError:
            continue
        if rule is not None and names & segments_in(rule):
            segments.append(other)
    return Usage(journeys, segments)


def document_segments(document: object) -> set[str]:
    """Every segment a journey document names (audience, exclusions, any condition), as written."""
    found: set[str] = set()

    def walk(value: object, key: str = "") -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                if k == "in_segment" and isinstance(v, (str, int)) and not isinstance(v, bool):
                    found.add(str(v))
                walk(v, k)
        elif isinstance(value, list):
            if key in ("segments", "exclude_segments"):
                found.update(str(v) for v in value if isinstance(v, (str, int)) and not isinstance(v, bool))
            for item in value:
                walk(item)

    walk(document)
    return found


def audience_condition(segments: Iterable[str], excluded: Iterable[str], where: Condition | None) -> Condition:
    """A journey's audience as one condition: in any of `segments` (none: everybody), in none of
    `excluded`, and `where` (a scheduled journey's entry filter on the profile)."""
    parts: list[Condition] = []
    included = [InSegment(ref) for ref in segments]
    if included:
        parts.append(AnyOf(tuple(included)))
    left_out = [InSegment(ref) for ref in excluded]
    if left_out:
        parts.append(NotOf(AnyOf(tuple(left_out))))
    if where is not None:
        parts.append(where)
    return AllOf(tuple(parts))
