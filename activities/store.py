"""Storing a batch of validated messages: deduplicate, resolve identities, write activities and
profile changes in one transaction, and hand the new activities to the evaluation pipeline.

A batch of tracks for known people costs three statements on PostgreSQL whatever its size: one claiming
the messageIds (with the write key's check, the activities' ids from their sequence, the identity
lookup, the profiles' KEY SHARE lock and the evaluation batch's outbox row), the COPY of the activities,
and the commit. New people, merges and profile changes add statements only when they occur.

A single call about someone already known (`/v1/track` and its kin) is one statement in autocommit on
PostgreSQL (`message_store_single`): the write key's check, the identity lookup, the profile's KEY SHARE
lock, the messageId claim, the activity and its outbox row. Anything it cannot take (a new person, a
merge, a profile change) it leaves untouched, for `messages_store`.
"""

from __future__ import annotations

import logging
import sys
import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from django.db import (
    DEFAULT_DB_ALIAS,
    DatabaseError,
    IntegrityError,
    InterfaceError,
    OperationalError,
    connection,
    connections,
    transaction,
)
from django.db.backends.base.base import BaseDatabaseWrapper

from activities.identity import (
    Key,
    SharedProfile,
    identities_resolve,
    identities_wanted,
    live_id,
    primary_key,
    profile_merge,
    profiles_lock,
    profiles_share,
)
from activities.models import Activity, DedupeKey, EvaluationBatch, Identity, IdentityKind, Profile, PushDevice
from activities.segment_spec import Message
from config.database import UtcDatetimeDumper
from config.sql import insert_returning, json_text, raw_cursor
from workspaces.models import WriteKey

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class StoreResult:
    activity_ids: list[int]
    duplicates: int
    new_messages: list[Message]
    authorized: bool = True  # False: the write key checked with the batch was revoked; nothing was stored


ACTIVITY_COLUMNS = [
    "workspace_id",
    "profile_id",
    "name",
    "type",
    "properties",
    "context",
    "timestamp",
    "received_at",
    "message_id",
]


def messages_store(
    *,
    workspace_id: int,
    messages: list[Message],
    received_at: datetime,
    historical: bool = False,
    key_hash: str | None = None,
    soon: bool = False,
) -> StoreResult:
    """Store a batch atomically; answer only after commit. Re-sent messageIds change nothing.

    Live traffic is handed to the evaluation pipeline (`soon`: coalesced with this process's other
    batches, as web processes do); `historical` imports are not (journeys must not react to last year's
    events). `key_hash`: the write key the batch came with, checked (still active, this workspace's) in
    the same transaction; when it is not, nothing is stored and the result is not `authorized`.
    """
    with transaction.atomic():
        claim = _claim(workspace_id, messages, received_at, key_hash=key_hash, evaluate=not historical)
        if not claim.authorized:
            return StoreResult(activity_ids=[], duplicates=0, new_messages=[], authorized=False)
        new = claim.new
        if not new:
            return StoreResult(activity_ids=[], duplicates=len(messages), new_messages=[])
        owners, shared = _owners(workspace_id, new, claim.known, claim.shared)
        rows = [
            (
                workspace_id,
                owner,
                m.name,
                m.type,
                json_text(m.properties),
                json_text(m.context),
                m.timestamp,
                received_at,
                m.message_id,
            )
            for m, owner in zip(new, owners, strict=True)
        ]
        activity_ids = _activities_write(rows, claim.activity_ids)
        _profiles_update(workspace_id, new, owners, shared)
        batch_id = claim.batch_id
        if claim.activity_ids is None and not historical:
            ((batch_id,),) = insert_returning(
                EvaluationBatch._meta.db_table,
                ["workspace_id", "activity_ids", "created_at", "attempts"],
                [(workspace_id, json_text(activity_ids), received_at, 0)],
                "id",
                json_columns=frozenset({"activity_ids"}),
            )
        if batch_id is not None:
            hand = _hand_to_pipeline_soon if soon else _hand_to_pipeline
            transaction.on_commit(lambda: hand(batch_id))
    return StoreResult(activity_ids=activity_ids, duplicates=len(messages) - len(new), new_messages=new)


