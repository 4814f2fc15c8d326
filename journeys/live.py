"""What a worker knows about a workspace's running journeys, cached and refreshed when the workspace's
`journeys_generation` moves (every publish, pause, resume and stop bumps it).

The index answers, for a batch of activities, without touching the database: which journeys each
activity name may enter, which versions it may move (their waits or their conversion), and how far back
each journey's entry rules and conversion look. That is what keeps an activity's cost to O(journeys it
concerns) and a batch's reads to the rows that can matter.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db.models import F

from activities.names import counts_as_any
from config.sql import execute
from journeys.document import Branch, Journey, WaitEvent, WaitInactive, parse_journey
from journeys.engine import reads_profile
from journeys.models import Journey as JourneyRow
from journeys.models import JourneyStatus, JourneyVersion
from segments.conditions import ANY_ACTIVITY, histories_in
from segments.durations import Duration
from workspaces.models import Workspace

TAKING_ENTRIES = (JourneyStatus.LIVE, JourneyStatus.SCHEDULED)
RUNNING = (JourneyStatus.LIVE, JourneyStatus.SCHEDULED, JourneyStatus.PAUSED)
# Calendar durations (months) are not exact inverses; bounds computed from them keep this much slack
# and the engine decides exactly on the rows read.
SLACK = timedelta(days=3)


@dataclass(frozen=True)
class LiveJourney:
    row: JourneyRow
    version_id: int
    document: Journey
    journey_id: int = field(init=False)  # the row's key, asked thousands of times a batch

    def __post_init__(self) -> None:
        object.__setattr__(self, "journey_id", self.row.pk)

    def entries_since(self, earliest: datetime) -> datetime | None:
        """How far back past entries can refuse an entry at `earliest` or later (once, lock, cap);
        None when any past entry can (once, or a cap with no period); `earliest` when none can."""
        rules = self.document.reentry
        if rules.mode == "once" or (rules.cap is not None and rules.cap.period is None):
            return None
        windows = [d for d in (rules.lock, rules.cap.period if rules.cap else None) if d is not None]
        return min((d.before(earliest) for d in windows), default=earliest + SLACK) - SLACK


@dataclass(frozen=True)
class LiveIndex:
    triggers: dict[str, list[LiveJourney]] = field(default_factory=dict)  # entry event → journeys
    running: bool = False  # any journey live, scheduled or paused
    moved_by: dict[str, frozenset[int]] = field(default_factory=dict)  # activity name → versions it may move
    moved_by_any: frozenset[int] = frozenset()  # versions with a wait_inactive: any activity moves them
    conversion: dict[int, tuple[str, Duration]] = field(default_factory=dict)  # version → (event, window)
    paused: frozenset[int] = frozenset()  # journeys paused: their steps' timers and sends are held
    _moved_by_name: dict[str, frozenset[int]] = field(default_factory=dict, compare=False, repr=False)

    def versions_moved(self, names: Iterable[str]) -> set[int]:
        names = list(names)
        moved = set().union(*(self.moved_by.get(name, frozenset()) for name in names))
        if any(counts_as_any(name) for name in names):  # `*` waits, inactive waits
            moved |= self.moved_by_any | self.moved_by.get("*", frozenset())
        return moved

    def versions_moved_by(self, name: str) -> frozenset[int]:
        """`versions_moved` of one name, worked out once per index."""
        moved = self._moved_by_name.get(name)
        if moved is None:
            moved = self._moved_by_name[name] = frozenset(self.versions_moved([name]))
        return moved

    def triggered_by(self, name: str) -> list[LiveJourney]:
        """The journeys an activity of this name may enter (`*` entries: see `activities.names`)."""
        anything = self.triggers.get("*", []) if counts_as_any(name) and name != "*" else []
        return [*self.triggers.get(name, []), *anything]

    def attributable_since(self, version_id: int, earliest: datetime) -> datetime:
        """The oldest entry a conversion at `earliest` or later can still be credited to."""
        return self.conversion[version_id][1].before(earliest) - SLACK


_documents: dict[int, Journey] = {}
_reads_profile: dict[int, bool] = {}
_histories: dict[int, tuple[tuple[str, Duration], ...]] = {}
_indexes: dict[int, tuple[int, LiveIndex]] = {}


def version_document(version: JourneyVersion) -> Journey:
    """Versions never change, so their parsed documents are cached for the worker's life."""
    document = _documents.get(version.pk)
    if document is None:
        document = _documents[version.pk] = parse_journey(version.document, stored=True)
    return document


