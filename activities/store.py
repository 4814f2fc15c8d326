"""Storing a batch of validated messages: deduplicate, resolve identities, write activities and
profile changes in one transaction, and hand the new activities to the evaluation pipeline.

The hot path costs a fixed number of statements per batch, whatever its size: one multi-row INSERT
for messageIds, one lookup of identities, one locking SELECT of the profiles, one multi-row INSERT of
activities, one UPDATE of the profiles and one outbox row.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from django.db import connection, transaction

from activities.identity import (
    SharedProfile,
    identities_resolve,
    live_id,
    profile_merge,
    profiles_lock,
    profiles_share,
)
from activities.models import Activity, DedupeKey, EvaluationBatch, IdentityKind, Profile, PushDevice
from activities.segment_spec import Message


@dataclass(frozen=True)
class StoreResult:
    activity_ids: list[int]  # empty for historical imports written with COPY
    duplicates: int
    new_messages: list[Message]


def _json(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


def _insert_returning(
    table: str,
    columns: list[str],
    rows: list[tuple],
    returning: str,
    json_columns: frozenset[str] = frozenset(),
    conflict: str = "",
) -> list[tuple]:
    """A multi-row INSERT … [ON CONFLICT …] RETURNING, the same on PostgreSQL and SQLite."""
    if not rows:
        return []
    cast = "::jsonb" if connection.vendor == "postgresql" else ""
    placeholders = "(" + ", ".join(f"%s{cast}" if c in json_columns else "%s" for c in columns) + ")"
    sql = (
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES {', '.join([placeholders] * len(rows))}"
        f" {conflict} RETURNING {returning}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [value for row in rows for value in row])
        return cursor.fetchall()


def _new_messages(workspace_id: int, messages: list[Message], received_at: datetime) -> list[Message]:
    """Claim each messageId in the dedupe table; only messages whose claim succeeds are new."""
    first: dict[str, Message] = {}
    for message in messages:
        first.setdefault(message.message_id, message)
    claimed = _insert_returning(
        DedupeKey._meta.db_table,
        ["workspace_id", "message_id", "received_at"],
        [(workspace_id, message_id, received_at) for message_id in first],
        "message_id",
        conflict="ON CONFLICT (workspace_id, message_id) DO NOTHING",
    )
    new_ids = {row[0] for row in claimed}
    return [m for m in first.values() if m.message_id in new_ids]


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
    *, workspace_id: int, messages: list[Message], received_at: datetime, historical: bool = False
) -> StoreResult:
    """Store a batch atomically; answer only after commit. Re-sent messageIds change nothing.

    Live traffic is handed to the evaluation pipeline; `historical` imports are not (journeys must not
    react to last year's events) and are written with COPY on PostgreSQL.
    """
    with transaction.atomic():
        new = _new_messages(workspace_id, messages, received_at)
        if not new:
            return StoreResult(activity_ids=[], duplicates=len(messages), new_messages=[])
        owners, shared = _owners(workspace_id, new)
        rows = [
            (
                workspace_id,
                owner,
                m.name,
                m.type,
                _json(m.properties),
                _json(m.context),
                m.timestamp,
                received_at,
                m.message_id,
            )
            for m, owner in zip(new, owners, strict=True)
        ]
        if historical and connection.vendor == "postgresql":
            _copy(Activity._meta.db_table, ACTIVITY_COLUMNS, rows)
            activity_ids: list[int] = []
        else:
            inserted = _insert_returning(
                Activity._meta.db_table, ACTIVITY_COLUMNS, rows, "id", json_columns=frozenset({"properties", "context"})
            )
            activity_ids = [row[0] for row in inserted]
        _profiles_update(workspace_id, new, owners, shared)
        if not historical:
            batch = EvaluationBatch.objects.create(
                workspace_id=workspace_id, activity_ids=activity_ids, created_at=received_at
            )
            transaction.on_commit(lambda: _hand_to_pipeline(batch.pk))
    return StoreResult(activity_ids=activity_ids, duplicates=len(messages) - len(new), new_messages=new)


def _owners(workspace_id: int, messages: list[Message]) -> tuple[list[int], dict[int, SharedProfile]]:
    """The live profile id of each message, after the merges the batch asks for.

    Profiles about to be merged are locked exclusively; all others only with KEY SHARE, so batches
    that touch the same people do not queue behind each other.
    """
    resolution = identities_resolve(workspace_id, messages)
    merging = [
        (resolution.profile_of[source], resolution.profile_of[target], source[0] == IdentityKind.USER_ID)
        for source, target in resolution.merges
        if resolution.profile_of[source] != resolution.profile_of[target]
    ]
    if merging:
        profiles_lock({pk for source, target, _ in merging for pk in (source, target)})
        for source_id, target_id, forced in merging:  # forced: alias of an earlier user id
            profile_merge(source_id=source_id, target_id=target_id, force=forced)
    shared = profiles_share(resolution.profile_of.values())
    return [live_id(shared, resolution.profile_id(m)) for m in messages], shared


def _copy(table: str, columns: list[str], rows: list[tuple]) -> None:
    with connection.cursor() as cursor, cursor.cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def _hand_to_pipeline(batch_id: int) -> None:
    from activities.pipeline import batch_enqueue

    batch_enqueue(batch_id)


def _profiles_update(
    workspace_id: int, messages: list[Message], owners: list[int], shared: dict[int, SharedProfile]
) -> None:
    """Identify traits, timezone, locale and push tokens, applied in event-time order.

    Only profiles whose fields really change are locked and written (identify calls, a new timezone);
    a batch of plain tracks writes no profile row at all. Seen times are kept by the pipeline.
    """
    traits: dict[int, list[dict[str, Any]]] = {}
    latest: dict[int, dict[str, str]] = {}
    devices: dict[str, tuple[int, str]] = {}
    for message, owner in sorted(zip(messages, owners, strict=True), key=lambda pair: pair[0].timestamp):
        if message.traits and message.type == "identify":
            traits.setdefault(owner, []).append(message.traits)
        if (tz := message.timezone) is not None:
            latest.setdefault(owner, {})["timezone"] = tz
        if (locale := message.locale) is not None:
            latest.setdefault(owner, {})["locale"] = locale
        if (device := message.device) is not None:
            devices[device[0]] = (owner, device[1])
    changing = set(traits) | {
        pk for pk, values in latest.items() if any(getattr(shared[pk], k) != v for k, v in values.items())
    }
    if changing:
        query = Profile.objects.filter(pk__in=changing).order_by("pk")
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
                PushDevice(workspace_id=workspace_id, profile_id=profile_id, token=token, platform=platform)
                for token, (profile_id, platform) in devices.items()
            ],
            update_conflicts=True,
            unique_fields=["workspace", "token"],
            update_fields=["profile", "platform", "updated_at"],
        )