@dataclass(frozen=True)
class _Claim:
    """What claiming a batch's messageIds found. On PostgreSQL the claim also looks up the batch's ids
    (`known`), takes the activities' ids from their sequence, writes the evaluation batch (`batch_id`,
    unless historical) and, when the batch cannot merge anyone, locks its known profiles (`shared`)."""

    authorized: bool
    new: list[Message]
    known: dict[Key, int] | None = None
    shared: dict[int, SharedProfile] | None = None
    activity_ids: list[int] | None = None
    batch_id: int | None = None


def _claim(
    workspace_id: int, messages: list[Message], received_at: datetime, *, key_hash: str | None, evaluate: bool
) -> _Claim:
    """Claim each messageId in the dedupe table; only messages whose claim succeeds are new."""
    first: dict[str, Message] = {}
    for message in messages:
        first.setdefault(message.message_id, message)
    if connection.vendor == "postgresql":
        return _claim_postgresql(workspace_id, first, received_at, key_hash=key_hash, evaluate=evaluate)
    if (
        key_hash is not None
        and not WriteKey.objects.filter(key_hash=key_hash, workspace_id=workspace_id, revoked_at__isnull=True).exists()
    ):
        return _Claim(authorized=False, new=[])
    claimed = insert_returning(
        DedupeKey._meta.db_table,
        ["workspace_id", "message_id", "received_at"],
        [(workspace_id, message_id, received_at) for message_id in first],
        "message_id",
        conflict="ON CONFLICT (workspace_id, message_id) DO NOTHING",
    )
    new_ids = {row[0] for row in claimed}
    return _Claim(authorized=True, new=[m for m in first.values() if m.message_id in new_ids])


# The batch's first statement: the write key's check, the messageId claims with the new activities' ids,
# the identity lookup, the evaluation batch and, unless a merge may follow (whose FOR UPDATE must not
# wait behind this transaction's own KEY SHARE locks), the KEY SHARE lock of the known profiles. A pair
# (user id, anonymous id) merges when the anonymous id is known and its user id is not known on the same
# profile; Python says whether anything else can merge (`share`: identities_wanted's answer). The
# statement is prepared once per connection and runs on a generic plan, which knows nothing of the
# batch: every lookup is a lateral subquery the planner keeps as an index probe per id (LIMIT 1 and the
# lock keep it from being flattened into a join; the unique index holds one row at most), and the
# profiles are locked one by one in id order. The id arrays travel in binary (see config/sql.py).
_CLAIM_SQL = """
WITH k AS MATERIALIZED (
    SELECT %(key_hash)s::text IS NULL OR EXISTS (
        SELECT FROM {write_key} WHERE key_hash = %(key_hash)s::text AND workspace_id = %(ws)s::bigint
        AND revoked_at IS NULL
    ) AS ok
), claimed AS (
    INSERT INTO {dedupe} (workspace_id, message_id, received_at)
    SELECT %(ws)s::bigint, m, %(received_at)s::timestamptz FROM unnest(%(message_ids)b::text[]) AS m
    WHERE (SELECT ok FROM k)
    ON CONFLICT (workspace_id, message_id) DO NOTHING
    RETURNING message_id, nextval('{sequence}'::regclass) AS activity_id
), found AS MATERIALIZED (
    SELECT w.kind, w.value, i.profile_id
    FROM unnest(%(kinds)b::text[], %(values)b::text[]) AS w(kind, value)
    CROSS JOIN LATERAL (
        SELECT profile_id FROM {identity}
        WHERE workspace_id = %(ws)s::bigint AND kind = w.kind AND value = w.value
        LIMIT 1
    ) AS i
    WHERE (SELECT ok FROM k)
), early AS MATERIALIZED (
    SELECT %(share)s::boolean AND NOT EXISTS (
        SELECT FROM unnest(%(pair_users)b::text[], %(pair_anonymous)b::text[]) AS p(u, a)
        JOIN found fa ON fa.kind = '{anonymous_kind}' AND fa.value = p.a
        LEFT JOIN found fu ON fu.kind = '{user_kind}' AND fu.value = p.u
        WHERE fu.profile_id IS DISTINCT FROM fa.profile_id
    ) AS share
), shared AS MATERIALIZED (
    SELECT p.id, p.merged_into_id, p.timezone, p.locale
    FROM (SELECT DISTINCT profile_id FROM found WHERE (SELECT share FROM early) ORDER BY profile_id) AS f
    CROSS JOIN LATERAL (
        SELECT id, merged_into_id, timezone, locale FROM {profile} WHERE id = f.profile_id FOR KEY SHARE
    ) AS p
), batch AS (
    INSERT INTO {evaluation_batch} (workspace_id, activity_ids, created_at, attempts)
    SELECT %(ws)s::bigint, jsonb_agg(activity_id ORDER BY activity_id), %(received_at)s::timestamptz, 0
    FROM claimed HAVING %(evaluate)s::boolean AND count(*) > 0
    RETURNING id
)
SELECT (SELECT ok FROM k), (SELECT share FROM early),
    ARRAY(SELECT message_id FROM claimed), ARRAY(SELECT activity_id FROM claimed ORDER BY activity_id),
    ARRAY(SELECT kind FROM found), ARRAY(SELECT value FROM found), ARRAY(SELECT profile_id FROM found),
    ARRAY(SELECT id FROM shared), ARRAY(SELECT merged_into_id FROM shared),
    ARRAY(SELECT timezone FROM shared), ARRAY(SELECT locale FROM shared),
    (SELECT id FROM batch)
"""
_claim_sql: dict[str, str] = {}  # by database name: the statement, with the activities' sequence in it


