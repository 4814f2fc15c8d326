"""A stored profile seen through the condition `Subject` protocol, for the live runtime. History and
segments are asked of the database through the SQL compiler (`segments/compiler.py`), one profile at a
time by index, unless the caller answered them for a whole batch already: `segments`, and `history`
(`BatchHistory`: the plain history counts a batch's versions can ask, read in one statement)."""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from activities.models import Activity, Profile
from config.sql import execute
from segments import selectors
from segments.conditions import ANY_ACTIVITY, Condition


class ProfileSubject:
    def __init__(
        self, profile: Profile, *, segments: Mapping[str, bool] | None = None, history: BatchHistory | None = None
    ) -> None:
        self.profile = profile
        self._segments = dict(segments or {})
        self._history = history
        self._platforms: list[str] | None = None

    @property
    def traits(self) -> Mapping[str, Any]:
        return self.profile.traits

    @property
    def tags(self) -> frozenset[str]:
        return frozenset(self.profile.tags)

    def attribute(self, name: str) -> str | None:
        value = getattr(self.profile, name)
        if isinstance(value, datetime):
            return value.isoformat()
        return value or None

    def reachable(self, channel: str) -> bool:
        """An address on the channel and no opt-out of it (as delivery sees it: push to devices other
        than browsers, web push to browsers)."""
        if self.profile.consent.get(channel) is False:
            return False
        if channel == "email":
            return bool(self.profile.email)
        if channel == "sms":
            return bool(self.profile.phone)
        if channel in ("push", "web_push"):
            if self._platforms is None:
                self._platforms = list(self.profile.push_devices.values_list("platform", flat=True))
            web = [platform == "web" for platform in self._platforms]
            return any(web) if channel == "web_push" else not all(web)
        return channel in ("in_app", "webhook")

    def in_segment(self, segment: str) -> bool:
        if segment not in self._segments:
            self._segments[segment] = selectors.in_segment(self.profile.workspace_id, segment, self.profile.pk)
        return self._segments[segment]

    def count(self, name: str, where: Condition | None, since: datetime | None, until: datetime) -> int:
        """Every matching activity counts, however long the history (no scan limit)."""
        if where is None and name != ANY_ACTIVITY:
            if self._history is not None:
                answered = self._history.count(self.profile.pk, name, since, until)
                if answered is not None:
                    return answered
            # The common case is one fixed statement, prepared once per connection.
            ((total,),) = execute(COUNT_SQL, [self.profile.pk, name, since or EARLIEST, until])
            return int(total)
        return selectors.history_count(self.profile.pk, name, where, since, until)


class BatchHistory:
    """When each of a batch's profiles did the activities its versions' plain history conditions ask
    about (a name, no `where`, a window: "performed purchase within 1 day", a behavior's
    `max_once_per`), read in one statement from each name's earliest bound; counts are then answered in
    memory, as the per-profile statement would answer them. What it does not cover (an older bound,
    other names) the subject asks the database."""

    def __init__(self, bounds: Mapping[str, datetime], times: Mapping[tuple[int, str], list[datetime]]) -> None:
        self._bounds = bounds
        self._times = times

    @classmethod
    def read(cls, profile_ids: Iterable[int], bounds: Mapping[str, datetime]) -> BatchHistory:
        """`bounds`: by activity name, the oldest moment a count may start from."""
        ids = list(profile_ids)
        times: dict[tuple[int, str], list[datetime]] = {}
        if ids and bounds:
            rows = execute(BATCH_SQL, [ids, list(bounds), min(bounds.values())])
            for profile_id, name, moment in rows:
                if moment >= bounds[name]:
                    times.setdefault((profile_id, name), []).append(moment)
            for moments in times.values():
                moments.sort()
        return cls(bounds, times)

    def count(self, profile_id: int, name: str, since: datetime | None, until: datetime) -> int | None:
        bound = self._bounds.get(name)
        if bound is None or since is None or since < bound:
            return None
        moments = self._times.get((profile_id, name), [])
        return max(0, bisect_right(moments, until) - bisect_left(moments, since))


EARLIEST = datetime(1, 1, 2, tzinfo=UTC)
_HISTORY = f"FROM {Activity._meta.db_table} WHERE profile_id = %s AND name = %s AND timestamp >= %s AND timestamp <= %s"
COUNT_SQL = f"SELECT count(*) {_HISTORY}"
BATCH_SQL = (
    f"SELECT profile_id, name, timestamp FROM {Activity._meta.db_table}"
    " WHERE profile_id = ANY(%s) AND name = ANY(%s) AND timestamp >= %s"
)
