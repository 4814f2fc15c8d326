"""Activities Nudge records itself about profiles it already knows — a behavior's match
(`behavior:abandoned_cart`), a journey's `record_activity` step — written in one statement on
PostgreSQL, in the caller's transaction.

Ingestion's general store resolves who a message is about from its ids; these activities are about a
profile by key, so there is nothing to resolve: the statement locks the profiles (KEY SHARE, in id
order: a merge committed meanwhile is seen, and the activity goes to the profile it was merged into),
claims each message id in the dedupe table, writes the activities whose claim succeeded and, for live
ones, their pipeline batch. A profile deleted meanwhile records nothing. The arrays travel in binary
(`%b`, as `config.sql`'s do). On SQLite (the embedded default) the caller takes ingestion's general path
instead.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import transaction

from activities.models import Activity, DedupeKey, EvaluationBatch, Profile
from config.sql import json_text, raw_cursor


@dataclass(frozen=True)
class RecordedActivity:
    profile_id: int
    name: str
    properties: Mapping[str, Any]
    at: datetime
    message_id: str  # stored once per workspace, like any messageId


_SQL = f"""
WITH r AS MATERIALIZED (
    SELECT DISTINCT ON (message_id) profile_id, name, properties, at, message_id
    FROM unnest(%(profiles)b::bigint[], %(names)b::text[], %(properties)b::text[], %(at)b::timestamptz[],
        %(keys)b::text[]) AS u(profile_id, name, properties, at, message_id)
    ORDER BY message_id
), p AS MATERIALIZED (
    SELECT id, COALESCE(merged_into_id, id) AS owner FROM {Profile._meta.db_table}
    WHERE id = ANY(%(profiles)b::bigint[]) AND workspace_id = %(ws)s::bigint
    ORDER BY id FOR KEY SHARE
), addressed AS MATERIALIZED (
    SELECT r.*, p.owner FROM r JOIN p ON p.id = r.profile_id
), d AS (
    INSERT INTO {DedupeKey._meta.db_table} (workspace_id, message_id, received_at)
    SELECT %(ws)s::bigint, message_id, %(received_at)s::timestamptz FROM addressed
    ON CONFLICT (workspace_id, message_id) DO NOTHING
    RETURNING message_id
), a AS (
    INSERT INTO {Activity._meta.db_table}
        (workspace_id, profile_id, name, type, properties, context, timestamp, received_at, message_id)
    SELECT %(ws)s::bigint, owner, name, 'track', properties::jsonb, %(context)s::text::jsonb, at,
        %(received_at)s::timestamptz, addressed.message_id
    FROM addressed JOIN d ON d.message_id = addressed.message_id
    RETURNING id
), b AS (
    INSERT INTO {EvaluationBatch._meta.db_table} (workspace_id, activity_ids, created_at, attempts)
    SELECT %(ws)s::bigint, jsonb_agg(id ORDER BY id), %(received_at)s::timestamptz, 0 FROM a
    WHERE %(live)s::boolean HAVING count(*) > 0
    RETURNING id
)
SELECT (SELECT count(*) FROM addressed), (SELECT id FROM b)
"""


def recorded_write(
    workspace_id: int,
    recorded: Sequence[RecordedActivity],
    *,
    received_at: datetime,
    historical: bool = False,
    context: Mapping[str, Any] | None = None,
) -> int:
    """Store the activities (PostgreSQL only); live ones are handed to the pipeline after commit,
    `historical` ones are not. Returns how many were about a profile that still exists (re-sent message
    ids among them store nothing)."""
    if not recorded:
        return 0
    with raw_cursor() as cursor:
        cursor.execute(
            _SQL,
            {
                "ws": workspace_id,
                "profiles": [r.profile_id for r in recorded],
                "names": [r.name for r in recorded],
                "properties": [json_text(r.properties) for r in recorded],
                "at": [r.at for r in recorded],
                "keys": [r.message_id for r in recorded],
                "received_at": received_at,
                "context": json_text(context or {}),
                "live": not historical,
            },
        )
        ((addressed, batch_id),) = cursor.fetchall()
    if batch_id is not None:
        transaction.on_commit(lambda: _hand_to_pipeline(batch_id))
    return int(addressed)


def _hand_to_pipeline(batch_id: int) -> None:
    from activities.pipeline import batch_enqueue

    batch_enqueue(batch_id)
