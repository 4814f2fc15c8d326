"""Shared fixtures: personas, a Segment-speaking test client, and a real gunicorn server."""

from __future__ import annotations

import base64
import gzip as gzip_module
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import orjson
import psycopg
import pytest
from django.db import connection
from django.test import Client

from tests.personas import Tenant, tenant_create

ROOT = Path(__file__).resolve().parent.parent


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_setupnodes(config: pytest.Config, specs: list[Any]) -> None:
    """Under pytest-xdist (`make test`) each worker has a PostgreSQL database of its own (pytest-django
    names it test_<name>_gw<N>) and, set here before it starts, a Redis database of its own: worker N
    uses the broker's database number + N, since its Celery workers flush theirs and its tests count
    keys in it."""
    from django.conf import settings

    broker = urlsplit(settings.CELERY_BROKER_URL)
    if not broker.scheme.startswith("redis"):
        return
    first = int(broker.path.strip("/") or 0)
    for index, spec in enumerate(specs):
        spec.env["CELERY_BROKER_URL"] = urlunsplit(broker._replace(path=f"/{first + index}"))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked `first` (a long run of fixed length) start before the rest, so that under xdist
    the other worker runs the rest meanwhile instead of leaving it to run alone at the end."""
    items.sort(key=lambda item: item.get_closest_marker("first") is None)


@pytest.fixture
def acme(db: None) -> Tenant:
    return tenant_create("Acme")


@pytest.fixture
def globex(db: None) -> Tenant:
    return tenant_create("Globex")


def basic_auth(write_key: str) -> str:
    return "Basic " + base64.b64encode(f"{write_key}:".encode()).decode()


class SegmentClient:
    """Posts Segment calls through Django's test client (in-process, same transaction rules)."""

    def __init__(self, client: Client, write_key: str | None) -> None:
        self.client = client
        self.write_key = write_key

    def post(self, path: str, body: Any, *, gzip: bool = False, raw: bytes | None = None, **headers: str) -> Any:
        data = raw if raw is not None else orjson.dumps(body)
        extra = dict(headers)
        if gzip:
            data = gzip_module.compress(data)
            extra.setdefault("HTTP_CONTENT_ENCODING", "gzip")
        if self.write_key is not None:
            extra.setdefault("HTTP_AUTHORIZATION", basic_auth(self.write_key))
        return self.client.post(path, data=data, content_type="application/json", **extra)


def round_trips(segment: SegmentClient, path: str, body: dict) -> tuple[int, int]:
    """(status, round trips to PostgreSQL) of one call, read from libpq's own trace of the connection."""
    connection.ensure_connection()
    pgconn = connection.connection.pgconn
    with tempfile.TemporaryFile() as trace:
        pgconn.trace(trace.fileno())
        pgconn.set_trace_flags(psycopg.pq.Trace.SUPPRESS_TIMESTAMPS | psycopg.pq.Trace.REGRESS_MODE)
        try:
            status = segment.post(path, body).status_code
        finally:
            pgconn.untrace()
        trace.seek(0)
        lines = trace.read().decode().splitlines()
    return status, sum(1 for line in lines if line.startswith("B") and "ReadyForQuery" in line)


@pytest.fixture
def segment(acme: Tenant, client: Client) -> SegmentClient:
    return SegmentClient(client, acme.write_key)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_http(url: str, *, timeout: float = 30.0, process: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode} before answering {url}")
        try:
            httpx.get(url, timeout=10.0)
            return
        except httpx.TransportError:
            time.sleep(0.05)
    raise TimeoutError(f"{url} did not answer within {timeout}s")


def server_env(**extra: str) -> dict[str, str]:
    """The environment for a process that must use this test run's database."""
    settings = connection.settings_dict
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTEST")}
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings_test",
        DATABASE_URL=f"postgres://{settings['USER']}@{settings['HOST']}:{settings['PORT']}/{settings['NAME']}",
        PYTHONPATH=str(ROOT),
    )
    env.update(extra)
    return env


@contextmanager
def gunicorn_server(*args: str, **env: str) -> Iterator[str]:
    """The real web process as in production (gunicorn, 2 workers of 4 threads) on this run's test
    database, with `args` added to its command line and `env` overriding its environment; yields its
    base URL."""
    port = free_port()
    command = [sys.executable, "-m", "gunicorn", "config.wsgi", "-b", f"127.0.0.1:{port}", "-w", "2"]
    process = subprocess.Popen(
        [*command, "--threads", "4", "--graceful-timeout", "2", "--log-level", "warning", *args],
        cwd=ROOT,
        env=server_env(**env),
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(f"{base}/health", process=process)
        yield base
    finally:
        # Quick shutdown: the test is over, and a graceful one keeps the connections a client (the
        # panel's browser) holds alive open for 2 s in every worker before it exits.
        process.send_signal(signal.SIGQUIT)
        process.wait(timeout=10)


@pytest.fixture
def live_nudge(transactional_db: None) -> Iterator[str]:
    with gunicorn_server() as base:
        yield base


@pytest.fixture
def celery_worker_process(transactional_db: None) -> Iterator[subprocess.Popen]:
    """A real Celery worker (solo pool) on the test database and the test Redis broker."""
    import redis
    from django.conf import settings

    redis.Redis.from_url(settings.CELERY_BROKER_URL).flushdb()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "--pool=solo",
            "--loglevel=WARNING",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ],
        cwd=ROOT,
        env=server_env(),
    )
    try:
        yield process
    finally:
        process.terminate()
        process.wait(timeout=20)


def wait_until(predicate: Any, *, timeout: float = 20.0, interval: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise TimeoutError("condition not met in time")


@contextmanager
def held_by_another_session(statement: str, params: list[Any] | None = None) -> Iterator[None]:
    """While inside, another database session (its own thread and connection) holds the locks that
    `statement` took, in a transaction it keeps open until the block ends."""
    import threading

    settings = {k: v for k, v in connection.get_connection_params().items() if k != "cursor_factory"}
    locked, release = threading.Event(), threading.Event()

    def hold() -> None:
        with psycopg.connect(**settings) as other:
            other.execute(statement, params)
            locked.set()
            release.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert locked.wait(10), "the other session did not get its lock"
        yield
    finally:
        release.set()
        holder.join()


def in_parallel(count: int, work: Any) -> list[Any]:
    """Run `work(index)` in `count` threads released at the same instant (each with its own database
    connection); return their results, re-raising the first error in the test's thread."""
    import threading

    from django.db import connection as thread_connection

    barrier, results, errors = threading.Barrier(count), [], []

    def run(index: int) -> None:
        try:
            barrier.wait()
            results.append(work(index))
        except BaseException as error:  # collected and re-raised below
            errors.append(error)
        finally:
            thread_connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return results
