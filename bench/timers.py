"""timers: due journey timers fired per second by the sweep, and whether the sweep's cost follows the
number due rather than the number waiting (the same due count among a small and a large crowd).

Ceiling: a bare UPDATE of the same enrollment rows (what firing must at least write).
Set-up: a live journey (§8.1's document) — and, for behavior timers, the abandoned-cart behavior, whose
open matches wait at "no purchase within 3 days" and, when that window closes, record
`behavior:abandoned_cart` through ingestion's store (an activity and a pipeline batch per firing).
Waiting enrollments and their timers are written with COPY; the sweep runs in this process
(`journeys.runtime.timers_fire`, batches of 500) against PostgreSQL.
Not measured here yet: lateness under beat (needs the worker topology) — see the README.
What bounds it: per timer the sweep locks the enrollment, saves its state, writes the outbox message
(get-or-create on the idempotency key) and deletes the timer — a few statements each.
"""

from __future__ import annotations

import json
import os
import time
from datetime import UTC, datetime, timedelta

from bench.harness import DB_DSN, Row, bench_env, database_reset, manage, profiles_copy, report

# (timers due, small crowd waiting, large crowd waiting)
SCALES: dict[str, tuple[int, int, int]] = {"small": (2_000, 10_000, 50_000), "full": (10_000, 10_000, 1_000_000)}


def _setup_django() -> None:
    os.environ.update(bench_env())
    import django

    django.setup()


def _populate(workspace_id: int, journey_id: int, version_id: int, node: str, waiting: int, due: int) -> None:
    """`waiting` enrollments resting at `node`, of which `due` have timers in the past."""
    import psycopg

    now = datetime.now(UTC)
    with psycopg.connect(DB_DSN) as conn:
        first = profiles_copy(conn, workspace_id, waiting)
        with conn.cursor().copy(
            "COPY journeys_enrollment (workspace_id, journey_id, version_id, profile_id, "
            "entered_at, trigger, node, wait_started, due_at, path, exit_reason) FROM STDIN"
        ) as copy:
            for i in range(waiting):
                started = now - timedelta(days=3, minutes=1) if i < due else now
                copy.write_row(
                    (
                        workspace_id,
                        journey_id,
                        version_id,
                        first + i,
                        started,
                        "{}",
                        node,
                        started,
                        started + timedelta(days=3),
                        "[]",
                        "",
                    )
                )
        conn.execute(
            "INSERT INTO journeys_timer (workspace_id, enrollment_id, due_at, held) "
            "SELECT workspace_id, id, due_at, false FROM journeys_enrollment WHERE journey_id = %s "
            "AND profile_id >= %s",
            (journey_id, first),
        )
        conn.commit()
        conn.execute("ANALYZE")


def _one_run(crowd: int, due: int, *, behavior: bool = False) -> tuple[float, float, float]:
    """(fired/s, sweep seconds, ceiling/s) with `crowd` waiting of which `due` are due: journey timers,
    or the open matches of a behavior."""
    database_reset()
    created = json.loads(manage("workspace_create", "Bench", "--owner", "bench@example.com"))
    from django.db import connection

    from activities.models import Activity
    from behaviors.examples import EXAMPLES
    from behaviors.models import Behavior
    from behaviors.services import behavior_resume
    from journeys.models import Journey
    from journeys.runtime import timers_fire
    from journeys.services import journey_create, journey_publish
    from messaging.models import Template
    from tests.journeys.documents import discounts
    from workspaces.models import Workspace

    connection.close()
    workspace = Workspace.objects.get(pk=created["workspace_id"])
    Template.objects.bulk_create(
        [
            Template(workspace=workspace, channel="push", name="liked-this-item", content={"title": "t", "body": "b"}),
            Template(workspace=workspace, channel="sms", name="post-purchase-survey", content={"body": "b"}),
        ]
    )
    if behavior:
        cart = Behavior.objects.get(workspace=workspace, slug="abandoned_cart")
        assert cart.document == next(e for e in EXAMPLES if e["slug"] == "abandoned_cart")
        behavior_resume(behavior=cart, actor=None)
        cart.refresh_from_db()
        journey = cart.journey
        assert journey is not None and journey.live_version is not None
        version, node = journey.live_version, "step1"
    else:
        journey = journey_create(workspace=workspace, actor=None, document=discounts(schedule={}, reentry={}))
        version, node = journey_publish(journey=journey, actor=None), "fav"
    _populate(workspace.pk, journey.pk, version.pk, node, crowd, due)
    ceiling_db = _bare_update_ceiling_copy(journey.pk, due)
    started = time.perf_counter()
    fired = timers_fire()
    elapsed = time.perf_counter() - started
    assert fired == due, f"fired {fired} of {due} due timers"
    assert Journey.objects.get(pk=journey.pk).enrollments.filter(exit_reason="completed").count() == due
    if behavior:
        assert Activity.objects.filter(name="behavior:abandoned_cart").count() == due
    return fired / elapsed, elapsed, ceiling_db


def _bare_update_ceiling_copy(journey_id: int, due: int) -> float:
    """The ceiling measured on the same rows inside a transaction that is rolled back, so the sweep
    afterwards finds them untouched."""
    import psycopg

    with psycopg.connect(DB_DSN) as conn:
        ids = [
            r[0]
            for r in conn.execute(
                "SELECT enrollment_id FROM journeys_timer WHERE due_at <= now() ORDER BY due_at LIMIT %s", (due,)
            )
        ]
        started = time.perf_counter()
        for start in range(0, len(ids), 500):
            conn.execute(
                "UPDATE journeys_enrollment SET node = NULL, exit_at = now(), exit_reason = 'completed' "
                "WHERE id = ANY(%s)",
                (ids[start : start + 500],),
            )
        elapsed = time.perf_counter() - started
        conn.rollback()
    return len(ids) / elapsed


def run(scale: str) -> None:
    _setup_django()
    due, small, large = SCALES[scale]
    rate_small, sweep_small, ceiling = _one_run(small, due)
    rate_large, sweep_large, _ = _one_run(large, due)
    b_small, b_sweep_small, b_ceiling = _one_run(small, due, behavior=True)
    b_large, b_sweep_large, _ = _one_run(large, due, behavior=True)
    rows = [
        Row(f"due timers fired/s ({small:,} waiting)", rate_small, ceiling, "≥ 10,000/s"),
        Row(f"due timers fired/s ({large:,} waiting)", rate_large, ceiling, "≥ 10,000/s"),
        Row(f"sweep seconds, {large:,} vs {small:,} waiting", sweep_large, sweep_small, "ratio ≤ 1.2"),
        Row(f"behavior timers fired/s ({small:,} open matches)", b_small, b_ceiling, "≥ 10,000/s"),
        Row(f"behavior timers fired/s ({large:,} open matches)", b_large, b_ceiling, "≥ 10,000/s"),
        Row(f"behavior sweep seconds, {large:,} vs {small:,} open", b_sweep_large, b_sweep_small, "ratio ≤ 1.2"),
    ]
    notes = [
        f"{due:,} timers due in each run; every one fired exactly once (checked), and each behavior timer "
        "recorded exactly one behavior:abandoned_cart activity (checked).",
        "ceiling: UPDATE of the same enrollment rows, 500 per statement, rolled back.",
        "the sweep-time row's 'ceiling' column is the small-crowd sweep; its ratio is large ÷ small.",
    ]
    report("timers", scale, rows, notes)
