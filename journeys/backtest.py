"""The backtest (wizard's Launch step): a journey's draft replayed on the engine over the workspace's
stored activities of the last days, counting what would have happened — who entered, each path taken,
the messages written, conversions — with nothing stored but the backtest row and nothing sent.

It is a what-if, and answers as one:

- profiles are as they are now: their current traits, tags, segment memberships and time zone (the
  store keeps no past versions of them); `update_profile` steps change them in memory only;
- the draft is taken as live through the whole window: its schedule's start and end are set aside (a
  scheduled journey's audience enters at the window's start, then daily at `every_day_at`), and nobody
  entered it before the window (once, lock and cap count the entries inside it);
- the virtual clock runs to `until`: waits whose timeout falls inside the window time out, those still
  waiting then are counted as waiting at the end; conversions count within their window, before `until`;
- messages are counted as the engine writes them, before messaging policy: the simulator applies no
  quiet hours, frequency caps or consent, and neither does this (live sends may be fewer);
- history conditions (in branches) see the profile's stored activities before the window too.

It runs on the workers: `backtests_run` (the periodic `journeys.backtest` task, also enqueued when one
is asked for) walks the candidate profiles by id in chunks of BATCH, each chunk in one transaction with
the backtest's row locked (skip locked): counts, cursor and progress commit together, so a worker that
dies mid-chunk leaves the last commit, and the next run redoes that chunk only.

The result (`JourneyBacktest.result`), every count an integer:

    {
      "activities": 57,                  # stored activities replayed
      "entered": 12,                     # entries
      "profiles": 10,                    # unique profiles that entered
      "converted": 3,                    # entries that converted
      "waiting": 2,                      # entries still inside at `until`
      "exits": {"completed": 7, "converted": 3},                  # by reason (PRODUCT.md §8.4)
      "refusals": {"lock": 1, "filters": 4},                      # entry events that did not enter (§8.8)
      "nodes": {"fav": {"entered": 12, "waiting": 2}, ...},       # every node of the draft
      "edges": {"trigger:start": 12, "fav:on_performed": 5, "fav:on_timeout": 5, "thanks:next": 5, ...},
      "messaged": {"total": 10, "nodes": {"thanks": 5, "nudge": 5}, "channels": {"sms": 5, "push": 5}},
      "webhooks": {"total": 0, "nodes": {}}
    }

Edges are keyed "<node>:<edge>", the edge named as the document names it (`journeys.wizard.outgoing`):
`next`, `on_performed`, `on_timeout`, `branches[0]`, `else`, `arms[1]`; "trigger:start" counts the
entries. `backtest_counts` turns a result into the per-node and per-edge dicts the flow drawing takes.
"""

from __future__ import annotations

import dataclasses
import logging
import time as clock
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded
from django.contrib.auth.models import User
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.db.models import QuerySet
from django.utils import timezone

from activities.models import Activity, Profile
from journeys.document import Branch, DocumentError, Send, Split, WaitEvent, WaitInactive, edges, parse_journey
from journeys.document import Journey as Document
from journeys.engine import ActivityInput, CallWebhook, EdgeTaken, NodeEntered, SendMessage
from journeys.models import Journey, JourneyBacktest
from journeys.services import segments_unknown
from journeys.simulator import Replay, SimulatedProfile, replay
from journeys.subject import ProfileSubject
from segments.conditions import ANY_ACTIVITY, AllOf, AnyOf, Condition, History, NotOf, segments_in
from segments.selectors import memberships
from workspaces.services import audit_log_append

logger = logging.getLogger(__name__)

BATCH = 200
MAX_DAYS = 30
Status = JourneyBacktest.Status


class BacktestRefused(ValueError):
    """A backtest that cannot be started; `conflict`: not now (another one is running)."""

    def __init__(self, field: str, message: str, *, conflict: bool = False) -> None:
        super().__init__(f"{field}: {message}")
        self.field, self.message, self.conflict = field, message, conflict


# --- Asking for one --------------------------------------------------------------------------------


def draft_validate(journey: Journey) -> Document:
    """The journey's draft as a backtest runs it; DocumentError naming every problem. Templates need not
    exist yet (as in the simulator); every segment it names must be one of the workspace's."""
    document = parse_journey(journey.draft)
    problems = segments_unknown(document, journey.workspace_id)
    if problems:
        raise DocumentError(problems)
    return document


