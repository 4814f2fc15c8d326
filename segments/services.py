"""Writes on segments: create, edit and delete (validated whole, every problem named by field), the
membership refresh (only the difference is written; joins and leaves become activities when the
segment asks), the ready-made segments, bulk tags, and what a profile merge does to memberships."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.text import slugify

from activities.identity import profiles_addressed
from activities.models import Profile
from activities.names import SEGMENT_ENTERED, SEGMENT_EXITED
from activities.segment_spec import Message as SpecMessage
from activities.store import messages_store
from config.sql import execute
from segments import selectors
from segments.builtin import BUILTIN
from segments.compiler import MAX_SEGMENT_NESTING, Sql
from segments.conditions import ConditionError, event_leaves_refused, parse_condition, profile_leaves, segments_in
from segments.models import Membership, Segment, SegmentKind, SegmentSize
from workspaces.models import Workspace
from workspaces.services import audit_log_append

logger = logging.getLogger(__name__)
FIELDS = {"name", "slug", "description", "kind", "rule", "record_changes"}
_SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
EVENTS_PER_BATCH = 500


@dataclass(frozen=True)
class Problem:
    field: str
    message: str


class SegmentError(ValueError):
    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(f"{p.field}: {p.message}" for p in problems))
        self.problems = problems


class SegmentInUse(ValueError):
    def __init__(self, usage: selectors.Usage) -> None:
        names = [f"journey {j.name!r}" for j in usage.journeys] + [f"segment {s.name!r}" for s in usage.segments]
        super().__init__(f"used by {', '.join(names)}")
        self.usage = usage


# --- Create, edit, delete ------------------------------------------------------------------------


def segment_validate(workspace: Workspace, data: Any, segment: Segment | None) -> dict[str, Any]:
    """The fields to write, or SegmentError listing every problem with its field."""
    if not isinstance(data, dict):
        raise SegmentError([Problem("segment", "must be an object")])
    problems = [Problem(key, "is not a segment field") for key in sorted(set(data) - FIELDS)]
    values: dict[str, Any] = {}

    name = data.get("name", segment.name if segment else None)
    if not isinstance(name, str) or not name.strip() or len(name) > 200:
        problems.append(Problem("name", "is required: at most 200 characters"))
    elif "\x00" in name:
        problems.append(Problem("name", "must not contain a NUL character"))
    else:
        values["name"] = name.strip()
    description = data.get("description", segment.description if segment else "")
    if not isinstance(description, str) or len(description) > 2000:
        problems.append(Problem("description", "must be text of at most 2000 characters"))
    elif "\x00" in description:
        problems.append(Problem("description", "must not contain a NUL character"))
    else:
        values["description"] = description
    record = data.get("record_changes", segment.record_changes if segment else False)
    if not isinstance(record, bool):
        problems.append(Problem("record_changes", "must be true or false"))
    else:
        values["record_changes"] = record

    kind = data.get("kind", segment.kind if segment else SegmentKind.RULE)
    if kind not in SegmentKind.values:
        problems.append(Problem("kind", 'must be "rule" or "list"'))
    elif segment is not None and kind != segment.kind:
        problems.append(Problem("kind", "cannot change: create a new segment"))
    else:
        values["kind"] = kind

    if segment is None:
        slug = data.get("slug") or slugify(values.get("name", ""))[:100]
        if not isinstance(slug, str) or not _SLUG.match(slug) or len(slug) > 100 or slug.isdigit():
            problems.append(Problem("slug", "must be lower-case letters, digits, - or _ (not only digits)"))
        elif Segment.objects.filter(workspace=workspace, slug=slug).exists():
            problems.append(Problem("slug", f"a segment with the slug {slug!r} exists"))
        else:
            values["slug"] = slug
    elif "slug" in data and data["slug"] != segment.slug:
        problems.append(Problem("slug", "cannot change: journeys and rules name the segment by it"))

    if values.get("kind") == SegmentKind.LIST:
        if data.get("rule") is not None:
            problems.append(Problem("rule", "a list has no rule: its members are the ones added to it"))
        values["rule"] = None
    elif values.get("kind") == SegmentKind.RULE:
        raw = data.get("rule", segment.rule if segment else None)
        problems += _rule_problems(workspace, raw, segment)
        values["rule"] = raw
    if problems:
        raise SegmentError(problems)
    return values


def _rule_problems(workspace: Workspace, raw: Any, segment: Segment | None) -> list[Problem]:
    if raw is None:
        return [Problem("rule", "is required: the condition members must meet")]
    try:
        parse_condition(raw, "rule")
    except ConditionError as error:
        return [Problem(error.field, error.message)]
    problems = [Problem(field, message) for field, message in event_leaves_refused(raw, "rule")]
    known = selectors.definitions(workspace.pk)
    for field, leaf in profile_leaves(raw, "rule"):
        if "in_segment" not in leaf:
            continue
        ref, where = str(leaf["in_segment"]), f"{field}.in_segment"
        target = known.get(ref)
        if target is None:
            problems.append(Problem(where, f"no segment {ref!r} in this workspace"))
            continue
        depth = _depth(target.id, known, segment.pk if segment else None, seen=())
        if depth is None:
            problems.append(Problem(where, f"segment {ref!r} includes this segment: a segment cannot include itself"))
        elif depth >= MAX_SEGMENT_NESTING:
            problems.append(Problem(where, f"segments may nest at most {MAX_SEGMENT_NESTING} levels"))
    return problems


def _depth(segment_id: int, known: dict, own: int | None, *, seen: tuple[int, ...]) -> int | None:
    """How deep the segments a segment includes go; None when they lead back to `own` (or loop)."""
    if segment_id == own or segment_id in seen:
        return None
    definition = next((d for d in known.values() if d.id == segment_id), None)
    if definition is None or definition.condition is None:
        return 1
    deepest = 1
    for ref in segments_in(definition.condition):
        inner = known.get(ref)
        if inner is None:
            continue
        depth = _depth(inner.id, known, own, seen=(*seen, segment_id))
        if depth is None:
            return None
        deepest = max(deepest, depth + 1)
    return deepest


@transaction.atomic
def segment_create(*, workspace: Workspace, actor: User | None, data: Any, builtin: bool = False) -> Segment:
    values = segment_validate(workspace, data, None)
    try:
        with transaction.atomic():
            segment = Segment.objects.create(
                workspace=workspace, created_by=actor, updated_by=actor, builtin=builtin, **values
            )
    except IntegrityError as error:  # a concurrent create took the slug
        raise SegmentError([Problem("slug", f"a segment with the slug {values['slug']!r} exists")]) from error
    audit_log_append(workspace=workspace, actor=actor, action="created", obj=segment)
    _refresh_soon(segment)
    return segment


@transaction.atomic
def segment_update(*, segment: Segment, actor: User | None, data: Any) -> Segment:
    segment = Segment.objects.select_for_update().get(pk=segment.pk)
    values = segment_validate(segment.workspace, data, segment)
    changed = [key for key, value in values.items() if getattr(segment, key) != value]
    for key in changed:
        setattr(segment, key, values[key])
    if "rule" in changed:
        segment.rule_version += 1  # the next refresh recomputes silently
    segment.updated_by = actor
    segment.save(update_fields=[*changed, "rule_version", "updated_by", "updated_at"])
    audit_log_append(
        workspace=segment.workspace, actor=actor, action="changed", obj=segment, changes={"fields": changed}
    )
    if "rule" in changed:
        _refresh_soon(segment)
    return segment


@transaction.atomic
def segment_delete(*, segment: Segment, actor: User | None) -> None:
    """Refused (SegmentInUse) while a running journey or another segment names it."""
    usage = selectors.segment_usage(segment)
    if usage:
        raise SegmentInUse(usage)
    audit_log_append(workspace=segment.workspace, actor=actor, action="deleted", obj=segment)
    segment.delete()


def _refresh_soon(segment: Segment) -> None:
    if segment.kind == SegmentKind.RULE:
        from segments.tasks import refresh_soon

        refresh_soon(segment.pk)


def builtins_install(workspace: Workspace) -> None:
    """Every new workspace gets the ready-made segments (segments/builtin.py), editable."""
    for definition in BUILTIN:
        if not Segment.objects.filter(workspace=workspace, slug=definition["slug"]).exists():
            segment_create(workspace=workspace, actor=None, data=dict(definition), builtin=True)


# --- Refresh ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Refresh:
    size: int
    entered: int
    exited: int
    silent: bool  # the first compute of this rule: nothing recorded


def segment_refresh(*, segment_id: int, now: datetime | None = None) -> Refresh | None:
    """Recompute a rule segment's members and write only the difference, in one transaction with its
    size sample and (when it asks, and it is not the rule's first compute) segment_entered /
    segment_exited activities. None when another refresh holds the segment or it is gone."""
    moment = now or timezone.now()
    with transaction.atomic():
        rows = Segment.objects.filter(pk=segment_id, kind=SegmentKind.RULE)
        if connection.features.has_select_for_update:
            rows = rows.select_for_update(skip_locked=True)
        segment = rows.select_related("workspace").first()
        if segment is None:
            return None
        rule = selectors.segment_rule(segment)
        assert rule is not None
        query = selectors.matching(segment.workspace_id, rule, now=moment)
        silent = segment.computed_version != segment.rule_version
        wants_ids = segment.record_changes and not silent
        try:
            with transaction.atomic():
                if connection.vendor == "postgresql":
                    timeout = settings.NUDGE_SEGMENT_REFRESH_TIMEOUT_SECONDS * 1000
                    execute("SELECT set_config('statement_timeout', %s, true)", [str(timeout)])
                    difference = _difference_postgres(segment, query, moment, wants_ids)
                    execute("SELECT set_config('statement_timeout', '0', true)", [])
                else:
                    difference = _difference_portable(segment, query, moment)
        except DatabaseError as error:  # the rule took longer than the refresh may (or the database failed)
            logger.warning("refreshing segment %s failed: %s", segment.pk, error)
            Segment.objects.filter(pk=segment.pk).update(refresh_error=str(error)[:500], refreshed_at=moment)
            return None
        segment.refreshes += 1
        if wants_ids:
            changes_record(segment, entered=difference.entered, exited=difference.exited, at=moment)
        segment.size, segment.refreshed_at, segment.refresh_error = difference.size, moment, ""
        segment.computed_version = segment.rule_version
        segment.save(update_fields=["size", "refreshed_at", "refresh_error", "computed_version", "refreshes"])
        SegmentSize.objects.create(
            segment=segment,
            at=moment,
            size=difference.size,
            entered=difference.entered_count,
            exited=difference.exited_count,
        )
        return Refresh(difference.size, difference.entered_count, difference.exited_count, silent)


@dataclass(frozen=True)
class _Difference:
    size: int
    entered: list[int]  # the ids, when asked for; else empty
    exited: list[int]
    entered_count: int
    exited_count: int


def _difference_postgres(segment: Segment, query: Sql, at: datetime, wants_ids: bool) -> _Difference:
    """One statement: the rule's answer materialised once, members no longer in it deleted, new ones
    inserted; the ids that changed come back only when they will be recorded."""
    table = Membership._meta.db_table
    changed = (
        "SELECT 'in', profile_id FROM inserted UNION ALL SELECT 'out', profile_id FROM deleted"
        if wants_ids
        else "SELECT 'in#', count(*) FROM inserted UNION ALL SELECT 'out#', count(*) FROM deleted"
    )
    rows = execute(
        f"WITH answer AS MATERIALIZED ({query.text}),"
        f" deleted AS (DELETE FROM {table} m WHERE m.segment_id = %s"
        f" AND NOT EXISTS (SELECT 1 FROM answer WHERE answer.id = m.profile_id) RETURNING m.profile_id),"
        f" inserted AS (INSERT INTO {table} (segment_id, profile_id, since) SELECT %s, answer.id, %s FROM answer"
        f" WHERE NOT EXISTS (SELECT 1 FROM {table} m WHERE m.segment_id = %s AND m.profile_id = answer.id)"
        f" RETURNING profile_id)"
        f" {changed} UNION ALL SELECT 'size', count(*) FROM answer",
        [*query.params, segment.pk, segment.pk, at, segment.pk],
    )
    found: dict[str, list[int]] = {"in": [], "out": [], "in#": [0], "out#": [0], "size": [0]}
    for kind, value in rows:
        found[kind] = [*found[kind], int(value)] if kind in ("in", "out") else [int(value)]
    entered = len(found["in"]) if wants_ids else found["in#"][0]
    exited = len(found["out"]) if wants_ids else found["out#"][0]
    return _Difference(found["size"][0], found["in"], found["out"], entered, exited)


def _difference_portable(segment: Segment, query: Sql, at: datetime) -> _Difference:
    """The same difference computed here (SQLite has no data-modifying WITH)."""
    with connection.cursor() as cursor:
        cursor.execute(query.text, query.params)
        answer = {row[0] for row in cursor.fetchall()}
    current = set(Membership.objects.filter(segment=segment).values_list("profile_id", flat=True))
    entered, exited = sorted(answer - current), sorted(current - answer)
    for start in range(0, len(exited), 900):
        Membership.objects.filter(segment=segment, profile_id__in=exited[start : start + 900]).delete()
    Membership.objects.bulk_create(
        [Membership(segment=segment, profile_id=pk, since=at) for pk in entered], batch_size=500
    )
    return _Difference(len(answer), entered, exited, len(entered), len(exited))


def changes_record(segment: Segment, *, entered: Iterable[int], exited: Iterable[int], at: datetime) -> int:
    """segment_entered / segment_exited on the profiles, through ingestion's store (same transaction),
    so the pipeline hands them to journeys; keyed per segment refresh, so each is stored once."""
    changes = [(pk, SEGMENT_ENTERED) for pk in entered] + [(pk, SEGMENT_EXITED) for pk in exited]
    addressed = profiles_addressed(pk for pk, _ in changes)
    properties = {"segment": segment.slug, "segment_id": segment.pk, "segment_name": segment.name}
    messages = [
        SpecMessage(
            type="track",
            name=name,
            message_id=f"segment:{segment.pk}:{segment.refreshes}:{name}:{pk}",
            timestamp=at,
            user_id=addressed[pk][0],
            anonymous_id=addressed[pk][1],
            properties=properties,
        )
        for pk, name in changes
        if pk in addressed
    ]
    for start in range(0, len(messages), EVENTS_PER_BATCH):
        messages_store(
            workspace_id=segment.workspace_id, messages=messages[start : start + EVENTS_PER_BATCH], received_at=at
        )
    return len(messages)


def segments_refresh_due(*, now: datetime | None = None, budget_seconds: float = 50.0) -> int:
    """Refresh rule segments whose membership is older than NUDGE_SEGMENT_REFRESH_SECONDS (or was never
    computed for their rule), oldest first, until the budget is spent; returns how many were refreshed."""
    moment = now or timezone.now()
    started = time.monotonic()
    stale = moment - timedelta(seconds=settings.NUDGE_SEGMENT_REFRESH_SECONDS)
    due = (
        Segment.objects.filter(kind=SegmentKind.RULE)
        .filter(Q(refreshed_at__isnull=True) | Q(refreshed_at__lte=stale) | ~Q(computed_version=F("rule_version")))
        .order_by("refreshed_at")
        .values_list("pk", flat=True)
    )
    done = 0
    for pk in list(due[:1000]):
        if time.monotonic() - started > budget_seconds:
            break
        if segment_refresh(segment_id=pk, now=moment) is not None:
            done += 1
    return done


# --- Sizes of lists, bulk tags, merges ---------------------------------------------------------------


def list_size_record(segment: Segment, *, entered: int, exited: int) -> None:
    """After a list changed: its size now, sampled."""
    now = timezone.now()
    size = Membership.objects.filter(segment=segment).count()
    Segment.objects.filter(pk=segment.pk).update(size=size, refreshed_at=now)
    SegmentSize.objects.create(segment=segment, at=now, size=size, entered=entered, exited=exited)


@transaction.atomic
def tags_change(
    *,
    workspace: Workspace,
    actor: User | None,
    add: list[str],
    remove: list[str],
    profile_ids: list[int] | None = None,
    segment: Segment | None = None,
) -> int:
    """Add and remove tags on many profiles at once (given by id, or every member of a segment now);
    returns how many profiles were touched."""
    if segment is not None:
        if segment.kind == SegmentKind.LIST:
            ids = list(Membership.objects.filter(segment=segment).values_list("profile_id", flat=True))
        else:
            rule = selectors.segment_rule(segment)
            assert rule is not None
            query = selectors.matching(workspace.pk, rule)
            with connection.cursor() as cursor:
                cursor.execute(query.text, query.params)
                ids = [row[0] for row in cursor.fetchall()]
    else:
        ids = list(
            Profile.objects.live().filter(workspace=workspace, pk__in=profile_ids or []).values_list("pk", flat=True)
        )
    ids.sort()
    adding, removing = set(add), set(remove)
    for start in range(0, len(ids), 1000):
        chunk = Profile.objects.filter(pk__in=ids[start : start + 1000]).order_by("pk")
        if connection.features.has_select_for_update:
            chunk = chunk.select_for_update(no_key=True)
        rows = list(chunk.only("pk", "tags"))
        for profile in rows:
            current = set(profile.tags) if isinstance(profile.tags, list) else set()
            profile.tags = sorted((current | adding) - removing)
        Profile.objects.bulk_update(rows, ["tags"], batch_size=500)
    audit_log_append(
        workspace=workspace,
        actor=actor,
        action="tagged",
        object_type="profile",
        changes={"add": sorted(adding), "remove": sorted(removing), "profiles": len(ids)}
        | ({"segment": segment.slug} if segment is not None else {}),
    )
    return len(ids)


def profile_merged(source: Profile, target: Profile) -> None:
    """A merged-away profile leaves its segments now (no segment_exited: the person did not leave);
    its list memberships pass to the profile it merged into."""
    lists = list(
        Membership.objects.filter(profile=source, segment__kind=SegmentKind.LIST).values_list("segment_id", "since")
    )
    Membership.objects.filter(profile=source).delete()
    Membership.objects.bulk_create(
        [Membership(segment_id=segment_id, profile=target, since=since) for segment_id, since in lists],
        ignore_conflicts=True,
    )
