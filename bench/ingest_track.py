"""ingest_track: requests/s and latency of single POST /v1/track calls, driven by wrk (2 threads,
16 connections, a Lua script giving every call a unique messageId).

Ceiling: the same wrk run against /bench/bare, a Django view on the same server (same middleware and
gunicorn workers) that only parses the JSON body and answers. Track and ceiling runs alternate, three
rounds of each, and every figure is the median of its rounds: this machine's speed drifts by up to half
within minutes, and one run of each after the other gave ratios from 0.45 to 1.39 across a day's runs.

The notes give the CPU each part spent per request (gunicorn's processes, the PostgreSQL backends of the
benchmark's database, Redis), read from /proc around each run, and how many of the two cores the whole
machine used: whether a run was bound by CPU, and whose. The one write key sends more calls a second than
its default rate allows; the benchmark raises the rate (every call is still counted).

What bounds it (measured, 2 cores shared with PostgreSQL, Redis and wrk): CPU, near half of it
PostgreSQL's. A /v1/track about a known person is answered by the WSGI application ahead of Django's
handler (activities/ingestion_wsgi.py) with one prepared statement in autocommit on a cursor the
connection keeps (write-key check, identity, KEY SHARE lock, messageId claim, activity, outbox row,
commit) and a rate-limit count kept in the process. Per request that is 340-460 µs of gunicorn CPU (the
more, the busier the machine is with other work), as much as a bare WSGI app that runs only the
statement: gunicorn's own HTTP handling is ~120 µs (an app answering a constant), one PostgreSQL round
trip in a threaded worker ~70 µs more, growing with the wait (~150 µs more for a 1 ms one). The bare view
costs 280-330 µs, all of it gunicorn and Django. PostgreSQL adds 190-290 µs (three rows and their nine
index entries, the profile's foreign-key check, the WAL flush of the commit), which the ceiling does not
pay. Group commit (one statement for the calls a process has in flight) was measured and not taken:
PostgreSQL already shares WAL flushes between concurrent commits, and a multi-row statement costs less a
call than the single one only from three calls a group, which four threads a process rarely hold. The
evaluation tasks are published off the request, several batches a task.
"""

from __future__ import annotations

import base64
import json
import os
import statistics
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import orjson
import psycopg

from bench.harness import (
    DB_DSN,
    DB_NAME,
    Row,
    children_cpu_seconds,
    database_reset,
    gunicorn,
    manage,
    report,
    tables_analyze,
)
from bench.loadgen import post_all

SCALES = {"small": 3, "full": 10}  # seconds per wrk run
ROUNDS = 3  # track and ceiling runs alternate: the machine's speed drifts by up to half within minutes
RATE_PER_SECOND = "1000000"  # for the one write key: above anything this machine can send


@contextmanager
def _environ(**values: str) -> Iterator[None]:
    """`values` in the environment of the processes started meanwhile (gunicorn reads its settings there)."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name)
            else:
                os.environ[name] = value


def _wrk(url: str, seconds: int, auth: str) -> tuple[dict, float]:
    cpu = children_cpu_seconds()
    output = subprocess.run(
        [
            "wrk",
            "-t2",
            "-c16",
            f"-d{seconds}s",
            "--timeout",
            "5s",
            "-s",
            "bench/wrk/segment.lua",
            url,
            "--",
            auth,
            uuid.uuid4().hex[:8],
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    line = next(line for line in output.splitlines() if line.startswith("{"))
    return json.loads(line), children_cpu_seconds() - cpu


def _cpu_seconds(port: int) -> dict[str, float]:
    """CPU seconds so far of gunicorn's processes on `port`, the benchmark database's PostgreSQL processes
    and Redis (by process id, so a process that ends between two readings drops out of both instead of
    making the difference negative); and of the whole machine (all cores, from /proc/stat)."""
    tick = os.sysconf("SC_CLK_TCK")
    parts: dict[str, float] = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/stat") as stat, open(f"/proc/{pid}/cmdline", "rb") as cmdline:
                fields, command = stat.read().rsplit(")", 1)[1].split(), cmdline.read().replace(b"\0", b" ").decode()
        except OSError:
            continue
        seconds = (int(fields[11]) + int(fields[12])) / tick
        if f"127.0.0.1:{port}" in command:
            parts[f"gunicorn {pid}"] = seconds
        elif command.startswith("postgres: ") and f" {DB_NAME} " in command:
            parts[f"postgres {pid}"] = seconds
        elif "redis-server" in command:
            parts[f"redis {pid}"] = seconds
    with open("/proc/stat") as stat:
        busy = [int(value) for value in stat.readline().split()[1:]]
    parts["machine"] = (sum(busy) - busy[3] - busy[4]) / tick  # all but idle and iowait
    return parts


def _measured(url: str, seconds: int, auth: str) -> tuple[dict, float, dict[str, float]]:
    """A wrk run, its CPU and what each part spent (seconds) during it; `cores`: the machine's busy cores."""
    port = int(url.split(":")[2].split("/")[0])
    before, started = _cpu_seconds(port), time.monotonic()
    result, cpu = _wrk(url, seconds, auth)
    after, wall = _cpu_seconds(port), time.monotonic() - started
    spent = {"gunicorn": 0.0, "postgres": 0.0, "redis": 0.0}
    for key, used in after.items():
        if key != "machine":
            spent[key.split()[0]] += used - before.get(key, 0.0)  # a process started meanwhile counts whole
    spent["cores"] = (after["machine"] - before["machine"]) / wall
    return result, cpu, spent