def backtest_start(*, journey: Journey, actor: User | None, days: int = 7) -> JourneyBacktest:
    """Ask for the draft to be replayed over the last `days` (1 to MAX_DAYS) days; it runs on the workers.

    While one of this very draft is queued or running, that one is answered; while one of an earlier
    draft is, BacktestRefused (a conflict): its numbers would be the old draft's."""
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_DAYS:
        raise BacktestRefused("days", f"must be a whole number of days from 1 to {MAX_DAYS}")
    draft_validate(journey)
    running = _unfinished(journey)
    if running is None:
        until = timezone.now()
        try:
            with transaction.atomic():
                backtest = JourneyBacktest.objects.create(
                    workspace_id=journey.workspace_id,
                    journey=journey,
                    requested_by=actor,
                    document=journey.draft,
                    days=days,
                    since=until - timedelta(days=days),
                    until=until,
                )
        except IntegrityError:  # asked twice at once: the other request's is the one
            running = _unfinished(journey)
            if running is None:
                raise
        else:
            audit_log_append(
                workspace=journey.workspace, actor=actor, action="backtest started", obj=journey, changes={"days": days}
            )
            transaction.on_commit(_run_soon)
            return backtest
    if running.document != journey.draft:
        raise BacktestRefused(
            "journey",
            f"a backtest of an earlier draft is still running ({running.progress:.0%} done): ask again when it ends",
            conflict=True,
        )
    return running


def _unfinished(journey: Journey) -> JourneyBacktest | None:
    return JourneyBacktest.objects.unfinished().filter(journey=journey).first()


def _run_soon() -> None:
    from journeys.tasks import backtest_soon

    backtest_soon()


# --- Reads -----------------------------------------------------------------------------------------


def backtest_latest(journey: Journey) -> JourneyBacktest | None:
    """The journey's newest backtest, whatever its status."""
    return JourneyBacktest.objects.filter(journey=journey).order_by("-created_at", "-pk").first()


def backtest_counts(result: dict[str, Any]) -> tuple[dict[str, dict[str, int]], dict[tuple[str, str], int]]:
    """A result as the flow drawing takes it: by node {"entered", "waiting", "messaged"}; by edge
    (node, edge key) the entries that took it, the trigger's edge as ("trigger", "start")."""
    messaged = (result.get("messaged") or {}).get("nodes") or {}
    nodes = {
        node: {
            "entered": counts.get("entered", 0),
            "waiting": counts.get("waiting", 0),
            "messaged": messaged.get(node, 0),
        }
        for node, counts in (result.get("nodes") or {}).items()
    }
    taken: dict[tuple[str, str], int] = {}
    for key, count in (result.get("edges") or {}).items():
        source, _, edge = key.partition(":")  # node ids hold no colon
        taken[(source, edge)] = count
    return nodes, taken


# --- The run ---------------------------------------------------------------------------------------


def backtests_run(*, budget_seconds: float = 50.0) -> int:
    """Advance every queued or running backtest (oldest first), a chunk at a time, within the budget;
    returns the profiles replayed. A run a dead worker left resumes at its last committed chunk."""
    started, handled = clock.monotonic(), 0
    for pk in JourneyBacktest.objects.unfinished().order_by("created_at").values_list("pk", flat=True):
        while clock.monotonic() - started < budget_seconds:
            done = _chunk(pk)
            if done is None:
                break
            handled += done
    return handled


def _chunk(pk: int) -> int | None:
    """One chunk of profiles in one transaction; how many were replayed, None when there is nothing to
    do (finished, failed, or another worker holds it)."""
    with transaction.atomic():
        rows = JourneyBacktest.objects.unfinished().filter(pk=pk)
        if connection.features.has_select_for_update:
            rows = rows.select_for_update(skip_locked=True)
        backtest = rows.first()
        if backtest is None:
            return None
        try:
            return _advance(backtest)
        except (DatabaseError, SoftTimeLimitExceeded):
            raise  # the chunk rolls back; the next run does it again
        except Exception as error:
            # A replay that raises (a bug, a document the engine refuses) would raise again on every
            # retry: the backtest fails with the reason shown, and the error goes to the logs.
            logger.exception("backtest %s failed", pk)
            backtest.status, backtest.finished_at = Status.FAILED, timezone.now()
            backtest.error = f"The replay stopped: {type(error).__name__}: {error}"[:2000]
            backtest.save(update_fields=["status", "finished_at", "error"])
            return None


def _advance(backtest: JourneyBacktest) -> int:
    document = replayed(parse_journey(backtest.document, stored=True), backtest.since)
    candidates = _candidates(backtest, document)
    fields = ["cursor", "profiles_done", "activities_done", "result"]
    if backtest.status == Status.QUEUED:
        backtest.status, backtest.started_at = Status.RUNNING, timezone.now()
        backtest.profiles_total = candidates.count()
        backtest.result = _Tally(document).result
        fields += ["status", "started_at", "profiles_total"]
    chunk = list(candidates.filter(pk__gt=backtest.cursor).order_by("pk").values_list("pk", flat=True)[:BATCH])
    if chunk:
        tally = _replay(backtest, document, chunk)
        backtest.result = _sum(backtest.result, tally.result)
        backtest.activities_done += tally.result["activities"]
        backtest.cursor = chunk[-1]
        backtest.profiles_done += len(chunk)
    if len(chunk) < BATCH:
        backtest.status, backtest.finished_at = Status.DONE, timezone.now()
        fields = list({*fields, "status", "finished_at"})
    backtest.save(update_fields=fields)
    return len(chunk)


