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

from activities.identity import identities_resolve, live_profile, profile_merge, profiles_lock
from activities.models import Activity, DedupeKey, EvaluationBatch, Profile, PushDevice
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
        owners = _owners(workspace_id, new)
        rows = [
            (
                workspace_id,
                owner.pk,
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
        _profiles_update(workspace_id, new, owners)
        if not historical:
            batch = EvaluationBatch.objects.create(
                workspace_id=workspace_id, activity_ids=activity_ids, created_at=received_at
            )
            transaction.on_commit(lambda: _hand_to_pipeline(batch.pk))
    return StoreResult(activity_ids=activity_ids, duplicates=len(messages) - len(new), new_messages=new)


def _owners(workspace_id: int, messages: list[Message]) -> list[Profile]:
    """The live profile of each message, after the merges the batch asks for; profiles stay locked."""
    resolution = identities_resolve(workspace_id, messages)
    profiles = profiles_lock(resolution.profile_of.values())
    for source, target in resolution.merges:
        source_id, target_id = resolution.profile_of[source], resolution.profile_of[target]
        if live_profile(profiles, source_id).pk != live_profile(profiles, target_id).pk:
            forced = source[0] == "user_id"  # alias of an earlier user id
            if profile_merge(source_id=source_id, target_id=target_id, force=forced):
                profiles = profiles_lock(resolution.profile_of.values())
    return [live_profile(profiles, resolution.profile_id(m)) for m in messages]


def _copy(table: str, columns: list[str], rows: list[tuple]) -> None:
    with connection.cursor() as cursor, cursor.cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def _hand_to_pipeline(batch_id: int) -> None:
    from activities.pipeline import batch_enqueue

    batch_enqueue(batch_id)


def _profiles_update(workspace_id: int, messages: list[Message], owners: list[Profile]) -> None:
    """Seen times, identify traits, timezone, locale and push tokens, applied in event-time order."""
    changed: dict[int, Profile] = {}
    devices: dict[str, tuple[int, str]] = {}
    for message, profile in sorted(zip(messages, owners, strict=True), key=lambda pair: pair[0].timestamp):
        fields = changed.setdefault(profile.pk, profile)
        if fields.first_seen is None or message.timestamp < fields.first_seen:
            fields.first_seen = message.timestamp
        if fields.last_seen is None or message.timestamp > fields.last_seen:
            fields.last_seen = message.timestamp
        if message.traits and message.type == "identify":
            fields.traits = {**fields.traits, **message.traits}
            email, phone = message.traits.get("email"), message.traits.get("phone")
            if isinstance(email, str):
                fields.email = email.strip().lower()[:254]
            if isinstance(phone, (str, int)) and not isinstance(phone, bool):
                fields.phone = str(phone).strip()[:32]
        if (tz := message.timezone) is not None:
            fields.timezone = tz
        if (locale := message.locale) is not None:
            fields.locale = locale
        if (device := message.device) is not None:
            devices[device[0]] = (profile.pk, device[1])
    Profile.objects.bulk_update(
        changed.values(), ["first_seen", "last_seen", "traits", "email", "phone", "timezone", "locale"]
    )
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
