"""ingest_track: requests/s and latency of single POST /v1/track calls, driven by wrk (2 threads,
16 connections, a Lua script giving every call a unique messageId).

Ceiling: the same wrk run against /bench/bare, a Django view on the same server (same middleware and
gunicorn workers) that only parses the JSON body and answers.
What bounds it: a sync gunicorn worker handles one request at a time, and each /v1/track costs a write-key
lookup and one committed transaction in PostgreSQL on the same two cores.
"""

from __future__ import annotations

import base64
import json
import subprocess
import time
import uuid

import orjson
import psycopg

from bench.harness import DB_DSN, Row, children_cpu_seconds, database_reset, gunicorn, manage, report
from bench.loadgen import post_all

SCALES = {"small": 5, "full": 30}  # seconds per wrk run


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


def _count(workspace_id: int) -> int:
    with psycopg.connect(DB_DSN) as conn:
        row = conn.execute(
            "SELECT count(*) FROM activities_activity WHERE workspace_id = %s", (workspace_id,)
        ).fetchone()
        return int(row[0]) if row else 0


def run(scale: str) -> None:
    seconds = SCALES[scale]
    database_reset()
    created = json.loads(manage("workspace_create", "Bench", "--owner", "bench@example.com"))
    auth = "Basic " + base64.b64encode(f"{created['write_key']}:".encode()).decode()
    with gunicorn(workers=2) as base:
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
        _wrk(f"{base}/v1/track", 2, auth)  # warm-up: connections, code paths
        time.sleep(1)  # let requests still in flight when wrk stopped finish before counting
        before = _count(created["workspace_id"])
        track, track_cpu = _wrk(f"{base}/v1/track", seconds, auth)
        time.sleep(1)
        stored = _count(created["workspace_id"]) - before
        bare, bare_cpu = _wrk(f"{base}/bench/bare", seconds, auth)

    def rate(result: dict) -> float:
        return result["requests"] / (result["duration_us"] / 1e6)

    rows = [
        Row("requests/s, POST /v1/track", rate(track), rate(bare), "≥ 2,000/s"),
        Row("p50 latency ms", track["p50_us"] / 1000, bare["p50_us"] / 1000, "—"),
        Row("p99 latency ms", track["p99_us"] / 1000, bare["p99_us"] / 1000, "≤ 20 ms"),
    ]
    notes = [
        f"{track['requests']:,} track requests ({track['non_2xx']} non-2xx, {track['socket_errors']} socket errors); "
        f"{stored:,} activities stored.",
        f"wrk CPU: {track_cpu:.1f} s for the track run, {bare_cpu:.1f} s for the ceiling run ({seconds} s each).",
    ]
    report("ingest_track", scale, rows, notes)
    # wrk counts requests answered within the run; up to one per connection is still in flight at the end.
    if track["non_2xx"] or not track["requests"] <= stored <= track["requests"] + 16:
        raise SystemExit(f"ingest_track: {track['requests']} requests, {track['non_2xx']} failed, {stored} stored")