def replayed(document: Document, since: datetime) -> Document:
    """The draft as if live through the window: no schedule bounds; a scheduled journey's audience
    enters at the window's start (then daily at every_day_at)."""
    start = since if document.entry.type == "segment" else None
    return dataclasses.replace(document, schedule_start=start, schedule_end=None)


def _candidates(backtest: JourneyBacktest, document: Document) -> QuerySet[Profile]:
    """Profiles the draft could move: those with its entry event in the window (anyone, for a scheduled
    journey)."""
    profiles = Profile.objects.filter(workspace_id=backtest.workspace_id, merged_into__isnull=True)
    if document.entry.type != "event":
        return profiles
    window = Activity.objects.filter(
        workspace_id=backtest.workspace_id, timestamp__gte=backtest.since, timestamp__lte=backtest.until
    )
    if document.entry.event != ANY_ACTIVITY:
        window = window.filter(name=document.entry.event)
    return profiles.filter(pk__in=window.values("profile_id"))


@dataclasses.dataclass
class _StoredProfile(SimulatedProfile):
    """A stored profile held in memory for the replay: its traits, tags and segments as they are now;
    its history in memory (what the replay has seen, and what came before the window); the fields Nudge
    keeps on it and whether it is reachable asked of the stored row, as live does."""

    stored: ProfileSubject | None = None

    def reachable(self, channel: str) -> bool:
        assert self.stored is not None
        return self.stored.reachable(channel)

    def attribute(self, name: str) -> str | None:
        assert self.stored is not None
        return self.stored.attribute(name)


def _replay(backtest: JourneyBacktest, document: Document, profile_ids: list[int]) -> _Tally:
    """Replay one chunk's profiles, each over its own activities of the window in timestamp order."""
    streams = _activities(
        backtest, profile_ids, _names(document), since=backtest.since, until=backtest.until, inclusive=True
    )
    histories = _history_before(backtest, document, profile_ids)
    refs = _segments_read(document)
    members = memberships(backtest.workspace_id, refs, profile_ids) if refs else {}
    tally = _Tally(document)
    for profile in Profile.objects.filter(pk__in=profile_ids).select_related("workspace").order_by("pk"):
        segments = {ref: profile.pk in inside for ref, inside in members.items()}
        person = _StoredProfile(
            str(profile.pk),
            traits=dict(profile.traits),
            tags=frozenset(profile.tags),
            timezone=profile.timezone or profile.workspace.timezone,
            segments=frozenset(ref for ref, inside in segments.items() if inside),
            history=histories.get(profile.pk, []),
            stored=ProfileSubject(profile, segments=segments),
        )
        stream = streams.get(profile.pk, [])
        tally.add(replay(document, person, stream, backtest.until, str(backtest.journey_id)), len(stream))
    return tally


def _activities(
    backtest: JourneyBacktest,
    profile_ids: list[int],
    names: set[str] | None,
    *,
    since: datetime | None,
    until: datetime,
    inclusive: bool,
) -> dict[int, list[ActivityInput]]:
    """By profile, its stored activities of these names (None: any) in the range, in order."""
    rows = Activity.objects.filter(workspace_id=backtest.workspace_id, profile_id__in=profile_ids)
    rows = rows.filter(timestamp__lte=until) if inclusive else rows.filter(timestamp__lt=until)
    if since is not None:
        rows = rows.filter(timestamp__gte=since)
    if names is not None:
        rows = rows.filter(name__in=names)
    found: dict[int, list[ActivityInput]] = {}
    for profile_id, name, properties, moment in rows.order_by("timestamp", "pk").values_list(
        "profile_id", "name", "properties", "timestamp"
    ):
        found.setdefault(profile_id, []).append(ActivityInput(name, properties, moment))
    return found


def _names(document: Document) -> set[str] | None:
    """The activity names the replay can react to; None when any activity matters (a `*`, a wait for
    inactivity)."""
    names: set[str] = {history.name for history in _histories(document)}
    if document.entry.type == "event" and document.entry.event is not None:
        names.add(document.entry.event)
    if document.conversion is not None:
        names.add(document.conversion.event)
    for node in document.nodes.values():
        if isinstance(node, WaitInactive):
            return None
        if isinstance(node, WaitEvent):
            names.add(node.event)
    return None if ANY_ACTIVITY in names else names


