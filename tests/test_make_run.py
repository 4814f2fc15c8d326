"""`make run` on a fresh clone: the embedded default (SQLite, file-system broker, worker with beat)
comes up with the panel login, a management token, the demo workspace and a worker that processes what
is ingested; the demo's journeys deliver to the file outbox on every channel."""

from __future__ import annotations

import io
import os
import re
import signal
import sqlite3
import subprocess
import time
from contextlib import closing
from pathlib import Path

import httpx
import orjson
import pytest
from django.core.management import call_command
from django.test import Client

from activities.models import EvaluationBatch
from activities.pipeline import batch_process
from journeys.runtime import timers_fire
from messaging.delivery import messages_deliver
from tests.conftest import ROOT, SegmentClient, free_port, wait_for_http

STRIPPED = {
    "DATABASE_URL",
    "CELERY_BROKER_URL",
    "SECRET_KEY",
    "DEBUG",
    "ALLOWED_HOSTS",
    "DJANGO_SETTINGS_MODULE",
    "SECURE_SSL_REDIRECT",
    "VIRTUAL_ENV",
    "PYTHONPATH",
}


def _login(base: str, email: str, password: str) -> httpx.Client:
    browser = httpx.Client(base_url=base, follow_redirects=True, timeout=30)
    page = browser.get("/login/")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
    assert token, "login form has no CSRF token"
    answer = browser.post(
        "/login/", data={"username": email, "password": password, "csrfmiddlewaretoken": token.group(1)}
    )
    assert answer.status_code == 200
    return browser


def _seed() -> dict:
    out = io.StringIO()
    call_command("seed_demo", stdout=out)
    return orjson.loads(out.getvalue())


