"""What every benchmark shares: a fresh PostgreSQL database with production settings, gunicorn with
two workers, the result table and its JSON file.

The database (dropped and recreated by every benchmark) and the broker's Redis database are
BENCH_DATABASE_URL and BENCH_REDIS_URL, so that benchmarks running side by side (or beside the test
suite) do not share them; never point BENCH_DATABASE_URL at a database you want to keep.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
DB_DSN = os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/nudge_bench").replace(
    "postgres://", "postgresql://", 1
)
DB_NAME = urlsplit(DB_DSN).path.lstrip("/")
ADMIN_DSN = urlsplit(DB_DSN)._replace(path="/postgres").geturl()
BROKER_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")
if not DB_NAME or DB_NAME == "postgres":
    raise SystemExit(f"BENCH_DATABASE_URL must name a database of its own (it is dropped); got {DB_DSN!r}")


def bench_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="bench.settings",
        DATABASE_URL=DB_DSN.replace("postgresql://", "postgres://"),
        CELERY_BROKER_URL=BROKER_URL,
        SECRET_KEY="benchmark-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz-0123456789",
        DEBUG="0",
        SECURE_SSL_REDIRECT="0",
        ALLOWED_HOSTS="127.0.0.1,localhost",
        LOG_LEVEL="WARNING",
        PYTHONPATH=str(ROOT),
        NUDGE_VAR_DIR=str(ROOT / "var" / f"bench-{DB_NAME}"),  # collected static files, apart from `make run`'s
    )
    env.update(extra)
    return env


def database_reset() -> None:
    """Drop and recreate the benchmark database, then migrate it."""
    with psycopg.connect(ADMIN_DSN, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(DB_NAME)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DB_NAME)))
    subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=bench_env(), check=True)
    if "journeys.live" in sys.modules:  # ids start again in the new database: cached documents are stale
        sys.modules["journeys.live"].caches_clear()


def tables_analyze(*tables: str) -> None:
    """ANALYZE what a benchmark has just loaded, before it measures: autovacuum would get to it only
    later, and until then the planner picks plans for empty tables that production never runs."""
    with psycopg.connect(DB_DSN, autocommit=True) as conn:
        for table in tables:
            conn.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(table)))


def profiles_copy(conn: psycopg.Connection, workspace_id: int, count: int, *, addresses: bool = False) -> int:
    """`count` profiles written with COPY (user ids `u<id>` with their identities, with a first name, email
    and phone when `addresses`); returns the first id."""
    now = datetime.now(UTC)
    row = conn.execute("SELECT coalesce(max(id), 0) + 1 FROM activities_profile").fetchone()
    assert row is not None
    first = int(row[0])
    with conn.cursor().copy(
        "COPY activities_profile (id, workspace_id, user_id, traits, email, phone, timezone, "
        "locale, consent, tags, created_at, updated_at) FROM STDIN"
    ) as copy:
        for pk in range(first, first + count):
            traits = json.dumps({"first_name": f"User {pk}"}) if addresses else "{}"
            email, phone = (f"u{pk}@bench.test", f"+1555{pk:07d}") if addresses else ("", "")
            copy.write_row((pk, workspace_id, f"u{pk}", traits, email, phone, "", "", "{}", "[]", now, now))
    conn.execute("SELECT setval('activities_profile_id_seq', (SELECT max(id) FROM activities_profile))")
    # Their user ids as identities, as ingestion would have left them (what records on a profile looks up).
    conn.execute(
        "INSERT INTO activities_identity (workspace_id, kind, value, profile_id, created_at) "
        "SELECT workspace_id, 'user_id', user_id, id, created_at FROM activities_profile WHERE id >= %s",
        (first,),
    )
    return first


def manage(*args: str) -> str:
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=bench_env(), check=True, capture_output=True, text=True
    ).stdout


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@cache
def static_collect() -> None:
    """collectstatic, once a run: a production web process refuses to start without it."""
    manage("collectstatic", "--noinput", "-v", "0")


@contextmanager
def gunicorn(workers: int = 2, threads: int = 4) -> Iterator[str]:
    """Production web process: `workers` processes of `threads` threads (gthread), as the README shows."""
    static_collect()
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "config.wsgi",
            "-b",
            f"127.0.0.1:{port}",
            "-w",
            str(workers),
            "--threads",
            str(threads),
            "--log-level",
            "warning",
            "--backlog",
            "2048",
        ],
        cwd=ROOT,
        env=bench_env(),
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=20)


@contextmanager
def celery_worker(concurrency: int = 2) -> Iterator[None]:
    """Production worker processes (prefork) on the benchmark broker, which starts empty."""
    import redis

    redis.Redis.from_url(bench_env()["CELERY_BROKER_URL"]).flushdb()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            f"--concurrency={concurrency}",
            "--loglevel=WARNING",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ],
        cwd=ROOT,
        env=bench_env(),
    )
    try:
        yield
    finally:
        process.terminate()
        process.wait(timeout=30)


def children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@dataclass
class Row:
    figure: str
    value: float
    ceiling: float | None
    target: str
    unit: str = ""

    @property
    def ratio(self) -> float | None:
        return self.value / self.ceiling if self.ceiling else None


def report(name: str, scale: str, rows: list[Row], notes: list[str]) -> None:
    """Print the table and write bench/results/<name>.json."""
    print(f"\n{name} (scale {scale})")
    print(f"| {'figure':<44} | {'value':>12} | {'ceiling':>12} | {'ratio':>6} | target |")
    print(f"|{'-' * 46}|{'-' * 14}|{'-' * 14}|{'-' * 8}|--------|")
    for row in rows:
        ceiling = f"{row.ceiling:,.1f}" if row.ceiling else "—"
        ratio = f"{row.ratio:.2f}" if row.ratio is not None else "—"
        print(f"| {row.figure:<44} | {row.value:>12,.1f} | {ceiling:>12} | {ratio:>6} | {row.target} |")
    for note in notes:
        print(f"  {note}")
    RESULTS.mkdir(exist_ok=True)
    payload = {
        "benchmark": name,
        "scale": scale,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "rows": [{**asdict(row), "ratio": row.ratio} for row in rows],
        "notes": notes,
    }
    (RESULTS / f"{name}.json").write_text(json.dumps(payload, indent=2) + "\n")