def _claim_statement(db: BaseDatabaseWrapper) -> str:
    name = db.settings_dict["NAME"]
    if name not in _claim_sql:
        with raw_cursor() as raw:
            raw.execute("SELECT pg_get_serial_sequence(%s, 'id')", [Activity._meta.db_table])
            row = raw.fetchone()
        assert row is not None and row[0]
        _claim_sql[name] = _CLAIM_SQL.format(
            write_key=WriteKey._meta.db_table,
            dedupe=DedupeKey._meta.db_table,
            sequence=row[0],
            identity=Identity._meta.db_table,
            profile=Profile._meta.db_table,
            evaluation_batch=EvaluationBatch._meta.db_table,
            user_kind=IdentityKind.USER_ID.value,
            anonymous_kind=IdentityKind.ANONYMOUS_ID.value,
        )
    return _claim_sql[name]


def _claim_postgresql(
    workspace_id: int, first: dict[str, Message], received_at: datetime, *, key_hash: str | None, evaluate: bool
) -> _Claim:
    wanted = identities_wanted(first.values())
    params = {
        "key_hash": key_hash,
        "ws": workspace_id,
        "received_at": received_at,
        "message_ids": list(first),
        "kinds": [kind for kind, _ in wanted.keys],
        "values": [value for _, value in wanted.keys],
        "share": not wanted.may_merge_blindly(),
        "pair_users": [user for user, _ in wanted.pairs],
        "pair_anonymous": [anonymous for _, anonymous in wanted.pairs],
        "evaluate": evaluate,
    }
    db = connections[DEFAULT_DB_ALIAS]
    sql = _claim_statement(db)
    with db.wrap_database_errors:
        cursor = _kept_cursor(db)
        cursor.execute(sql, params, prepare=True)
        row = cursor.fetchone()
    assert row is not None
    ok, early, claimed, activity_ids, kinds, values, profile_ids, shared_ids, merged, timezones, locales, batch_id = row
    if not ok:
        return _Claim(authorized=False, new=[])
    new_ids = set(claimed)
    shared = None
    if early:
        shared = {
            pk: SharedProfile(merged_into, tz, locale)
            for pk, merged_into, tz, locale in zip(shared_ids, merged, timezones, locales, strict=True)
        }
        if len(shared) < len(set(profile_ids)):
            # Deleted (privacy request) after the lookup read its ids: resolve again from scratch.
            raise IntegrityError("a profile of this batch was deleted concurrently")
    return _Claim(
        authorized=True,
        new=[m for m in first.values() if m.message_id in new_ids],
        known=dict(zip(zip(kinds, values, strict=True), profile_ids, strict=True)),
        shared=shared,
        activity_ids=activity_ids,
        batch_id=batch_id,
    )


