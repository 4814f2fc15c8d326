"""The single calls answered at the WSGI layer (activities/ingestion_wsgi.py): under a real gunicorn they
answer exactly as Django's route does through the test client (status, body, headers), Django still
answers what it must decide itself, and a database outage is a 503."""

from __future__ import annotations

import gzip
import io
import sys
from collections.abc import Iterable
from typing import Any, cast

import httpx
import orjson
import pytest
from django.test import Client

from activities.ingestion import SINGLE_CALLS
from activities.ingestion_wsgi import SingleCallsFirst
from activities.models import Activity
from tests.activities.test_ingestion_api import BAD_REQUESTS
from tests.conftest import SegmentClient, basic_auth, free_port, gunicorn_server
from workspaces.models import WriteKey
from workspaces.services import key_revoke

HOP_BY_HOP = {"date", "server", "connection", "keep-alive", "transfer-encoding"}  # the HTTP server's


def _answer(response: Any) -> tuple[int, bytes, dict[str, str]]:
    """Status, body and headers of a test-client or httpx response (gunicorn's own headers left out)."""
    items = response.headers.items() if isinstance(response, httpx.Response) else response.items()
    headers = {name.lower(): value for name, value in items if name.lower() not in HOP_BY_HOP}
    return response.status_code, response.content, headers


def _live(base: str, write_key: str, method: str, path: str, body: Any = None, **kwargs: Any) -> Any:
    """What SegmentClient.post sends, sent over HTTP (kwargs as the test client takes them)."""
    raw = kwargs.pop("raw", None)
    data = raw if raw is not None else orjson.dumps(body)
    if kwargs.pop("gzip", False):
        data = gzip.compress(data)
        kwargs.setdefault("HTTP_CONTENT_ENCODING", "gzip")
    kwargs.setdefault("HTTP_AUTHORIZATION", basic_auth(write_key))
    headers = {"Content-Type": "application/json"}
    headers |= {name[5:].replace("_", "-").title(): value for name, value in kwargs.items()}
    return httpx.request(method, f"{base}{path}", content=data if method == "POST" else None, headers=headers)


SINGLE_BAD = [
    (case, path, cast(dict[str, Any], kwargs), status, field)
    for case, path, kwargs, status, field in BAD_REQUESTS
    if path in SINGLE_CALLS
]
STORED: list[tuple[str, str, dict[str, Any]]] = [
    ("a track about someone new", "/v1/track", {"body": {"userId": "ann", "event": "first"}}),
    ("a track about someone known", "/v1/track", {"body": {"userId": "ann", "event": "again"}}),
    ("the same messageId again", "/v1/track", {"body": {"userId": "ann", "event": "x", "messageId": "m-1"}}),
    ("a gzipped page", "/v1/page", {"body": {"userId": "ann", "name": "Home"}, "gzip": True}),
    ("an identify with traits", "/v1/identify", {"body": {"userId": "ann", "traits": {"plan": "pro"}}}),
    ("a screen", "/v1/screen", {"body": {"userId": "ann", "name": "Cart"}}),
    ("a group", "/v1/group", {"body": {"userId": "ann", "groupId": "g1"}}),
    ("an alias", "/v1/alias", {"body": {"userId": "ann", "previousId": "device-1"}}),
]
DJANGOS: list[tuple[str, str, str, dict[str, Any]]] = [  # what the WSGI layer leaves to Django
    ("a query string", "POST", "/v1/track?utm=spring", {"body": {"userId": "ann", "event": "q"}}),
    ("a NUL in the query string", "POST", "/v1/track?x=%00", {"body": {"userId": "ann", "event": "q"}}),
    ("a host not allowed", "POST", "/v1/track", {"body": {"userId": "ann", "event": "h"}, "HTTP_HOST": "evil.test"}),
    ("a GET", "GET", "/v1/track", {}),
    ("a path with a trailing slash", "POST", "/v1/track/", {"body": {"userId": "ann", "event": "s"}}),
]


