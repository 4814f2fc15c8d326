"""`make run` on a fresh clone: the embedded default (SQLite, file-system broker, worker with beat)
comes up with the panel login, the demo workspace and a worker that processes what is ingested."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import ROOT, free_port, wait_for_http

pytestmark = pytest.mark.slow

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
        assert login and write_key, output

        assert httpx.get(f"{base}/health").json() == {"status": "ok", "database": "ok", "broker": "ok"}
        browser = _login(base, login.group(1), login.group(2))
        workspace = browser.get("/")
        assert "Demo Store" in workspace.text

        probe = httpx.post(
            f"{base}/v1/track",
            auth=(write_key.group(1), ""),
            json={"userId": "probe", "event": "make_run_probe", "properties": {"ok": True}},
        )
        assert probe.status_code == 200
        deadline = time.monotonic() + 60
        while "make_run_probe" not in browser.get(str(workspace.url)).text:  # the worker processed it
            worker_log = checkout / "var" / "worker.log"
            assert time.monotonic() < deadline, "the embedded worker never processed the probe event:\n" + (
                worker_log.read_text()[-5000:] if worker_log.exists() else "(no worker log)"
            )
            time.sleep(1)
        assert "screen_view" in browser.get(str(workspace.url)).text  # the demo data, processed too

        # The demo journey (§8.1) on SQLite: a discount view, then a favourite → its SMS step renders and
        # goes to the embedded file outbox.
        calls = [
            {"type": "identify", "userId": "zoe", "traits": {"first_name": "Zoe", "phone": "+15550123"}},
            {"type": "screen", "userId": "zoe", "name": "Spring Discounts"},
            {"type": "track", "userId": "zoe", "event": "add_to_favorites"},
        ]
        for call in calls:  # one request each: the second must be evaluated after the first entered
            assert (
                httpx.post(f"{base}/v1/batch", auth=(write_key.group(1), ""), json={"batch": [call]}).status_code == 200
            )
            time.sleep(2)
        outbox = checkout / "var" / "outbox" / "sms.jsonl"
        deadline = time.monotonic() + 90
        while not (outbox.exists() and "Hi Zoe, how do you like it?" in outbox.read_text()):
            assert time.monotonic() < deadline, (
                "the demo journey's SMS never reached the file outbox:\n"
                + ((checkout / "var" / "worker.log").read_text()[-5000:])
            )
            time.sleep(1)
        assert '"to":"+15550123"' in outbox.read_text()
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
        log.close()