def _owners(
    workspace_id: int,
    messages: list[Message],
    known: dict[Key, int] | None = None,
    shared: dict[int, SharedProfile] | None = None,
) -> tuple[list[int], dict[int, SharedProfile]]:
    """The live profile id of each message, after the merges the batch asks for. `known`, `shared`: the
    ids looked up and the profiles locked with the claim.

    Profiles about to be merged are locked exclusively; all others only with KEY SHARE, so batches
    that touch the same people do not queue behind each other.
    """
    resolution = identities_resolve(workspace_id, messages, known)
    merging = [
        (resolution.profile_of[source], resolution.profile_of[target], source[0] == IdentityKind.USER_ID)
        for source, target in resolution.merges
        if resolution.profile_of[source] != resolution.profile_of[target]
    ]
    if merging:
        profiles_lock({pk for source, target, _ in merging for pk in (source, target)})
        for source_id, target_id, forced in merging:  # forced: alias of an earlier user id
            profile_merge(source_id=source_id, target_id=target_id, force=forced)
        shared = None  # read again: the merges moved them
    shared = profiles_share(resolution.profile_of.values(), locked=shared)
    return [live_id(shared, resolution.profile_id(m)) for m in messages], shared


COPY_FROM_ROWS = 10  # below this a multi-row INSERT is cheaper than two round trips


def _activities_write(rows: list[tuple], ids: list[int] | None) -> list[int]:
    """Write activity rows and return their ids, in row order. `ids`: taken for them from the sequence
    already (with the claim, on PostgreSQL), one for each row, ascending.

    A batch goes in with COPY, which costs a fraction of an INSERT with hundreds of parameters; small
    batches and SQLite use INSERT … RETURNING.
    """
    table = Activity._meta.db_table
    if ids is None:
        inserted = insert_returning(
            table, ACTIVITY_COLUMNS, rows, "id", json_columns=frozenset({"properties", "context"})
        )
        return [row[0] for row in inserted]
    if len(rows) < COPY_FROM_ROWS:
        insert_returning(
            table,
            ["id", *ACTIVITY_COLUMNS],
            [(pk, *row) for pk, row in zip(ids, rows, strict=True)],
            "id",
            json_columns=frozenset({"properties", "context"}),
        )
        return ids
    times: dict[datetime, str] = {}  # as text: a Python dumper costs ~5 µs a value inside a COPY row
    with raw_cursor() as raw, raw.copy(f"COPY {table} (id, {', '.join(ACTIVITY_COLUMNS)}) FROM STDIN") as copy:
        for pk, (workspace_id, owner, name, kind, properties, context, at, received_at, message_id) in zip(
            ids, rows, strict=True
        ):
            if (at_text := times.get(at)) is None:
                at_text = times[at] = _TIME_TEXT.dump(at).decode()
            if (received_text := times.get(received_at)) is None:
                received_text = times[received_at] = _TIME_TEXT.dump(received_at).decode()
            copy.write_row(
                (pk, workspace_id, owner, name, kind, properties, context, at_text, received_text, message_id)
            )
    return ids


_TIME_TEXT = UtcDatetimeDumper(datetime)  # how every connection writes a date-time (config/database.py)


_RETRYABLE_SQLSTATES = {"40P01", "40001"}  # deadlock, serialization failure
_ATTEMPTS = 3

