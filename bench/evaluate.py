"""evaluate: activities/s through the evaluation pipeline with 100 live journeys (entries, waits
advanced, conversions) and 20 live behaviors (matches started, restarted, advanced, cancelled), against
its same-run ceiling: the same batches with no journey live (the pipeline's other consumers only: seen
times and the tracked-activities registry).

Set-up: activities are stored through the ingestion code (100 per batch, as /v1/batch stores them) and
ANALYZEd, then every pending batch is processed in this process exactly as a worker's tasks do behind a
backlog (`pipeline.batches_process` with NUDGE_PIPELINE_GROUP: a task takes up to that many pending
batches into its transaction) — including the batches the evaluation itself writes (what behaviors
record), until none is left; the rate counts the stored activities only. The ceiling's batches are
grouped the same way, and gain more from it than the journeys do (its work is mostly per transaction,
theirs per entry): at full scale grouping raised the rate with journeys live from 810–964 to 1,554/s
and the ratio fell, 0.25 → 0.14 (2026-12-02).
The 100 journeys trigger on 20 event names (5 each) and wait for or convert on the others, so an
activity typically enters some journeys, advances others and converts some. The 20 behaviors start on
each of the 20 names and go on with the kinds of §7: performed within a window, not performed, inactive.
Backfill: one more behavior, backfilled over the stored batches, against a bare read of the same rows.
Latency: with the same journeys live plus a probe journey (entered on `probe`, whose first step sends),
1,000 events/s are offered to `POST /v1/batch` (gunicorn, 2 workers) in requests of 50, open loop; a Celery
worker (2 processes) runs the pipeline. That run is above capacity and measures it (its events over the
time until the pipeline drained them); the second offers half of it, the rate BENCH.md's target is set at.
Each run is preceded by a few seconds of warm-up at its rate, not measured. One event in ten is a probe carrying its
send time; its outbox row's creation time minus that is the event → outbox latency. The run waits for
the pipeline to drain (no batch pending, polled every 0.1 s) and fails, saying which batches are left,
if it stalls or outlasts its deadline: no batch is left behind for the next phase to trip on.
"""

from __future__ import annotations

import json
import os
import random
import time
from datetime import UTC, datetime, timedelta

from bench.harness import Row, bench_env, celery_worker, database_reset, gunicorn, manage, report, tables_analyze
from bench.loadgen import post_paced

SCALES = {"small": (40, 1_000), "full": (300, 10_000)}  # (batches of 100 activities, profiles)
OFFER_SECONDS = {"small": 5, "full": 20}  # per latency run
WARMUP_SECONDS = 3  # offered before each latency run, not measured
OVERLOAD = 1_000  # events/s offered first: above capacity, which that run measures
PUSH = {"title": "Hello", "body": "{{ profile.first_name | default: 'there' }}"}
PROBE = {
    "name": "probe",
    "entry": {"type": "event", "event": "probe"},
    "reentry": {"mode": "multiple"},
    "start": "send",
    "nodes": {"send": {"type": "send", "channel": "push", "template": "probe", "next": None}},
}
NAMES = [f"event_{i}" for i in range(20)]
DRAIN_FLOOR = 20  # events/s: a drain slower than this fails (the deadline), as does one that stalls
DRAIN_STALL = 30.0  # seconds without a batch processed while some are pending


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


def _behavior(index: int) -> dict:
    """Four shapes over the 20 names: an abandoned cart, a two-step funnel left undone, a streak then
    silence, a single step with a once-a-day limit."""
    first, then, other = NAMES[index], NAMES[(index + 5) % 20], NAMES[(index + 11) % 20]
    shapes = [
        [{"not_performed": then, "within": "P3D"}],
        [{"performed": then, "within": "P1D"}, {"not_performed": other, "within": "P7D"}],
        [{"performed": then, "within": "P7D"}, {"inactive": "P2D"}],
        [],
    ]
    document = {
        "name": f"bench behavior {index}",
        "slug": f"bench_{index}",
        "steps": [{"performed": first, "where": [{"property": "value", "op": "gte", "value": 50}]}, *shapes[index % 4]],
    }
    return {**document, "max_once_per": "P1D"} if index % 4 == 3 else document


def _store(workspace_id: int, batches: int, profiles: int) -> None:
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
            messages=parse_batch({"batch": events}, received_at=now, max_event_bytes=32 * 1024, size=0).messages,
            received_at=now,
        )
    tables_analyze("activities_activity", "activities_profile", "activities_identity", "activities_evaluationbatch")


def _pending() -> str:
    """What is left in the pipeline, for a failure message."""
    from activities.models import EvaluationBatch

    rows = list(EvaluationBatch.objects.order_by("pk").values_list("pk", "attempts", "created_at")[:10])
    return ", ".join(f"#{pk} (attempts {attempts}, created {created:%H:%M:%S})" for pk, attempts, created in rows)


