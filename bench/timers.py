"""timers: due journey timers fired per second by the sweep, and whether the sweep's cost follows the
number due rather than the number waiting (the same due count among a small and a large crowd).

Ceiling: a bare UPDATE of the same enrollment rows (what firing must at least write).
Set-up: a live journey (§8.1's document) — and, for behavior timers, the abandoned-cart behavior, whose
open matches wait at "no purchase within 3 days" and, when that window closes, record
`behavior:abandoned_cart` (an activity and its pipeline batch, `activities.recorded`).
Waiting enrollments (each one's timer is its `due_at`) are written with COPY; the sweep runs in this process
(`journeys.runtime.timers_fire`, batches of 500) against PostgreSQL. Each kind is measured after an
unmeasured sweep of its own (`WARMUP`): a process's first sweep imports what it first calls, builds its
statements and loads documents, which a running worker did long ago (the first measured run was up to
0.6 s slower than the same sweep among 100 times the crowd).
Lateness: timers coming due at a steady rate (half the fired/s just measured) over a window, and the
real sweep task (`journeys.tasks.fire_timers`) run in this process at the cadence beat gives it
(config/schedule.py); a timer's lateness is the commit of the sweep batch that fired it minus its due
time. The sweep fires oldest first, so the running total after each batch's commit says which batch fired
which timer. Celery's own dispatch (a few ms) is not included.
What bounds it: per batch of 500 the sweep claims and locks the due enrollments (one statement, tuples),
reads which journeys are paused, locks profiles only for versions that read them (none here), runs the
engine step per enrollment, then writes the enrollments' state (which spends the timers), the outbox
messages and the counters in one statement each. A behavior timer also writes the activity it records,
with its dedupe key and pipeline batch, in one more statement per batch. Measured (statement log, cProfile;
full scale 2026-12-01: ~37 ms a batch): about half PostgreSQL — the state update (~6 ms, the ceiling's own
statement), the outbox insert (~6 ms), the commit with the outbox's profile check and the WAL flush (~6 ms)
— and half Python, the engine step and effects (~30 µs a timer) and the statements' arrays. The ceiling
neither commits nor writes the outbox.
"""

from __future__ import annotations

import bisect
import json
import os
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from bench.harness import DB_DSN, Row, bench_env, database_reset, manage, profiles_copy, report, tables_analyze

# (timers due, small crowd waiting, large crowd waiting)
SCALES: dict[str, tuple[int, int, int]] = {"small": (2_000, 10_000, 50_000), "full": (10_000, 10_000, 1_000_000)}
WARMUP = (1_000, 500)  # (waiting, due): an unmeasured sweep of each kind first (modules, documents, statements)
LATENESS_SECONDS = {"small": 15, "full": 60}  # the window over which timers come due
WAIT = timedelta(days=3)  # the discounts journey's wait at "fav"
LOAD_ROWS_PER_SECOND = 10_000  # a conservative COPY rate, to start the lateness window after the load


def _setup_django() -> None:
    """Django, and the Celery app finalized as a worker's is when it starts (the sweep hands what
    behaviors record to the pipeline through it; finalizing is a one-time start-up cost, ~0.1 s)."""
    os.environ.update(bench_env())
    import django

    django.setup()
    from config.celery import app

    app.finalize(auto=True)


def _populate(workspace_id: int, journey_id: int, version_id: int, node: str, starts: Sequence[datetime]) -> int:
    """An enrollment resting at `node` for each wait start (its timer is due `WAIT` later), then ANALYZE;
    returns the first profile id (profile ids follow the order of `starts`)."""
    import psycopg

    waiting = len(starts)
    with psycopg.connect(DB_DSN) as conn:
        first = profiles_copy(conn, workspace_id, waiting)
        with conn.cursor().copy(
            "COPY journeys_enrollment (workspace_id, journey_id, version_id, profile_id, "
            "entered_at, trigger, node, wait_started, due_at, timer_held, path, exit_reason) FROM STDIN"
        ) as copy:
            for i, started in enumerate(starts):
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
                        started + WAIT,
                        False,
                        "[]",
                        "",
                    )
                )
        conn.commit()
    tables_analyze("activities_profile", "activities_identity", "journeys_enrollment")
    return first