@pytest.mark.slow
def test_every_answer_is_the_one_django_gives(live_nudge: str, acme, client: Client):
    segment = SegmentClient(client, acme.write_key)
    for case, path, kwargs, status, field in SINGLE_BAD:
        kwargs = dict(kwargs)
        body = kwargs.pop("body", None)
        live = _answer(_live(live_nudge, acme.write_key, "POST", path, body, **kwargs))
        assert live[0] == status and orjson.loads(live[1])["field"] == field, case
        assert live == _answer(segment.post(path, body, **kwargs)), case
    assert not Activity.objects.exists()

    in_body = {"body": {"writeKey": acme.write_key, "userId": "ann", "event": "in body"}, "HTTP_AUTHORIZATION": ""}
    for case, path, kwargs in [*STORED, ("the write key in the body", "/v1/track", in_body)]:
        kwargs = dict(kwargs)
        body = kwargs.pop("body", None)
        live = _answer(_live(live_nudge, acme.write_key, "POST", path, body, **kwargs))
        assert live[:2] == (200, b'{"success":true}'), case
        assert live == _answer(segment.post(path, body, **kwargs)), case
    assert Activity.objects.filter(name="again").count() == 2  # once over HTTP, once through the test client
    assert Activity.objects.filter(name="in body").count() == 2
    assert Activity.objects.filter(message_id="m-1").count() == 1

    for case, method, path, kwargs in DJANGOS:
        kwargs = dict(kwargs)
        body = kwargs.pop("body", None)
        live = _answer(_live(live_nudge, acme.write_key, method, path, body, **kwargs))
        local = client.get(path) if method == "GET" else segment.post(path, body, **kwargs)
        assert live == _answer(local), case
    assert Activity.objects.filter(name="q").count() == 2  # the query string is ignored, the NUL refused

    key_revoke(key=WriteKey.objects.get(workspace=acme.workspace), actor=None)
    revoked = _answer(_live(live_nudge, acme.write_key, "POST", "/v1/track", {"userId": "ann", "event": "late"}))
    assert revoked[0] == 401 and orjson.loads(revoked[1])["field"] == "writeKey"
    assert revoked == _answer(segment.post("/v1/track", {"userId": "ann", "event": "late"}))
    assert not Activity.objects.filter(name="late").exists()


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_the_https_redirect_and_hsts_are_djangos(acme, settings):
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    segment = SegmentClient(Client(), acme.write_key)  # a new client: its middleware reads these settings
    with gunicorn_server(SECURE_SSL_REDIRECT="1", USE_X_FORWARDED_PROTO="1") as base:
        for headers in ({"HTTP_HOST": "127.0.0.1"}, {"HTTP_HOST": "127.0.0.1", "HTTP_X_FORWARDED_PROTO": "https"}):
            live = _answer(_live(base, acme.write_key, "POST", "/v1/track", {"userId": "u", "event": "x"}, **headers))
            local = _answer(segment.post("/v1/track", {"userId": "u", "event": "x"}, **headers))
            assert live == local
            if "HTTP_X_FORWARDED_PROTO" in headers:
                assert live[0] == 200 and live[2]["strict-transport-security"].startswith("max-age=")
            else:
                assert live[0] == 301 and live[2]["location"].startswith("https://")


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_past_its_rate_a_write_key_is_told_to_retry(acme):
    headers = {"Authorization": basic_auth(acme.write_key)}
    with gunicorn_server(NUDGE_INGEST_RATE_PER_SECOND="1", NUDGE_INGEST_BURST_SECONDS="60") as base:
        # 60 a window: 130 calls pass it even when a window ends among them
        answers = [
            httpx.post(f"{base}/v1/track", json={"userId": "u", "event": "x"}, headers=headers) for _ in range(130)
        ]
    refused = [answer for answer in answers if answer.status_code == 429]
    assert refused and all(answer.status_code in (200, 429) for answer in answers)
    assert refused[0].json()["field"] == "writeKey" and refused[0].json()["code"] == "rate_limited"
    assert int(refused[0].headers["Retry-After"]) >= 1


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_without_a_database_every_call_is_a_503_to_retry(acme):
    nowhere = f"postgres://postgres@127.0.0.1:{free_port()}/nudge"
    with gunicorn_server(DATABASE_URL=nowhere) as base:
        for path, body in (
            ("/v1/track", {"userId": "ann", "event": "x"}),  # the WSGI layer
            ("/v1/identify", {"userId": "ann", "traits": {"plan": "pro"}}),
            ("/v1/batch", {"batch": [{"type": "track", "userId": "ann", "event": "x"}]}),  # Django
        ):
            response = httpx.post(f"{base}{path}", json=body, headers={"Authorization": basic_auth(acme.write_key)})
            assert response.status_code == 503, (path, response.content)
            assert response.json()["field"] == "storage" and response.headers["Retry-After"] == "2"


def _wsgi_call(app: Any, method: str, path: str, body: bytes, **environ: str) -> str:
    captured: list[str] = []
    start: dict[str, Any] = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SCRIPT_NAME": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "80",
        "HTTP_HOST": "127.0.0.1",
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
        "wsgi.url_scheme": "http",
        "wsgi.errors": sys.stderr,
    }
    b"".join(app({**start, **environ}, lambda status, headers, exc_info=None: captured.append(status)))
    return captured[0]


@pytest.mark.django_db(transaction=True)  # the layer checks the connection as a request ends: autocommit
def test_only_the_single_calls_are_answered_ahead_of_django(acme, settings):
    handed: list[str] = []

    def django(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        handed.append(f"{environ['REQUEST_METHOD']} {environ['PATH_INFO']}")
        start_response("204 No Content", [])
        return []

    app = SingleCallsFirst(django)
    auth = {"HTTP_AUTHORIZATION": basic_auth(acme.write_key)}
    track = orjson.dumps({"userId": "ann", "event": "x"})
    assert _wsgi_call(app, "POST", "/v1/track", track, **auth) == "200 OK"
    assert _wsgi_call(app, "POST", "/v1/track", b'{"userId": "ann"}', **auth) == "400 Bad Request"
    assert handed == []
    assert _wsgi_call(app, "GET", "/v1/track", b"", **auth) == "204 No Content"
    assert _wsgi_call(app, "POST", "/v1/track", track, QUERY_STRING="a=1", **auth) == "204 No Content"
    assert _wsgi_call(app, "POST", "/v1/batch", b'{"batch": []}', **auth) == "204 No Content"
    assert _wsgi_call(app, "POST", "/v1/track", track, HTTP_HOST="evil.test", **auth) == "204 No Content"
    assert handed == ["GET /v1/track", "POST /v1/track", "POST /v1/batch", "POST /v1/track"]
    assert Activity.objects.filter(name="x").count() == 1

    settings.MIDDLEWARE = [m for m in settings.MIDDLEWARE if m != "config.middleware.RefuseNulMiddleware"]
    assert not SingleCallsFirst(django).enabled  # it cannot stand in for middleware it does not know


def test_the_web_process_answers_single_calls_ahead_of_django():
    from config.wsgi import application

    assert isinstance(application, SingleCallsFirst) and application.enabled