def _process() -> tuple[float, int]:
    """Every pending batch processed here as a worker's tasks do (the oldest's task, which takes up to
    NUDGE_PIPELINE_GROUP pending batches along), then those the processing wrote, until none is left:
    (stored activities/s, batches processed)."""
    from django.conf import settings

    from activities.models import EvaluationBatch
    from activities.pipeline import batches_process

    stored = sum(len(ids) for ids in EvaluationBatch.objects.values_list("activity_ids", flat=True))
    processed = 0
    started = time.perf_counter()
    while batch_id := EvaluationBatch.objects.order_by("pk").values_list("pk", flat=True).first():
        done = batches_process([batch_id], group=settings.NUDGE_PIPELINE_GROUP)
        if not done:
            raise SystemExit(f"evaluate: batch #{batch_id} is held by another process; pending: {_pending()}")
        processed += done
    return stored / (time.perf_counter() - started), processed


def drain(events: int) -> float:
    """Wait until the worker has processed every pending batch (those the evaluation writes too); the
    seconds it took. Fails with what is left if nothing moves for DRAIN_STALL s or the drain is slower
    than DRAIN_FLOOR events/s."""
    from django.db.models import Count, Min

    from activities.models import EvaluationBatch

    def state() -> tuple[int, int | None]:  # (pending, oldest): either changes when a batch is processed
        row = EvaluationBatch.objects.aggregate(left=Count("pk"), oldest=Min("pk"))
        return row["left"], row["oldest"]

    started = time.monotonic()
    deadline = started + max(60.0, events / DRAIN_FLOOR)
    last, moved = state(), started
    while last[0]:
        time.sleep(0.1)
        now, current = time.monotonic(), state()
        if current != last:
            last, moved = current, now
        if now - moved > DRAIN_STALL:
            why = f"no batch processed for {now - moved:.0f} s"
        elif now > deadline:
            why = f"still pending after {now - started:.0f} s"
        else:
            continue
        raise SystemExit(f"pipeline drain: {last[0]} batches {why} ({events:,} events offered); pending: {_pending()}")
    return time.monotonic() - started


def nothing_pending(phase: str) -> None:
    """A batch left over would be processed (or trip the drain) in a later phase it does not belong to."""
    from activities.models import EvaluationBatch

    if EvaluationBatch.objects.exists():
        raise SystemExit(f"pipeline: batches orphaned before {phase}: {_pending()}")


def batch_body(rng: random.Random, profiles: int, key: str) -> bytes:
    """A /v1/batch body of 50 track events over `profiles` users, one in ten a `probe`."""
    import orjson

    events = [
        {
            "type": "track",
            "userId": f"user-{rng.randrange(profiles)}",
            "event": "probe" if j % 10 == 0 else rng.choice(NAMES),
            "messageId": f"{key}-{j}",
            "properties": {"value": rng.randrange(100)},
        }
        for j in range(50)
    ]
    return orjson.dumps({"batch": events})


def write_auth(workspace, name: str) -> str:
    """The Authorization header of a new write key of `workspace`."""
    import base64

    from workspaces.services import write_key_create

    key = write_key_create(workspace=workspace, name=name, actor=None).raw
    return "Basic " + base64.b64encode(f"{key}:".encode()).decode()