# The single-call statement. Every write hangs off `ok`, the live profile of a valid key, so when `ok` is
# empty nothing is written. The profile is locked with KEY SHARE (in READ COMMITTED the lock re-reads the
# newest row, so a merge or a deletion committed meanwhile is seen and handed to the general path).
_SINGLE_SQL = f"""
WITH k AS MATERIALIZED (
    SELECT FROM {WriteKey._meta.db_table}
    WHERE key_hash = %(key_hash)s AND workspace_id = %(ws)s::bigint AND revoked_at IS NULL
), p AS MATERIALIZED (
    SELECT id, merged_into_id, timezone, locale FROM {Profile._meta.db_table}
    WHERE id = (
        SELECT profile_id FROM {Identity._meta.db_table}
        WHERE workspace_id = %(ws)s::bigint AND kind = %(kind)s::text AND value = %(value)s::text
    )
    FOR KEY SHARE
), ok AS MATERIALIZED (
    SELECT p.id FROM p
    WHERE EXISTS (SELECT FROM k) AND p.merged_into_id IS NULL
    AND (%(anonymous_id)s::text IS NULL OR p.id = (
        SELECT profile_id FROM {Identity._meta.db_table}
        WHERE workspace_id = %(ws)s::bigint AND kind = '{IdentityKind.ANONYMOUS_ID.value}'
        AND value = %(anonymous_id)s::text
    ))
    AND (%(timezone)s::text IS NULL OR p.timezone = %(timezone)s::text)
    AND (%(locale)s::text IS NULL OR p.locale = %(locale)s::text)
), d AS (
    INSERT INTO {DedupeKey._meta.db_table} (workspace_id, message_id, received_at)
    SELECT %(ws)s::bigint, %(message_id)s::text, %(received_at)s::timestamptz FROM ok
    ON CONFLICT (workspace_id, message_id) DO NOTHING
    RETURNING message_id
), a AS (
    INSERT INTO {Activity._meta.db_table} ({", ".join(ACTIVITY_COLUMNS)})
    SELECT %(ws)s::bigint, ok.id, %(name)s::text, %(type)s::text, %(properties)s::text::jsonb,
        %(context)s::text::jsonb, %(timestamp)s::timestamptz, %(received_at)s::timestamptz, d.message_id
    FROM ok, d
    RETURNING id
), b AS (
    INSERT INTO {EvaluationBatch._meta.db_table} (workspace_id, activity_ids, created_at, attempts)
    SELECT %(ws)s::bigint, jsonb_build_array(a.id), %(received_at)s::timestamptz, 0 FROM a
    RETURNING id
)
SELECT EXISTS (SELECT FROM k), (SELECT id FROM ok), (SELECT id FROM a), (SELECT id FROM b)
"""


@dataclass(frozen=True)
class SingleResult:
    """`authorized`: the write key is active. `handled`: stored, or a messageId already stored; when
    False nothing was written and `messages_store` must take the message."""

    authorized: bool
    handled: bool
    activity_id: int | None = None


def single_eligible(message: Message) -> bool:
    """Whether `message_store_single` can take this call: it changes no profile and merges no one."""
    return (
        connection.vendor == "postgresql"
        and message.previous_id is None
        and not (message.type == "identify" and message.traits)
        and message.device is None
    )


def message_store_single(*, key_hash: str, workspace_id: int, message: Message, received_at: datetime) -> SingleResult:
    """Store one call about a known, unmerged person whose timezone and locale it does not change, in
    one committed statement; it checks that the write key (by its hash) is still active in the same
    statement. Must be called outside a transaction for the answer to mean "committed" (inside one, it
    joins it). Raises StorageUnavailable as `messages_store_retrying` does."""
    kind, value = primary_key(message)
    anonymous_id = message.anonymous_id if kind == IdentityKind.USER_ID else None
    params = {
        "key_hash": key_hash,
        "ws": workspace_id,
        "kind": kind,
        "value": value,
        "anonymous_id": anonymous_id,
        "timezone": message.timezone,
        "locale": message.locale,
        "message_id": message.message_id,
        "received_at": received_at,
        "name": message.name,
        "type": message.type,
        "properties": json_text(message.properties),
        "context": json_text(message.context),
        "timestamp": message.timestamp,
    }
    db = connections[DEFAULT_DB_ALIAS]  # this thread's, looked up once: each `connection.x` is a lookup
    authorized, profile_id, activity_id, batch_id = _single_execute(db, params)
    if not authorized:
        return SingleResult(authorized=False, handled=False)
    if profile_id is None:
        return SingleResult(authorized=True, handled=False)
    if batch_id is not None:
        if db.in_atomic_block:  # a caller's transaction: after it commits
            transaction.on_commit(lambda: _hand_to_pipeline_soon(batch_id), using=db.alias)
        else:  # committed already
            _hand_to_pipeline_soon(batch_id)
    return SingleResult(authorized=True, handled=True, activity_id=activity_id)


