"""Settings come from the environment and fail loudly on bad values; production passes check --deploy."""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys

import httpx
import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.handlers.wsgi import WSGIHandler

from config.checks import static_files_problem
from config.env import env_bool, env_int, env_list
from config.settings import _EMBEDDED_SECRET_KEY as EMBEDDED_SECRET_KEY
from tests.conftest import ROOT, free_port, wait_for_http


def test_env_readers_parse_and_refuse(monkeypatch):
    monkeypatch.setenv("X_BOOL", "yes")
    monkeypatch.setenv("X_INT", "12")
    monkeypatch.setenv("X_LIST", "a, b,,c")
    assert env_bool("X_BOOL", False) is True
    assert env_int("X_INT", 0) == 12
    assert env_list("X_LIST", []) == ["a", "b", "c"]
    monkeypatch.setenv("X_BOOL", "maybe")
    with pytest.raises(ImproperlyConfigured, match="X_BOOL"):
        env_bool("X_BOOL", False)
    monkeypatch.setenv("X_INT", "twelve")
    with pytest.raises(ImproperlyConfigured, match="X_INT"):
        env_int("X_INT", 0)
    monkeypatch.setenv("X_INT", "-1")
    with pytest.raises(ImproperlyConfigured, match="at least"):
        env_int("X_INT", 0)


PRODUCTION = {
    "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/postgres",
    "CELERY_BROKER_URL": "redis://127.0.0.1:6379/0",
    "SECRET_KEY": "a-long-random-production-secret-key-with-enough-entropy-1234567890-abcdefghij",
    "ALLOWED_HOSTS": "nudge.example.com",
}


STRIPPED = {
    "DATABASE_URL",
    "CELERY_BROKER_URL",
    "SECRET_KEY",
    "DEBUG",
    "ALLOWED_HOSTS",
    "DJANGO_SETTINGS_MODULE",
    "SECURE_SSL_REDIRECT",
    "NUDGE_VAR_DIR",
    "DJANGO_ALLOW_ASYNC_UNSAFE",  # the browser tests' (tests/panel/conftest.py), never a deployment's
}


def manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in STRIPPED}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_production_settings_pass_check_deploy_once_static_files_are_collected(tmp_path):
    env = {**PRODUCTION, "NUDGE_VAR_DIR": str(tmp_path)}
    before = manage("check", "--deploy", "--fail-level", "WARNING", **env)
    assert before.returncode != 0
    assert "static files are not collected: run manage.py collectstatic" in before.stderr
    assert manage("check", **env).returncode == 0  # only a deployment check: migrate and the rest still run
    assert manage("collectstatic", "--noinput", **env).returncode == 0
    result = manage("check", "--deploy", "--fail-level", "WARNING", **env)
    assert result.returncode == 0, result.stderr + result.stdout


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({**PRODUCTION, "SECRET_KEY": ""}, "SECRET_KEY"),
        ({**PRODUCTION, "SECRET_KEY": "short"}, "SECRET_KEY is too weak"),
        ({**PRODUCTION, "SECRET_KEY": "abcd" * 20}, "SECRET_KEY is too weak"),  # 80 characters, 4 different
        (
            {**PRODUCTION, "SECRET_KEY": "django-insecure-" + PRODUCTION["SECRET_KEY"]},
            "SECRET_KEY is a 'django-insecure-'",
        ),
        ({**PRODUCTION, "SECRET_KEY": EMBEDDED_SECRET_KEY}, "SECRET_KEY is the embedded default's"),
        ({**PRODUCTION, "DATABASE_URL": "mysql://db/nudge"}, "DATABASE_URL"),
        ({**PRODUCTION, "CELERY_BROKER_URL": "kafka://x"}, "CELERY_BROKER_URL"),
        ({**PRODUCTION, "DEBUG": "perhaps"}, "DEBUG"),
    ],
)
def test_bad_environment_stops_start_up_naming_the_variable(env, message):
    result = manage("check", **env)
    assert result.returncode != 0
    assert message in result.stderr


def test_a_strong_secret_key_starts_and_weak_ones_are_accepted_only_with_debug_on():
    assert manage("check", **{**PRODUCTION, "SECRET_KEY": secrets.token_urlsafe(50)}).returncode == 0
    assert manage("check", **{**PRODUCTION, "SECRET_KEY": "short", "DEBUG": "1"}).returncode == 0


def test_a_manifest_missing_files_of_this_release_counts_as_not_collected(tmp_path, settings):
    settings.STATIC_ROOT = tmp_path
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
    }
    assert "no staticfiles.json" in (static_files_problem() or "")
    with pytest.raises(ImproperlyConfigured, match="run manage.py collectstatic"):
        WSGIHandler()
    manifest = {"version": "1.1", "hash": "", "paths": {"panel/panel.css": "panel/panel.0123456789ab.css"}}
    (tmp_path / "staticfiles.json").write_text(json.dumps(manifest))
    problem = static_files_problem() or ""
    named = re.fullmatch(
        r"static files are not collected: run manage\.py collectstatic \((.+) and (\d+) more not collected\)", problem
    )
    assert named is not None, problem  # the first few named, in order, the rest counted
    first = named.group(1).split(", ")
    assert first == sorted(first) and int(named.group(2)) > 100 and "panel/panel.css" not in problem


@pytest.mark.slow
def test_a_web_process_refuses_to_start_until_static_files_are_collected(tmp_path):
    """Under production's manifest storage a page linking an uncollected file answers 500; gunicorn
    must not come up like that. Once collected, the admin and panel logins render."""
    env = {**PRODUCTION, "NUDGE_VAR_DIR": str(tmp_path), "SECURE_SSL_REDIRECT": "0", "ALLOWED_HOSTS": "127.0.0.1"}
    clean = {k: v for k, v in os.environ.items() if k not in STRIPPED}
    port = free_port()
    command = [sys.executable, "-m", "gunicorn", "config.wsgi", "-b", f"127.0.0.1:{port}", "-w", "2"]
    refused = subprocess.run(command, cwd=ROOT, env={**clean, **env}, capture_output=True, text=True, timeout=60)
    assert refused.returncode != 0
    assert "static files are not collected: run manage.py collectstatic" in refused.stderr

    assert manage("collectstatic", "--noinput", **env).returncode == 0
    server = subprocess.Popen(command, cwd=ROOT, env={**clean, **env}, stderr=subprocess.PIPE)
    try:
        wait_for_http(f"http://127.0.0.1:{port}/login/", process=server)
        for path in ("/login/", "/admin/login/"):
            page = httpx.get(f"http://127.0.0.1:{port}{path}")
            assert page.status_code == 200, path
            assert "/static/" in page.text and ".css" in page.text
    finally:
        server.terminate()
        server.wait(timeout=10)


@pytest.mark.django_db
def test_health_reports_database_and_broker(client):
    answer = client.get("/health")
    assert answer.status_code == 200
    assert answer.json() == {"status": "ok", "database": "ok", "broker": "ok"}


def test_http_calls_are_not_logged_with_their_urls(caplog):
    """Provider and webhook URLs carry secrets: httpx's per-request INFO line never reaches the logs
    (LOGGING as django.setup() applied it)."""
    import logging

    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"], cwd=ROOT / "docs"
    )
    try:
        wait_for_http(f"http://127.0.0.1:{port}/")
        with caplog.at_level(logging.INFO):
            httpx.get(f"http://127.0.0.1:{port}/?token=s3cret")
        assert not [r for r in caplog.records if "s3cret" in r.getMessage()]
    finally:
        server.terminate()
        server.wait()
