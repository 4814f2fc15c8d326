"""evaluate: activities/s through the evaluation pipeline with 100 live journeys (entries, waits
advanced, conversions), against its same-run ceiling: the same batches with no journey live (the
pipeline's other consumers only: seen times and the tracked-activities registry).

Set-up: activities are stored through the ingestion code (100 per batch, as /v1/batch stores them), then
every batch is processed in this process exactly as a worker's task does (`pipeline.batch_process`).
The 100 journeys trigger on 20 event names (5 each) and wait for or convert on the others, so an
activity typically enters some journeys, advances others and converts some.
Not measured here yet: event → outbox p99 at 1,000 events/s through gunicorn and Celery workers.
Behaviors (20 in BENCH.md) arrive with their issue.
"""

from __future__ import annotations

import json
import os
import random
import time
from datetime import UTC, datetime, timedelta

from bench.harness import Row, bench_env, database_reset, manage, report

SCALES = {"small": (40, 1_000), "full": (300, 10_000)}  # (batches of 100 activities, profiles)
NAMES = [f"event_{i}" for i in range(20)]


def _journey(index: int) -> dict:
    trigger, wait_for, convert = NAMES[index % 20], NAMES[(index + 3) % 20], NAMES[(index + 7) % 20]
    return {
        "name": f"bench {index}",
        "conversion": {"event": convert, "window": "P7D", "exit_on_conversion": index % 2 == 0},
        "entry": {"type": "event", "event": trigger, "where": [{"property": "value", "op": "gte", "value": 10}]},
        "reentry": {"mode": "multiple", "lock": "PT1H"},
        "start": "wait",
        "nodes": {
            "wait": {
                "type": "wait_event",
                "event": wait_for,
                "timeout": "P1D",
                "on_performed": "send",
                "on_timeout": None,
            },
            "send": {"type": "send", "channel": "push", "template": f"t{index}", "next": None},
        },
    }


def _store(workspace_id: int, batches: int, profiles: int) -> list[int]:
    from activities.models import EvaluationBatch
    from activities.segment_spec import parse_batch
    from activities.store import messages_store

    rng = random.Random(7)
    start = datetime.now(UTC) - timedelta(hours=2)
    for b in range(batches):
        events = [
            {
                "type": "track",
                "userId": f"user-{rng.randrange(profiles)}",
                "event": rng.choice(NAMES),
                "properties": {"value": rng.randrange(100)},
                "timestamp": (start + timedelta(seconds=b * 100 + i)).isoformat(),
            }
            for i in range(100)
        ]
        now = datetime.now(UTC)
        messages_store(
            workspace_id=workspace_id,
            messages=parse_batch({"batch": events}, received_at=now, max_event_bytes=32 * 1024, size=0),
            received_at=now,
        )
    return list(EvaluationBatch.objects.order_by("pk").values_list("pk", flat=True))


def _process(batch_ids: list[int]) -> float:
    from activities.pipeline import batch_process

    started = time.perf_counter()
    for batch_id in batch_ids:
        assert batch_process(batch_id)
    return len(batch_ids) * 100 / (time.perf_counter() - started)


def _workspace() -> int:
    from django.db import connection

    connection.close()
    database_reset()
    return int(json.loads(manage("workspace_create", "Bench", "--owner", "bench@example.com"))["workspace_id"])


def run(scale: str) -> None:
    os.environ.update(bench_env())
    import django

    django.setup()
    from journeys.models import Enrollment
    from journeys.services import journey_create, journey_publish
    from messaging.models import Message
    from workspaces.models import Workspace

    batches, profiles = SCALES[scale]
    ceiling = _process(_store(_workspace(), batches, profiles))

    workspace = Workspace.objects.get(pk=_workspace())
    for index in range(100):
        journey_publish(journey=journey_create(workspace=workspace, actor=None, document=_journey(index)), actor=None)
    rate = _process(_store(workspace.pk, batches, profiles))
    entries, messages = Enrollment.objects.count(), Message.objects.count()
    converted = Enrollment.objects.filter(converted_at__isnull=False).count()
    rows = [Row("activities/s evaluated, 100 live journeys", rate, ceiling, "≥ 5,000/s")]
    notes = [
        f"{batches * 100:,} activities over {profiles:,} profiles: {entries:,} entries, {converted:,} conversions, "
        f"{messages:,} outbox messages.",
        "ceiling: the same batches through the pipeline with no journey live.",
        "event → outbox p99 at 1,000 events/s offered is not measured yet.",
    ]
    report("evaluate", scale, rows, notes)