# The cursor each thread's connection runs the single-call statement and the batches' claim on. Kept,
# because a new cursor looks up and builds the dumpers of all fourteen parameters and the loaders of the
# answer again: a third of the single-call statement's cost in Python.
_kept_cursors = threading.local()


def _kept_cursor(db: BaseDatabaseWrapper) -> psycopg.Cursor:
    db.ensure_connection()
    raw = db.connection
    cursor = getattr(_kept_cursors, "cursor", None)
    if cursor is None or cursor.connection is not raw:
        if raw.prepare_threshold is None:
            # Django turns psycopg's preparing off, which refuses even `prepare=True`; a threshold no
            # statement reaches lets this one be prepared and leaves every other as it was.
            raw.prepare_threshold = sys.maxsize
        cursor = _kept_cursors.cursor = psycopg.Cursor(raw)  # server-side binding, as raw_cursor's
    return cursor


def _single_execute(db: BaseDatabaseWrapper, params: dict[str, Any]) -> tuple:
    """Run the single-call statement, prepared once per connection. Web processes keep connections
    between requests and this path skips Django's per-request health check (a `SELECT 1` round trip):
    instead, a kept connection found dead is replaced and the statement sent once more, which the
    messageId claim makes safe even if the first one had committed."""
    kept = db.connection is not None
    for attempt in range(1, _ATTEMPTS + 1):
        try:
            with db.wrap_database_errors:
                cursor = _kept_cursor(db)
                cursor.execute(_SINGLE_SQL, params, prepare=True)
                row = cursor.fetchone()
            assert row is not None
            return row
        except (OperationalError, InterfaceError) as error:
            raw_connection = db.connection
            dead = raw_connection is None or raw_connection.closed or raw_connection.broken
            if dead and kept and attempt == 1 and not db.in_atomic_block:
                db.close()
                continue
            if getattr(error.__cause__, "sqlstate", None) not in _RETRYABLE_SQLSTATES or attempt == _ATTEMPTS:
                raise StorageUnavailable(str(error), unreachable=dead) from error
        except DatabaseError as error:
            logger.exception("storing a single call failed")
            raise StorageUnavailable(str(error)) from error
    raise AssertionError("unreachable")


class StorageUnavailable(Exception):
    """The batch could not be stored; the client should retry. `unreachable`: the database is down."""

    def __init__(self, message: str, *, unreachable: bool = False) -> None:
        super().__init__(message)
        self.unreachable = unreachable


def messages_store_retrying(
    *, workspace_id: int, messages: list[Message], received_at: datetime, key_hash: str | None = None
) -> StoreResult:
    """messages_store for the ingestion endpoints (a web process's: handed to the pipeline `soon`),
    retried on the conflicts concurrency can cause (a deadlock between merges, a profile deleted under a
    batch); every other database failure becomes StorageUnavailable."""
    for attempt in range(1, _ATTEMPTS + 1):
        try:
            return messages_store(
                workspace_id=workspace_id, messages=messages, received_at=received_at, key_hash=key_hash, soon=True
            )
        except IntegrityError as error:
            if attempt == _ATTEMPTS:
                raise StorageUnavailable(str(error)) from error
        except (OperationalError, InterfaceError) as error:
            if getattr(error.__cause__, "sqlstate", None) not in _RETRYABLE_SQLSTATES:
                raise StorageUnavailable(str(error), unreachable=True) from error
            if attempt == _ATTEMPTS:
                raise StorageUnavailable(str(error)) from error
        except DatabaseError as error:
            logger.exception("storing a batch failed")
            raise StorageUnavailable(str(error)) from error
    raise AssertionError("unreachable")