def _journey_setup(*, behavior: bool) -> tuple[int, int, int, str]:
    """A fresh database with the discounts journey live (or the abandoned-cart behavior resumed):
    (workspace id, journey id, version id, the node its enrollments wait at)."""
    database_reset()
    created = json.loads(manage("workspace_create", "Bench", "--owner", "bench@example.com"))
    from django.db import connection

    from behaviors.examples import EXAMPLES
    from behaviors.models import Behavior
    from behaviors.services import behavior_resume
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
    return workspace.pk, journey.pk, version.pk, node


def _one_run(crowd: int, due: int, *, behavior: bool = False) -> tuple[float, float, float]:
    """(fired/s, sweep seconds, ceiling/s) with `crowd` waiting of which `due` are due: journey timers,
    or the open matches of a behavior."""
    from activities.models import Activity
    from journeys.models import Journey
    from journeys.runtime import timers_fire

    workspace_id, journey_id, version_id, node = _journey_setup(behavior=behavior)
    now = datetime.now(UTC)
    past = now - WAIT - timedelta(minutes=1)
    _populate(workspace_id, journey_id, version_id, node, [past] * due + [now] * (crowd - due))
    ceiling_db = _bare_update_ceiling_copy(journey_id, due)
    started = time.perf_counter()
    fired = timers_fire()
    elapsed = time.perf_counter() - started
    assert fired == due, f"fired {fired} of {due} due timers"
    assert Journey.objects.get(pk=journey_id).enrollments.filter(exit_reason="completed").count() == due
    if behavior:
        assert Activity.objects.filter(name="behavior:abandoned_cart").count() == due
    return fired / elapsed, elapsed, ceiling_db


def _lateness(rate: float, seconds: int) -> tuple[float, float, float, int, float]:
    """(p50, p99, max lateness in s, timers, sweep interval s): `rate × seconds` journey timers come due
    evenly over `seconds`, fired by the sweep task every beat interval."""
    from config.schedule import BEAT_SCHEDULE
    from journeys import runtime
    from journeys.models import Enrollment
    from journeys.tasks import fire_timers

    interval = BEAT_SCHEDULE["journeys-fire-timers"]["schedule"]
    assert isinstance(interval, float | int), interval
    count = max(1, int(rate * seconds))
    workspace_id, journey_id, version_id, node = _journey_setup(behavior=False)
    # The window opens once the load (profiles, identities, enrollments, timers: ~4 rows each) is done.
    lead = 5 + 4 * count / LOAD_ROWS_PER_SECOND
    opens = datetime.now(UTC) + timedelta(seconds=lead)
    dues = [opens + timedelta(seconds=i * seconds / count) for i in range(count)]
    _populate(workspace_id, journey_id, version_id, node, [due - WAIT for due in dues])
    if datetime.now(UTC) >= opens:
        raise SystemExit(f"timers: loading {count:,} timers outlasted its {lead:.0f} s lead; lateness not measured")
    # The sweep claims oldest first, so the first `fired` (by due time) are done after each of its batches
    # commits: timer i was fired by the first batch whose running total exceeds i. Each batch is one
    # transaction (`runtime._fire_batch`), watched here as it returns.
    ends: list[datetime] = []
    totals: list[int] = []

    def watched(now: datetime, batch_size: int) -> tuple[int, int]:
        claimed, moved = fire_batch(now, batch_size)
        ends.append(datetime.now(UTC))
        totals.append((totals[-1] if totals else 0) + moved)
        return claimed, moved

    fire_batch, runtime._fire_batch = runtime._fire_batch, watched
    fired = 0
    tick = time.monotonic()
    deadline = tick + lead + seconds + 120
    try:
        while fired < count:
            if time.monotonic() > deadline:
                raise SystemExit(
                    f"timers: {count - fired:,} of {count:,} timers not fired 120 s after the window closed"
                )
            fired += fire_timers()
            tick += interval
            time.sleep(max(0.0, tick - time.monotonic()))
    finally:
        runtime._fire_batch = fire_batch
    completed = Enrollment.objects.filter(journey_id=journey_id, exit_reason="completed").count()
    if fired != count or completed != count:
        raise SystemExit(f"timers: {fired:,} fired and {completed:,} enrollments completed for {count:,} timers due")
    late = [(ends[bisect.bisect_right(totals, i)] - due).total_seconds() for i, due in enumerate(dues)]
    late.sort()
    pick = lambda p: late[min(len(late) - 1, int(len(late) * p))]  # noqa: E731
    return pick(0.5), pick(0.99), late[-1], count, interval