def document_for(version_id: int) -> Journey:
    """The parsed document of a version, read from the database only the first time."""
    document = _documents.get(version_id)
    if document is None:
        document = version_document(JourneyVersion.objects.get(pk=version_id))
    return document


def version_reads_profile(version_id: int) -> bool:
    """`engine.reads_profile` of a version, worked out once per worker."""
    reads = _reads_profile.get(version_id)
    if reads is None:
        reads = _reads_profile[version_id] = reads_profile(document_for(version_id))
    return reads


def version_histories(version_id: int) -> tuple[tuple[str, Duration], ...]:
    """The plain history conditions (a name, no `where`, a window) a version's branches ask, as (name,
    window): what a batch reads ahead for it (`subject.BatchHistory`). Worked out once per worker."""
    found = _histories.get(version_id)
    if found is None:
        branches = [node for node in document_for(version_id).nodes.values() if isinstance(node, Branch)]
        leaves = {leaf for node in branches for condition, _ in node.branches for leaf in histories_in(condition)}
        found = _histories[version_id] = tuple(
            (leaf.name, leaf.within)
            for leaf in leaves
            if leaf.where is None and leaf.within is not None and leaf.name != ANY_ACTIVITY
        )
    return found


def live_index(workspace_id: int) -> LiveIndex:
    """The workspace's index, rebuilt only when its generation has moved since it was built."""
    found = execute(_GENERATION_SQL, [workspace_id])  # every batch asks: one fixed statement, prepared once
    generation = found[0][0] if found else 0
    cached = _indexes.get(workspace_id)
    if cached is not None and cached[0] == generation:
        return cached[1]
    index = _build(workspace_id)
    _indexes[workspace_id] = (generation, index)
    return index


_GENERATION_SQL = f"SELECT journeys_generation FROM {Workspace._meta.db_table} WHERE id = %s"


def _build(workspace_id: int) -> LiveIndex:
    triggers: dict[str, list[LiveJourney]] = {}
    restarting: dict[int, str] = {}  # journey → its entry event, for journeys in restart mode
    rows = JourneyRow.objects.filter(
        workspace_id=workspace_id, status__in=TAKING_ENTRIES, live_version__isnull=False
    ).select_related("live_version")
    for row in rows:
        assert row.live_version is not None
        document = version_document(row.live_version)
        if document.entry.type == "event" and document.entry.event:
            triggers.setdefault(document.entry.event, []).append(LiveJourney(row, row.live_version.pk, document))
            if document.reentry.mode == "restart":
                restarting[row.pk] = document.entry.event
    moved_by: dict[str, set[int]] = {}
    moved_by_any: set[int] = set()
    conversion: dict[int, tuple[str, Duration]] = {}
    versions = JourneyVersion.objects.filter(journey__workspace_id=workspace_id, journey__status__in=RUNNING)
    for version in versions:
        document = version_document(version)
        names = {node.event for node in document.nodes.values() if isinstance(node, WaitEvent)}
        if document.conversion is not None:
            names.add(document.conversion.event)
            conversion[version.pk] = (document.conversion.event, document.conversion.window)
        for name in names:
            moved_by.setdefault(name, set()).add(version.pk)
        if any(isinstance(node, WaitInactive) for node in document.nodes.values()):
            moved_by_any.add(version.pk)
        if version.journey_id in restarting:  # its entry event may restart an instance of any version
            moved_by.setdefault(restarting[version.journey_id], set()).add(version.pk)
    statuses = dict(
        JourneyRow.objects.filter(workspace_id=workspace_id, status__in=RUNNING).values_list("pk", "status")
    )
    return LiveIndex(
        triggers=triggers,
        running=bool(statuses),
        paused=frozenset(pk for pk, status in statuses.items() if status == JourneyStatus.PAUSED),
        moved_by={name: frozenset(ids) for name, ids in moved_by.items()},
        moved_by_any=frozenset(moved_by_any),
        conversion=conversion,
    )


def caches_clear() -> None:
    """Forget every cached document and index (a database replaced under a running process: benchmarks)."""
    _documents.clear()
    _indexes.clear()


def generation_bump(workspace_id: int) -> None:
    """Every worker rebuilds the workspace's index before its next batch."""
    Workspace.objects.filter(pk=workspace_id).update(journeys_generation=F("journeys_generation") + 1)