def _latency(workspace, seconds: int, profiles: int, rate: int) -> tuple[float, float, int, float]:
    """(p50, p99, probes, capacity) of event → outbox row, with `rate` events/s offered through the real
    path after a warm-up at the same rate (worker processes' first batches load the live index,
    documents and connections: steady state is measured). `capacity`: the events offered over the time
    from the first request until the pipeline had drained them all, i.e. what the machine sustained."""
    from messaging.models import Message

    auth = write_auth(workspace, "latency")
    rng = random.Random(11)
    requests = seconds * rate // 50  # requests of 50 events, evenly spaced

    def stamp(raw: bytes) -> bytes:
        """The send time goes into every event as its request leaves, so the figure includes queueing."""
        return raw.replace(b'"value":', b'"sent_at":' + repr(time.time()).encode() + b',"value":')

    headers = {"Authorization": auth, "Content-Type": "application/json"}
    nothing_pending(f"the latency run at {rate:,}/s")  # the worker's broker starts empty
    with gunicorn() as base, celery_worker():
        warm = [batch_body(rng, profiles, f"warm-{rate}-{i}") for i in range(max(1, WARMUP_SECONDS * rate // 50))]
        post_paced(f"{base}/v1/batch", warm, headers, 50 / rate)
        drain(len(warm) * 50)
        Message.objects.filter(template="probe").delete()
        bodies = [batch_body(rng, profiles, f"lat-{rate}-{i}") for i in range(requests)]
        started = time.monotonic()
        result = post_paced(f"{base}/v1/batch", bodies, headers, 50 / rate, prepare=stamp)
        drain(requests * 50)
        capacity = requests * 50 / (time.monotonic() - started)
    assert result.statuses == {200: requests}, result.statuses
    latencies = sorted(
        m.created_at.timestamp() - float(m.payload["event"]["sent_at"])
        for m in Message.objects.filter(template="probe").only("created_at", "payload")
    )
    if not latencies:
        return 0.0, 0.0, 0, capacity
    pick = lambda p: latencies[min(len(latencies) - 1, int(len(latencies) * p))]  # noqa: E731
    return pick(0.5), pick(0.99), len(latencies), capacity


BACKFILLED = {
    "name": "bench backfill",
    "slug": "bench_backfill",
    "steps": [{"performed": "event_0"}, {"inactive": "PT2H"}],  # `inactive`: every activity is read
}


def _backfill(workspace) -> tuple[float, float, int, int, int]:
    """(activities/s replayed by a backfill over the stored batches, activities/s of a bare read of the
    same window, activities, matches opened, firings recorded)."""
    from activities.models import Activity
    from behaviors.backfill import backfill_start, backfills_run
    from behaviors.services import behavior_create

    behavior = behavior_create(workspace=workspace, actor=None, document=BACKFILLED)
    backfill = backfill_start(behavior=behavior, actor=None, days=1)
    window = Activity.objects.filter(workspace=workspace, timestamp__gte=backfill.since, timestamp__lt=backfill.until)
    started = time.perf_counter()
    rows = list(window.order_by("profile_id", "timestamp").values_list("profile_id", "name", "properties", "timestamp"))
    bare = len(rows) / (time.perf_counter() - started)
    started = time.perf_counter()
    backfills_run(budget_seconds=3600)
    replayed = len(rows) / (time.perf_counter() - started)
    backfill.refresh_from_db()
    assert backfill.status == "done", backfill.status
    return replayed, bare, len(rows), backfill.opened, backfill.fired


def workload_publish():
    """A fresh database whose workspace has the 100 journeys live and the 20 behaviors; the workspace."""
    from behaviors.services import behavior_create
    from journeys.services import journey_create, journey_publish
    from messaging.models import Template
    from workspaces.models import Workspace

    workspace = Workspace.objects.get(pk=_workspace())
    Template.objects.bulk_create(
        [Template(workspace=workspace, channel="push", name=f"t{i}", content=PUSH) for i in range(100)]
        + [Template(workspace=workspace, channel="push", name="probe", content=PUSH)]
    )
    for index in range(100):
        journey_publish(journey=journey_create(workspace=workspace, actor=None, document=_journey(index)), actor=None)
    for index in range(20):
        behavior_create(workspace=workspace, actor=None, document=_behavior(index))
    return workspace


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

    batches, profiles = SCALES[scale]
    _store(_workspace(), batches, profiles)
    ceiling, _ = _process()

    workspace = workload_publish()
    _store(workspace.pk, batches, profiles)
    rate, processed = _process()
    journeys = Enrollment.objects.filter(journey__behavior__isnull=True)
    entries, messages = journeys.count(), Message.objects.count()
    converted = journeys.filter(converted_at__isnull=False).count()
    matches = Enrollment.objects.filter(journey__behavior__isnull=False).count()
    nothing_pending("the backfill")
    replayed, bare, window, opened, fired = _backfill(workspace)
    journey_publish(journey=journey_create(workspace=workspace, actor=None, document=PROBE), actor=None)
    p50, p99, probes, capacity = _latency(workspace, OFFER_SECONDS[scale], profiles, OVERLOAD)
    half = max(50, int(capacity / 2) // 50 * 50)  # whole requests of 50 a second
    low50, low99, low_probes, _ = _latency(workspace, OFFER_SECONDS[scale], profiles, half)
    rows = [
        Row("activities/s evaluated, 100 journeys + 20 behaviors", rate, ceiling, "≥ 0.5 × ceiling"),
        Row("end-to-end capacity, events/s (ingestion + pipeline, 1,000/s offered)", capacity, None, "—"),
        Row(f"event → outbox p50 s, {OVERLOAD:,} events/s offered", p50, None, "—"),
        Row(f"event → outbox p99 s, {OVERLOAD:,} events/s offered", p99, None, "—"),
        Row(f"event → outbox p50 s, {half:,} events/s offered (½ capacity)", low50, None, "—"),
        Row(f"event → outbox p99 s, {half:,} events/s offered (½ capacity)", low99, None, "≤ 1 s"),
        Row("backfill: stored activities/s replayed", replayed, bare, "—"),
    ]
    notes = [
        f"{batches * 100:,} activities over {profiles:,} profiles: {entries:,} entries, {converted:,} conversions, "
        f"{messages:,} outbox messages; {matches:,} behavior matches started; {processed:,} batches processed "
        f"({processed - batches:,} of them written by the evaluation: what behaviors recorded).",
        "ceiling: the same batches through the pipeline with no journey live.",
        f"backfill: a behavior (event_0, then inactive 2 h) over the last day's {window:,} stored activities "
        f"({opened:,} matches opened, {fired:,} firings recorded); ceiling: a bare read of the same rows.",
        f"latency: one event in ten is a probe ({probes:,} at {OVERLOAD:,}/s and {low_probes:,} at {half:,}/s over "
        f"{OFFER_SECONDS[scale]} s each, after {WARMUP_SECONDS} s of warm-up at the same rate); gunicorn 2 workers, "
        "Celery 2 processes, all on this machine. Capacity: the events of the 1,000/s run over the time until the "
        "pipeline had drained them.",
    ]
    report("evaluate", scale, rows, notes)
