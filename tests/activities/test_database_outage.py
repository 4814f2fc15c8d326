"""PostgreSQL stopped under load: ingestion answers 503 (never 500, never a false 200), the real SDK
retries, and after the restart every event is stored exactly once."""

from __future__ import annotations

import subprocess
import threading
import time
from pathlib import Path

import httpx
import pytest
from django.db import connection
from segment.analytics import Client

from activities.models import Activity
from tests.conftest import basic_auth

pytestmark = pytest.mark.slow

EVENTS = 400


def _cluster(action: str) -> None:
    version = sorted(Path("/etc/postgresql").iterdir(), key=lambda p: float(p.name))[-1].name
    subprocess.run(
        [
            "pg_ctlcluster",
            "--skip-systemctl-redirect",
            version,
            "main",
            action,
            *(["-m", "fast"] if action == "stop" else []),
        ],
        check=True,
        capture_output=True,
    )


def _wait_for_postgres() -> None:
    for _ in range(60):
        if subprocess.run(["pg_isready", "-q", "-h", "127.0.0.1"], check=False).returncode == 0:
            return
        time.sleep(0.5)
    raise TimeoutError("PostgreSQL did not come back")


def test_stopping_postgres_mid_stream_loses_and_doubles_nothing(live_nudge: str, acme):
    errors: list[Exception] = []
    client = Client(
        acme.write_key,
        host=live_nudge,
        upload_size=20,
        upload_interval=0.05,
        max_retries=30,
        on_error=lambda error, batch: errors.append(error),
    )

    def produce() -> None:
        for i in range(EVENTS):
            client.track(user_id=f"user-{i % 17}", event="tap", properties={"n": i}, message_id=f"outage-{i}")
            time.sleep(0.01)

    producer = threading.Thread(target=produce)
    producer.start()
    answers_while_down: list[int] = []
    try:
        time.sleep(1.0)  # batches are flowing and being stored
        _cluster("stop")
        for i in range(5):
            response = httpx.post(
                f"{live_nudge}/v1/track",
                json={"userId": "probe", "event": "x", "messageId": f"probe-{i}"},
                headers={"Authorization": basic_auth(acme.write_key)},
                timeout=15,
            )
            answers_while_down.append(response.status_code)
            time.sleep(0.3)
    finally:
        _cluster("start")
        _wait_for_postgres()
        connection.close()  # the test's own connection died with the server
    producer.join(timeout=60)
    client.flush()
    client.join()

    assert answers_while_down == [503] * 5
    assert errors == []
    stored = sorted(Activity.objects.filter(name="tap").values_list("properties__n", flat=True))
    assert stored == list(range(EVENTS))
    assert Activity.objects.filter(name="x").count() == 0  # the 503s were not secretly stored
