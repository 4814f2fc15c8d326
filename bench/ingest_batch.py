"""ingest_batch: events/s stored through POST /v1/batch (100 events a request, plain and gzip).

Ceiling: psycopg COPY of the same rows (messageId claims and activities, for the same profiles) into the
same tables, one COPY and commit per 100-event batch, on one connection.

Set-up: gunicorn with 2 sync workers, production settings, PostgreSQL and Redis on the same 2 cores as
the load generator. The profiles exist before the measured run (a warm-up identifies every user), as
they do for most live traffic. Celery workers are not running: ingestion only enqueues.
What bounds it (profiled with py-spy): Python per event (validation, mapping, JSON encoding) and
PostgreSQL's share of the same two cores.
"""

from __future__ import annotations

import base64
import gzip
import json
import random
import time
import uuid
from datetime import UTC, datetime, timedelta

import orjson
import psycopg

from bench.harness import DB_DSN, Row, database_reset, gunicorn, manage, report
from bench.loadgen import post_all

SCALES = {"small": {"requests": 150, "users": 2000}, "full": {"requests": 2000, "users": 20000}}
EVENTS_PER_REQUEST = 100
NAMES = ["screen_view", "add_to_cart", "update_cart", "purchase", "viewed", "search", "add_to_favorites"]


def _event(rng: random.Random, users: int, now: datetime) -> dict:
    return {
        "type": "track",
        "userId": f"user-{rng.randrange(users)}",
        "event": rng.choice(NAMES),
        "messageId": str(uuid.UUID(int=rng.getrandbits(128))),
        "timestamp": (now - timedelta(seconds=rng.randrange(3600))).isoformat(),
        "properties": {
            "price": round(rng.uniform(1, 500), 2),
            "currency": "EUR",
            "sku": f"sku-{rng.randrange(5000)}",
            "screen_name": rng.choice(["Home", "Spring Discounts", "Cart"]),
            "quantity": rng.randrange(1, 5),
        },
        "context": {"library": {"name": "analytics-python", "version": "2.4.0"}, "locale": "en-US"},
    }


def _batches(rng: random.Random, count: int, users: int) -> list[list[dict]]:
    now = datetime.now(UTC)
    return [[_event(rng, users, now) for _ in range(EVENTS_PER_REQUEST)] for _ in range(count)]


def _copy_ceiling(workspace_id: int, batches: list[list[dict]]) -> float:
    """Events/s for COPYing the same rows into the activity and dedupe tables, commit per batch."""
    with psycopg.connect(DB_DSN) as conn:
        profile_of: dict[str, int] = dict(
            conn.execute(
                "SELECT user_id, id FROM activities_profile WHERE workspace_id = %s AND user_id IS NOT NULL",
                (workspace_id,),
            ).fetchall()
        )
        started = time.perf_counter()
        for batch in batches:
            now = datetime.now(UTC)
            with conn.cursor() as cur:
                with cur.copy("COPY activities_dedupekey (workspace_id, message_id, received_at) FROM STDIN") as copy:
                    for event in batch:
                        copy.write_row((workspace_id, "ceiling-" + event["messageId"], now))
                with cur.copy(
                    "COPY activities_activity (workspace_id, profile_id, name, type, properties, context, "
                    "timestamp, received_at, message_id) FROM STDIN"
                ) as copy:
                    for event in batch:
                        copy.write_row(
                            (
                                workspace_id,
                                profile_of[event["userId"]],
                                event["event"],
                                "track",
                                orjson.dumps(event["properties"]).decode(),
                                orjson.dumps(event["context"]).decode(),
                                event["timestamp"],
                                now,
                                "ceiling-" + event["messageId"],
                            )
                        )
            conn.commit()
        return sum(len(b) for b in batches) / (time.perf_counter() - started)


def _stored(workspace_id: int) -> int:
    with psycopg.connect(DB_DSN) as conn:
        row = conn.execute(
            "SELECT count(*) FROM activities_activity WHERE workspace_id = %s AND message_id NOT LIKE 'ceiling-%%'",
            (workspace_id,),
        ).fetchone()
        return int(row[0]) if row else 0


def run(scale: str) -> None:
    size = SCALES[scale]
    rng = random.Random(42)
    database_reset()
    created = json.loads(manage("workspace_create", "Bench", "--owner", "bench@example.com"))
    workspace_id = created["workspace_id"]
    headers = {
        "Content-Type": "application/json",
        "Authorization": "Basic " + base64.b64encode(f"{created['write_key']}:".encode()).decode(),
    }
    warmup = [
        orjson.dumps(
            {
                "batch": [
                    {
                        "type": "identify",
                        "userId": f"user-{u}",
                        "traits": {"plan": "free"},
                        "context": {"locale": "en-US"},
                    }
                    for u in range(start, min(start + 100, size["users"]))
                ]
            }
        )
        for start in range(0, size["users"], 100)
    ]
    plain = [orjson.dumps({"batch": b}) for b in _batches(rng, size["requests"], size["users"])]
    zipped_batches = _batches(rng, size["requests"], size["users"])
    zipped = [gzip.compress(orjson.dumps({"batch": b})) for b in zipped_batches]
    ceiling_batches = _batches(rng, size["requests"], size["users"])

    with gunicorn(workers=2) as base:
        post_all(f"{base}/v1/batch", warmup, headers)
        before = _stored(workspace_id)
        plain_result = post_all(f"{base}/v1/batch", plain, headers)
        zipped_result = post_all(f"{base}/v1/batch", zipped, {**headers, "Content-Encoding": "gzip"})
        stored = _stored(workspace_id) - before
    ceiling = _copy_ceiling(workspace_id, ceiling_batches)

    sent = 2 * size["requests"] * EVENTS_PER_REQUEST
    plain_rate = size["requests"] * EVENTS_PER_REQUEST / plain_result.seconds
    zipped_rate = size["requests"] * EVENTS_PER_REQUEST / zipped_result.seconds
    rows = [
        Row("events/s stored, plain JSON", plain_rate, ceiling, "≥ 0.6"),
        Row("events/s stored, gzip", zipped_rate, ceiling, "≥ 0.6"),
        Row("request p50 ms (plain)", plain_result.percentile(50) * 1000, None, "—"),
        Row("request p99 ms (plain)", plain_result.percentile(99) * 1000, None, "—"),
    ]
    notes = [
        f"{sent:,} events sent in {2 * size['requests']:,} requests; {stored:,} stored "
        f"(statuses: plain {plain_result.statuses}, gzip {zipped_result.statuses}).",
        f"load generator CPU: {plain_result.client_cpu_seconds + zipped_result.client_cpu_seconds:.1f} s over "
        f"{plain_result.seconds + zipped_result.seconds:.1f} s of load.",
        "ceiling: COPY of the same rows into activities_dedupekey + activities_activity, one commit per 100.",
    ]
    report("ingest_batch", scale, rows, notes)
    if stored != sent:
        raise SystemExit(f"ingest_batch: {sent} events sent but {stored} stored")