def _outbox(folder: Path, channel: str) -> list[dict]:
    path = folder / "outbox" / f"{channel}.jsonl"
    return [orjson.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _pipeline() -> None:
    """What the embedded worker and beat do: evaluate stored batches, fire due timers, deliver."""
    for _ in range(2):  # a timer's effects (and a behavior's activity) make batches of their own
        for batch in EvaluationBatch.objects.order_by("pk"):
            batch_process(batch.pk)
        timers_fire()
    messages_deliver()


def _until_evaluated(database: Path, worker_log: Path, timeout: float = 90) -> None:
    """Until the embedded worker has evaluated every stored batch: a 200 means the call's activity and
    its pipeline batch are committed, and the worker deletes the batch in the transaction that evaluates
    it, so no batch left in the app's database is the condition itself."""
    deadline = time.monotonic() + timeout
    while True:
        with closing(sqlite3.connect(database, timeout=10)) as db:
            (pending,) = db.execute("SELECT count(*) FROM activities_evaluationbatch").fetchone()
        if pending == 0:
            return
        assert time.monotonic() < deadline, f"{pending} batches never evaluated:\n{worker_log.read_text()[-5000:]}"
        time.sleep(0.2)


@pytest.mark.django_db
def test_the_demo_delivers_to_the_file_outbox_and_prints_a_working_token(tmp_path, settings, client):
    settings.VAR_DIR, settings.NUDGE_DEFAULT_PROVIDER = tmp_path, "file"  # the embedded default
    first = _seed()
    seeded = _seed()  # `make run` again: the same workspace, a new token, the previous one revoked
    assert seeded["api_token"].startswith("nt_") and seeded["api_token"] != first["api_token"]
    assert client.get("/api/v1/journeys/", HTTP_AUTHORIZATION=f"Bearer {first['api_token']}").status_code == 401
    journeys = client.get("/api/v1/journeys/", HTTP_AUTHORIZATION=f"Bearer {seeded['api_token']}")
    assert journeys.status_code == 200
    assert {j["name"] for j in journeys.json()["results"]} == {
        "Discounts → favorites → purchase",
        "Skipped payment → email",
    }

    _pipeline()  # the seeded story: Ann favourites after Discounts, Cem does not, Hal's payment fails
    assert [m["to"] for m in _outbox(tmp_path, "sms")] == ["+12025550100"]
    assert _outbox(tmp_path, "sms")[0]["content"]["body"] == "Hi Ann, how do you like it? Reply 1-5."
    assert [m["to"] for m in _outbox(tmp_path, "push")] == ["demo-push-token-cem"]
    assert [m["to"] for m in _outbox(tmp_path, "email")] == ["hal@example.com"]

    # The README's example, with the write key `make run` prints: Bob's payment fails → an email.
    segment = SegmentClient(Client(), seeded["write_key"])
    assert segment.post("/v1/track", {"userId": "bob", "event": "failed_payment"}).status_code == 200
    _pipeline()
    emails = _outbox(tmp_path, "email")
    assert [m["to"] for m in emails] == ["hal@example.com", "bob@example.com"]
    assert emails[1]["content"]["text"].startswith("Hi Bob, we could not take your last payment.")


@pytest.mark.slow
def test_make_run_serves_the_panel_and_processes_events(tmp_path: Path):
    checkout = tmp_path / "nudge"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(checkout)], check=True)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in STRIPPED}
    log = (tmp_path / "make-run.log").open("w+")
    process = subprocess.Popen(
        ["make", "run", f"PORT={port}"],
        cwd=checkout,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(f"{base}/login/", timeout=600, process=process)
        output = Path(log.name).read_text()
        assert f"Panel:     {base}/" in output
        login = re.search(r"login: (\S+) / (\S+)", output)
        write_key = re.search(r"Write key: (wk_\S+)", output)
        api_token = re.search(r"API token: (nt_\S+)", output)
        assert login and write_key and api_token, output
        assert f'curl -H "Authorization: Bearer {api_token.group(1)}" {base}/api/v1/journeys/' in output
        journeys = httpx.get(f"{base}/api/v1/journeys/", headers={"Authorization": f"Bearer {api_token.group(1)}"})
        assert journeys.status_code == 200 and journeys.json()["count"] == 2, journeys.text

        assert httpx.get(f"{base}/health").json() == {"status": "ok", "database": "ok", "broker": "ok"}
        browser = _login(base, login.group(1), login.group(2))
        workspace = browser.get("/")
        assert "Demo Store" in workspace.text
        docs = browser.get("/api/docs/")  # the interactive docs act as the signed-in member
        assert docs.status_code == 200 and browser.get("/api/v1/journeys/").json()["count"] == 2

        probe = httpx.post(
            f"{base}/v1/track",
            auth=(write_key.group(1), ""),
            json={"userId": "probe", "event": "make_run_probe", "properties": {"ok": True}},
        )
        assert probe.status_code == 200
        token = {"Authorization": f"Bearer {api_token.group(1)}"}
        stored = httpx.get(f"{base}/api/v1/activities/", params={"name": "make_run_probe"}, headers=token).json()
        assert stored["count"] == 1 and stored["results"][0]["properties"] == {"ok": True}, stored
        demo = httpx.get(f"{base}/api/v1/activities/", params={"name": "screen_view"}, headers=token).json()
        assert demo["count"] == 3, demo  # the demo's story: Ann, Bob and Cem opened a screen

        # The worker at work: the demo journey (§8.1) on SQLite, a discount view, then a favourite → its
        # SMS step renders and goes to the embedded file outbox.
        calls = [
            {"type": "identify", "userId": "zoe", "traits": {"first_name": "Zoe", "phone": "+15550123"}},
            {"type": "screen", "userId": "zoe", "name": "Spring Discounts"},
            {"type": "track", "userId": "zoe", "event": "add_to_favorites"},
        ]
        for call in calls:  # one request each: the second must be evaluated after the first entered
            assert (
                httpx.post(f"{base}/v1/batch", auth=(write_key.group(1), ""), json={"batch": [call]}).status_code == 200
            )
            _until_evaluated(checkout / "var" / "nudge.sqlite3", checkout / "var" / "worker.log")
        outbox = checkout / "var" / "outbox" / "sms.jsonl"
        deadline = time.monotonic() + 90
        while not (outbox.exists() and "Hi Zoe, how do you like it?" in outbox.read_text()):
            assert time.monotonic() < deadline, (
                "the demo journey's SMS never reached the file outbox:\n"
                + ((checkout / "var" / "worker.log").read_text()[-5000:])
            )
            time.sleep(1)
        assert '"to":"+15550123"' in outbox.read_text()

        # The seeded demo people are reachable on every channel: Ann's SMS, Cem's push (his timer was
        # due when seeded, beat fires it), Hal's email (his failed payment).
        for channel, to in (("sms", "+12025550100"), ("push", "demo-push-token-cem"), ("email", "hal@example.com")):
            sent = checkout / "var" / "outbox" / f"{channel}.jsonl"
            while not (sent.exists() and f'"to":"{to}"' in sent.read_text()):
                assert time.monotonic() < deadline, f"the demo's {channel} to {to} never reached the outbox"
                time.sleep(1)
        # Its links (open pixel, unsubscribe) lead to this server as `make run` started it.
        email = (checkout / "var" / "outbox" / "email.jsonl").read_text()
        assert f"{base}/" in email, email[-2000:]
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
        log.close()
