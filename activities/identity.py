"""Identity resolution and profile merging (Segment's identify/alias semantics).

Every id a profile is known by is an `Identity` row with a unique (workspace, kind, value) index; that
index, not a best effort, is what keeps two racing requests from creating two profiles for one person.
Profiles are locked in id order so concurrent batches and merges never deadlock each other.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection
from django.utils.module_loading import import_string

from activities.models import Activity, Identity, IdentityKind, Profile, PushDevice
from activities.segment_spec import Message
from config.sql import execute
from workspaces.models import TestProfile

Key = tuple[str, str]  # (IdentityKind value, id)


def profiles_addressed(profile_ids: Iterable[int]) -> dict[int, tuple[str | None, str | None]]:
    """By profile, the (user id, anonymous id) an activity can be stored under through ingestion's store:
    the user id when it has one, else one of its anonymous ids. Profiles with neither are left out.
    Two statements for any number of profiles."""
    ids = set(profile_ids)
    known = dict(Profile.objects.filter(pk__in=ids).values_list("pk", "user_id"))
    addressed: dict[int, tuple[str | None, str | None]] = {pk: (uid, None) for pk, uid in known.items() if uid}
    anonymous = Identity.objects.filter(
        profile_id__in=ids - addressed.keys(), kind=IdentityKind.ANONYMOUS_ID
    ).values_list("profile_id", "value")
    for pk, value in anonymous:
        addressed.setdefault(pk, (None, value))
    return addressed


def profiles_lock(profile_ids: Iterable[int]) -> dict[int, Profile]:
    """Lock the profiles for this transaction, in id order, following merges to the live profile."""
    wanted = sorted(set(profile_ids))
    found: dict[int, Profile] = {}
    while wanted:
        query = Profile.objects.filter(pk__in=wanted).order_by("pk")
        if connection.features.has_select_for_update:
            query = query.select_for_update()
        rows = {p.pk: p for p in query}
        found.update(rows)
        # A profile merged while we waited for its lock points at its successor: lock that one too.
        wanted = sorted({p.merged_into_id for p in rows.values() if p.merged_into_id} - found.keys())
    return found


@dataclass(frozen=True)
class SharedProfile:
    """What ingestion reads of a profile it only appends to: where it was merged, its timezone, locale."""

    merged_into_id: int | None
    timezone: str
    locale: str


def profiles_share(
    profile_ids: Iterable[int], locked: dict[int, SharedProfile] | None = None
) -> dict[int, SharedProfile]:
    """Take a KEY SHARE lock on profiles (in id order, following merges) for the rest of the transaction.
    `locked`: profiles this transaction has locked so already (with the batch's claim), not asked again.

    KEY SHARE lets any number of ingesting transactions append activities to one profile at once while
    still waiting for a merge (FOR UPDATE) to finish, after which the merged_into pointer is seen.
    """
    table = Profile._meta.db_table
    lock = " FOR KEY SHARE" if connection.vendor == "postgresql" else ""
    found: dict[int, SharedProfile] = dict(locked or {})
    ahead = {r.merged_into_id for r in found.values() if r.merged_into_id}
    wanted = sorted((set(profile_ids) | ahead) - found.keys())
    while wanted:
        rows = {
            pk: SharedProfile(merged, tz, locale)
            for pk, merged, tz, locale in execute(
                f"SELECT id, merged_into_id, timezone, locale FROM {table} WHERE {_one_of('id', wanted)}"
                f" ORDER BY id{lock}",
                _values(wanted),
            )
        }
        if len(rows) < len(wanted):
            # Deleted (privacy request) after we resolved its ids: resolve again from scratch.
            raise IntegrityError("a profile of this batch was deleted concurrently")
        found.update(rows)
        wanted = sorted({r.merged_into_id for r in rows.values() if r.merged_into_id} - found.keys())
    return found


def live_id(profiles: dict[int, SharedProfile], profile_id: int) -> int:
    while (merged := profiles[profile_id].merged_into_id) is not None:
        profile_id = merged
    return profile_id


def live_profile(profiles: dict[int, Profile], profile_id: int) -> Profile:
    profile = profiles[profile_id]
    while profile.merged_into_id is not None:
        profile = profiles[profile.merged_into_id]
    return profile


def _lookup(workspace_id: int, keys: set[Key]) -> dict[Key, int]:
    """Profile ids of known ids; plain SQL over the unique index, as it runs for every batch."""
    by_kind: dict[str, list[str]] = {}
    for kind, value in keys:
        by_kind.setdefault(kind, []).append(value)
    clauses, params = [], []
    for kind, values in sorted(by_kind.items()):
        clauses.append(f"(kind = %s AND {_one_of('value', values)})")
        params.extend([kind, *_values(values)])
    rows = execute(
        f"SELECT kind, value, profile_id FROM {Identity._meta.db_table} WHERE workspace_id = %s AND "
        f"({' OR '.join(clauses)})",
        [workspace_id, *params],
    )
    return {(kind, value): profile_id for kind, value, profile_id in rows}


def _one_of(column: str, values: list[Any]) -> str:
    """`column = ANY(%s)` with the values as one array on PostgreSQL (a placeholder per value costs more
    than the lookup for a batch's hundred ids); `IN (…)` on SQLite. `_values` gives its parameters."""
    if connection.vendor == "postgresql":
        return f"{column} = ANY(%s)"
    return f"{column} IN ({', '.join(['%s'] * len(values))})"


def _values(values: list[Any]) -> list[Any]:
    return [values] if connection.vendor == "postgresql" else values


def primary_key(message: Message) -> Key:
    """The id a message is filed under: its user id, else its anonymous id."""
    if message.user_id is not None:
        return (IdentityKind.USER_ID, message.user_id)
    assert message.anonymous_id is not None
    return (IdentityKind.ANONYMOUS_ID, message.anonymous_id)


@dataclass
class Resolution:
    """Which profile each id of a batch belongs to, and which merges the batch asks for."""

    profile_of: dict[Key, int]
    merges: list[tuple[Key, Key]]  # (source id, target id)

    def profile_id(self, message: Message) -> int:
        return self.profile_of[primary_key(message)]


@dataclass(frozen=True)
class Wanted:
    """The ids a batch names, to look up in one go: `keys`, and the (user id, anonymous id) pairs that
    arrived together (each a merge when the anonymous id already belongs to another profile)."""

    keys: set[Key]
    pairs: list[tuple[str, str]]
    aliased: bool  # an alias's previousId may merge whatever the lookup finds

    def may_merge_blindly(self) -> bool:
        """Whether a merge can follow however the lookup comes out: an alias, or one anonymous id beside
        two user ids. (Otherwise a pair merges only if its anonymous id is known and its user id is not
        known on the same profile.)"""
        return self.aliased or len({anonymous for _, anonymous in self.pairs}) < len(set(self.pairs))


def identities_wanted(messages: Iterable[Message]) -> Wanted:
    keys: set[Key] = set()
    pairs: list[tuple[str, str]] = []
    aliased = False
    for message in messages:
        user_id, anonymous_id = message.user_id, message.anonymous_id
        if user_id is not None:
            keys.add((IdentityKind.USER_ID, user_id))
            if anonymous_id is not None:
                keys.add((IdentityKind.ANONYMOUS_ID, anonymous_id))
                pairs.append((user_id, anonymous_id))
        else:
            keys.add((IdentityKind.ANONYMOUS_ID, anonymous_id))  # type: ignore[arg-type]  # one is set
        if message.previous_id is not None:
            aliased = True
            # alias.previousId may be an earlier user id or an anonymous id.
            keys.update((kind, message.previous_id) for kind in IdentityKind.values)
    return Wanted(keys, pairs, aliased)


def identities_resolve(workspace_id: int, messages: list[Message], known: dict[Key, int] | None = None) -> Resolution:
    """Find or create the profile behind every id in the batch (without merging yet). `known`: the
    profile ids of (at least) the batch's `identities_wanted` keys, when they were looked up already."""
    keys: set[Key] = set()
    links: dict[Key, Key] = {}  # a new anonymous id seen beside a user id joins that user's profile
    merges: list[tuple[Key, Key]] = []
    previous_ids: set[str] = set()
    for message in messages:
        primary = primary_key(message)
        keys.add(primary)
        if message.user_id is not None and message.anonymous_id is not None:
            anonymous = (IdentityKind.ANONYMOUS_ID, message.anonymous_id)
            keys.add(anonymous)
            links.setdefault(anonymous, primary)
            merges.append((anonymous, primary))
        if message.previous_id is not None:
            previous_ids.add(message.previous_id)
    if known is None:
        previous_keys = {(kind, value) for value in previous_ids for kind in IdentityKind.values}
        existing = _lookup(workspace_id, keys | previous_keys)
    else:
        existing = dict(known)
    for message in messages:
        if message.previous_id is None:
            continue
        as_user = (IdentityKind.USER_ID, message.previous_id)
        source = as_user if as_user in existing else (IdentityKind.ANONYMOUS_ID, message.previous_id)
        keys.add(source)
        links.setdefault(source, primary_key(message))
        merges.append((source, primary_key(message)))

    missing = keys - existing.keys()
    if missing:
        existing.update(_create(workspace_id, missing, links, existing))
    return Resolution(profile_of={key: existing[key] for key in keys}, merges=merges)


def _create(workspace_id: int, missing: set[Key], links: dict[Key, Key], existing: dict[Key, int]) -> dict[Key, int]:
    """Create profiles and identity rows for ids never seen; losers of a race adopt the winner's."""
    user_ids = sorted(value for kind, value in missing if kind == IdentityKind.USER_ID)
    Profile.objects.bulk_create(
        [Profile(workspace_id=workspace_id, user_id=value) for value in user_ids], ignore_conflicts=True
    )
    owner: dict[Key, int] = dict(existing)
    if user_ids:
        for pk, user_id in Profile.objects.filter(workspace_id=workspace_id, user_id__in=user_ids).values_list(
            "pk", "user_id"
        ):
            owner[(IdentityKind.USER_ID, str(user_id))] = pk
    anonymous = sorted(key for key in missing if key[0] == IdentityKind.ANONYMOUS_ID and links.get(key) not in owner)
    created = Profile.objects.bulk_create([Profile(workspace_id=workspace_id) for _ in anonymous])
    owner.update({key: profile.pk for key, profile in zip(anonymous, created, strict=True)})
    for key in missing:
        if key not in owner:  # a new anonymous id that arrived beside a known user id
            owner[key] = owner[links[key]]
    Identity.objects.bulk_create(
        [
            Identity(workspace_id=workspace_id, kind=kind, value=value, profile_id=owner[(kind, value)])
            for kind, value in sorted(missing)
        ],
        ignore_conflicts=True,
    )
    winners = _lookup(workspace_id, missing)
    orphans = {profile.pk for profile in created} - set(winners.values())
    if orphans:  # another request created these ids first; our empty profiles are not needed
        Profile.objects.filter(pk__in=orphans).delete()
    return winners


def profile_merge(*, source_id: int, target_id: int, force: bool = False) -> bool:
    """Merge `source` into `target`: ids, activities, devices and traits follow. Idempotent.

    Without `force` only an anonymous source is merged (a device shared by two known users keeps
    them apart); alias passes `force` because the integrator said the two are one person.
    Must run inside a transaction.
    """
    locked = profiles_lock([source_id, target_id])
    source, target = live_profile(locked, source_id), live_profile(locked, target_id)
    if source.pk == target.pk or (source.user_id is not None and not force):
        return False
    Identity.objects.filter(profile=source).update(profile=target)
    Activity.objects.filter(profile=source).update(profile=target)
    PushDevice.objects.filter(profile=source).update(profile=target)
    if TestProfile.objects.filter(profile=target).exists():
        TestProfile.objects.filter(profile=source).delete()
    else:
        TestProfile.objects.filter(profile=source).update(profile=target)
    target.traits = {**source.traits, **target.traits}
    target.tags = sorted(set(target.tags) | set(source.tags))
    target.consent = {**source.consent, **target.consent}
    for key, value in source.consent.items():
        if value is False:  # an opt-out given on either profile stands
            target.consent[key] = False
    for field in ("email", "phone", "timezone", "locale"):
        setattr(target, field, getattr(target, field) or getattr(source, field))
    seen_first = [d for d in (source.first_seen, target.first_seen) if d is not None]
    seen_last = [d for d in (source.last_seen, target.last_seen) if d is not None]
    target.first_seen = min(seen_first, default=None)
    target.last_seen = max(seen_last, default=None)
    target.save(
        update_fields=[
            "traits",
            "tags",
            "consent",
            "email",
            "phone",
            "timezone",
            "locale",
            "first_seen",
            "last_seen",
            "updated_at",
        ]
    )
    Profile.objects.filter(pk=source.pk).update(
        merged_into=target, user_id=None, traits={}, tags=[], consent={}, email="", phone=""
    )
    Profile.objects.filter(merged_into=source).update(merged_into=target)
    for hook in settings.NUDGE_PROFILE_MERGED_HOOKS:
        import_string(hook)(source, target)  # journeys: enrollments follow the person
    return True