def _history_before(
    backtest: JourneyBacktest, document: Document, profile_ids: list[int]
) -> dict[int, list[ActivityInput]]:
    """What history conditions can see from before the window: the names they count, as far back as
    their `within` reaches (all of it for one without)."""
    reads = list(_histories(document))
    if not reads:
        return {}
    reaches = [history.within.before(backtest.since) if history.within is not None else None for history in reads]
    earliest = None if None in reaches else min(r for r in reaches if r is not None)
    names = {history.name for history in reads}
    return _activities(
        backtest,
        profile_ids,
        None if ANY_ACTIVITY in names else names,
        since=earliest,
        until=backtest.since,
        inclusive=False,
    )


def _profile_conditions(document: Document) -> list[Condition]:
    """The conditions asked of the profile (not of an activity's properties)."""
    found = [
        condition for node in document.nodes.values() if isinstance(node, Branch) for condition, _ in node.branches
    ]
    if document.entry.type == "segment":
        found.append(document.entry.where)
    return found


def _histories(document: Document) -> Iterator[History]:
    def walk(condition: Condition) -> Iterator[History]:
        match condition:
            case AllOf(items) | AnyOf(items):
                for item in items:
                    yield from walk(item)
            case NotOf(item):
                yield from walk(item)
            case History():
                yield condition

    for condition in _profile_conditions(document):
        yield from walk(condition)


def _segments_read(document: Document) -> set[str]:
    refs = {*document.audience_segments, *document.exclude_segments}
    for condition in _profile_conditions(document):
        refs |= segments_in(condition)
    return refs


# --- Counting --------------------------------------------------------------------------------------


class _Tally:
    """One chunk's counts, in the result's shape (every node and edge of the draft, zero to start)."""

    def __init__(self, document: Document) -> None:
        self.edge_keys: dict[str, dict[str, str]] = {
            node.id: {arm.name: f"arms[{i}]" for i, arm in enumerate(node.arms)}
            for node in document.nodes.values()
            if isinstance(node, Split)
        }
        sends = [node for node in document.nodes.values() if isinstance(node, Send)]
        self.result: dict[str, Any] = {
            "activities": 0,
            "entered": 0,
            "profiles": 0,
            "converted": 0,
            "waiting": 0,
            "exits": {},
            "refusals": {},
            "nodes": {node_id: {"entered": 0, "waiting": 0} for node_id in document.nodes},
            "edges": {
                "trigger:start": 0,
                **{self._edge(node.id, outcome): 0 for node in document.nodes.values() for outcome, _ in edges(node)},
            },
            "messaged": {
                "total": 0,
                "nodes": {node.id: 0 for node in sends},
                "channels": {node.channel: 0 for node in sends},
            },
            "webhooks": {"total": 0, "nodes": {}},
        }

    def _edge(self, node: str, outcome: str) -> str:
        return f"{node}:{self.edge_keys.get(node, {}).get(outcome, outcome)}"

    def add(self, replayed: Replay, activities: int) -> None:
        r = self.result
        r["activities"] += activities
        r["profiles"] += bool(replayed.entries)
        for refusal in replayed.refused:
            _bump(r["refusals"], refusal["reason"])
        for entry in replayed.entries:
            instance = entry.instance
            r["entered"] += 1
            r["edges"]["trigger:start"] += 1
            r["converted"] += instance.converted_at is not None
            if instance.active:
                r["waiting"] += 1
                if instance.node is not None:
                    r["nodes"][instance.node]["waiting"] += 1
            else:
                _bump(r["exits"], instance.exit_reason or "completed")
            for effect in entry.effects:
                match effect:
                    case NodeEntered(node=node):
                        r["nodes"][node]["entered"] += 1
                    case EdgeTaken(node=node, outcome=outcome) if outcome != "exit":  # an exit node's end
                        _bump(r["edges"], self._edge(node, outcome))
                    case SendMessage(node=node, channel=channel):
                        r["messaged"]["total"] += 1
                        _bump(r["messaged"]["nodes"], node)
                        _bump(r["messaged"]["channels"], channel)
                    case CallWebhook(node=node):
                        r["webhooks"]["total"] += 1
                        _bump(r["webhooks"]["nodes"], node)


def _bump(counts: dict[str, int], key: str) -> None:
    counts[key] = counts.get(key, 0) + 1


def _sum(into: dict[str, Any], more: dict[str, Any]) -> dict[str, Any]:
    """Two results added up, key by key (a key only one has is kept)."""
    total = dict(into)
    for key, value in more.items():
        if isinstance(value, dict):
            total[key] = _sum(total.get(key) or {}, value)
        else:
            total[key] = total.get(key, 0) + value
    return total