def _hand_to_pipeline(batch_id: int) -> None:
    from activities.pipeline import batch_enqueue

    batch_enqueue(batch_id)


def _hand_to_pipeline_soon(batch_id: int) -> None:
    from activities.pipeline import batch_enqueue_soon

    batch_enqueue_soon(batch_id)


def _profiles_update(
    workspace_id: int, messages: list[Message], owners: list[int], shared: dict[int, SharedProfile]
) -> None:
    """Identify traits, timezone, locale and push tokens, applied in event-time order.

    Only profiles whose fields really change are locked and written (identify calls, a new timezone);
    a batch of plain tracks writes no profile row at all. Seen times are kept by the pipeline.
    """
    traits: dict[int, list[dict[str, Any]]] = {}
    latest: dict[int, dict[str, str]] = {}
    devices: dict[str, tuple[int, str, dict[str, Any]]] = {}
    for message, owner in sorted(zip(messages, owners, strict=True), key=lambda pair: pair[0].timestamp):
        if message.traits and message.type == "identify":
            traits.setdefault(owner, []).append(message.traits)
        if (tz := message.timezone) is not None:
            latest.setdefault(owner, {})["timezone"] = tz
        if (locale := message.locale) is not None:
            latest.setdefault(owner, {})["locale"] = locale
        if (device := message.device) is not None:
            devices[device[0]] = (owner, device[1], device[2])
    moved = {
        pk: values
        for pk, values in latest.items()
        if pk not in traits and any(getattr(shared[pk], k) != v for k, v in values.items())
    }
    if moved:  # a new timezone or locale: common on a profile's first events, one statement for all
        _settings_update(moved, shared)
    if traits:  # identify: read-modify-write of the traits under a row lock
        query = Profile.objects.filter(pk__in=traits).order_by("pk")
        if connection.features.has_select_for_update:
            query = query.select_for_update(no_key=True)
        for profile in query:
            fields = set(latest.get(profile.pk, {}))
            for name, value in latest.get(profile.pk, {}).items():
                setattr(profile, name, value)
            for patch in traits.get(profile.pk, []):
                profile.traits = {**profile.traits, **patch}
                fields.add("traits")
                email, phone = patch.get("email"), patch.get("phone")
                if isinstance(email, str):
                    profile.email = email.strip().lower()[:254]
                    fields.add("email")
                if isinstance(phone, (str, int)) and not isinstance(phone, bool):
                    profile.phone = str(phone).strip()[:32]
                    fields.add("phone")
            profile.save(update_fields=sorted(fields | {"updated_at"}))
    if devices:
        PushDevice.objects.bulk_create(
            [
                PushDevice(
                    workspace_id=workspace_id,
                    profile_id=profile_id,
                    token=token,
                    platform=platform,
                    subscription=subscription,
                )
                for token, (profile_id, platform, subscription) in devices.items()
            ],
            update_conflicts=True,
            unique_fields=["workspace", "token"],
            update_fields=["profile", "platform", "subscription", "updated_at"],
        )


def _settings_update(changes: dict[int, dict[str, str]], shared: dict[int, SharedProfile]) -> None:
    """Set timezone and locale of many profiles in one UPDATE … FROM (VALUES …), rows locked in id order."""
    ids = sorted(changes)
    locked = Profile.objects.filter(pk__in=ids).order_by("pk")
    if connection.features.has_select_for_update:
        list(locked.select_for_update(no_key=True).values_list("pk", flat=True))
    table = Profile._meta.db_table
    cast = "::bigint" if connection.vendor == "postgresql" else ""
    values = ", ".join([f"(%s{cast}, %s, %s)"] * len(ids))
    params: list[int | str] = []
    for pk in ids:
        current = shared[pk]
        params += [pk, changes[pk].get("timezone", current.timezone), changes[pk].get("locale", current.locale)]
    with connection.cursor() as cursor:
        cursor.execute(
            f"WITH v(id, tz, locale) AS (VALUES {values}) "
            f"UPDATE {table} SET timezone = v.tz, locale = v.locale FROM v WHERE {table}.id = v.id",
            params,
        )