def _count(workspace_id: int) -> int:
    with psycopg.connect(DB_DSN) as conn:
        row = conn.execute(
            "SELECT count(*) FROM activities_activity WHERE workspace_id = %s", (workspace_id,)
        ).fetchone()
        return int(row[0]) if row else 0


def _rounds(runs: list[tuple[dict, float, dict[str, float]]]) -> dict:
    """The rounds of one kind: medians of rate and latencies, sums of requests, errors and CPU."""
    rates = [result["requests"] / (result["duration_us"] / 1e6) for result, _, _ in runs]
    return {
        "rate": statistics.median(rates),
        "rates": rates,
        "p50_us": statistics.median(result["p50_us"] for result, _, _ in runs),
        "p99_us": statistics.median(result["p99_us"] for result, _, _ in runs),
        **{key: sum(result[key] for result, _, _ in runs) for key in ("requests", "non_2xx", "socket_errors")},
        "wrk_cpu": sum(cpu for _, cpu, _ in runs),
        **{key: sum(parts[key] for _, _, parts in runs) for key in ("gunicorn", "postgres", "redis")},
        "cores": statistics.median(parts["cores"] for _, _, parts in runs),
    }


def _listed(rates: list[float]) -> str:
    return ", ".join(f"{rate:,.0f}" for rate in rates)


def run(scale: str) -> None:
    seconds = SCALES[scale]
    database_reset()
    created = json.loads(manage("workspace_create", "Bench", "--owner", "bench@example.com"))
    auth = "Basic " + base64.b64encode(f"{created['write_key']}:".encode()).decode()
    with _environ(NUDGE_INGEST_RATE_PER_SECOND=RATE_PER_SECOND), gunicorn(workers=2) as base:
        # The 1,000 users the script cycles through exist already, as they do for most live traffic.
        identify = [
            orjson.dumps(
                {
                    "batch": [
                        {"type": "identify", "userId": f"user-{u}", "traits": {"plan": "free"}}
                        for u in range(start, start + 100)
                    ]
                }
            )
            for start in range(0, 1000, 100)
        ]
        post_all(f"{base}/v1/batch", identify, {"Content-Type": "application/json", "Authorization": auth})
        # As autovacuum would have by now: each connection's generic plan of the single-call statement is
        # chosen on these statistics (without them it read all of a workspace's identities to find one).
        tables_analyze("activities_identity", "activities_profile", "workspaces_writekey")
        _wrk(f"{base}/v1/track", 2, auth)  # warm-up: connections, code paths
        time.sleep(1)  # let requests still in flight when wrk stopped finish before counting
        before = _count(created["workspace_id"])
        tracks, bares = [], []
        for _ in range(ROUNDS):
            tracks.append(_measured(f"{base}/v1/track", seconds, auth))
            bares.append(_measured(f"{base}/bench/bare", seconds, auth))
        time.sleep(1)
        stored = _count(created["workspace_id"]) - before
    track, bare = _rounds(tracks), _rounds(bares)
    rows = [
        Row("requests/s, POST /v1/track", track["rate"], bare["rate"], "≥ 2,000/s"),
        Row("p50 latency ms", track["p50_us"] / 1000, bare["p50_us"] / 1000, "—"),
        Row("p99 latency ms", track["p99_us"] / 1000, bare["p99_us"] / 1000, "≤ 20 ms"),
    ]
    notes = [
        f"{ROUNDS} rounds of {seconds} s each, track and ceiling alternating; every figure is the median of its "
        f"rounds (track rates {_listed(track['rates'])}/s, ceiling {_listed(bare['rates'])}/s).",
        f"{track['requests']:,} track requests ({track['non_2xx']} non-2xx, {track['socket_errors']} socket errors); "
        f"{stored:,} activities stored.",
        f"wrk CPU: {track['wrk_cpu']:.1f} s for the track runs, {bare['wrk_cpu']:.1f} s for the ceiling runs.",
        *(
            f"CPU per request, {name}: gunicorn {1e6 * result['gunicorn'] / result['requests']:.0f} µs, "
            f"PostgreSQL {1e6 * result['postgres'] / result['requests']:.0f} µs, "
            f"Redis {1e6 * result['redis'] / result['requests']:.0f} µs; the machine used {result['cores']:.2f} cores."
            for name, result in (("track", track), ("ceiling", bare))
        ),
    ]
    report("ingest_track", scale, rows, notes)
    # wrk counts requests answered within a run; up to one per connection is still in flight at its end.
    if track["non_2xx"] or not track["requests"] <= stored <= track["requests"] + 16 * ROUNDS:
        raise SystemExit(f"ingest_track: {track['requests']} requests, {track['non_2xx']} failed, {stored} stored")