def _bare_update_ceiling_copy(journey_id: int, due: int) -> float:
    """The ceiling measured on the same rows inside a transaction that is rolled back, so the sweep
    afterwards finds them untouched."""
    import psycopg

    with psycopg.connect(DB_DSN) as conn:
        ids = [
            r[0]
            for r in conn.execute(
                "SELECT id FROM journeys_enrollment WHERE due_at <= now() ORDER BY due_at LIMIT %s", (due,)
            )
        ]
        started = time.perf_counter()
        for start in range(0, len(ids), 500):
            conn.execute(
                "UPDATE journeys_enrollment SET node = NULL, due_at = NULL, exit_at = now(), exit_reason = 'completed' "
                "WHERE id = ANY(%s)",
                (ids[start : start + 500],),
            )
        elapsed = time.perf_counter() - started
        conn.rollback()
    return len(ids) / elapsed


def run(scale: str) -> None:
    _setup_django()
    due, small, large = SCALES[scale]
    for behavior in (False, True):  # a worker's steady state, as each kind's first sweep in a process is not
        _one_run(WARMUP[0], WARMUP[1], behavior=behavior)
    rate_small, sweep_small, ceiling = _one_run(small, due)
    rate_large, sweep_large, _ = _one_run(large, due)
    b_small, b_sweep_small, b_ceiling = _one_run(small, due, behavior=True)
    b_large, b_sweep_large, _ = _one_run(large, due, behavior=True)
    late50, late99, late_max, late_count, interval = _lateness(rate_small / 2, LATENESS_SECONDS[scale])
    rows = [
        Row(f"due timers fired/s ({small:,} waiting)", rate_small, ceiling, "≥ 10,000/s, ≥ 0.12"),
        Row(f"due timers fired/s ({large:,} waiting)", rate_large, ceiling, "≥ 10,000/s, ≥ 0.12"),
        Row(f"sweep seconds, {large:,} vs {small:,} waiting", sweep_large, sweep_small, "ratio ≤ 1.2"),
        Row(f"behavior timers fired/s ({small:,} open matches)", b_small, b_ceiling, "≥ 10,000/s, ≥ 0.12"),
        Row(f"behavior timers fired/s ({large:,} open matches)", b_large, b_ceiling, "≥ 10,000/s, ≥ 0.12"),
        Row(f"behavior sweep seconds, {large:,} vs {small:,} open", b_sweep_large, b_sweep_small, "ratio ≤ 1.2"),
        Row("timer lateness p50 s (fired − due)", late50, None, "—"),
        Row("timer lateness p99 s (fired − due)", late99, None, "≤ 2 s"),
    ]
    notes = [
        f"{due:,} timers due in each run; every one fired exactly once (checked), and each behavior timer "
        "recorded exactly one behavior:abandoned_cart activity (checked).",
        "ceiling: UPDATE of the same enrollment rows, 500 per statement, rolled back.",
        "the sweep-time row's 'ceiling' column is the small-crowd sweep; its ratio is large ÷ small.",
        f"lateness: {late_count:,} timers due evenly over {LATENESS_SECONDS[scale]} s (half the fired/s above), "
        f"the sweep task every {interval:g} s as beat runs it; max {late_max:.2f} s. A timer that comes due "
        "between sweeps waits for the next (up to the interval); one due while a sweep runs is taken by its "
        "next batch (each batch claims what is due when it starts).",
    ]
    report("timers", scale, rows, notes)
