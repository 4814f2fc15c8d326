"""Fuzzing in CI. schemathesis sends what the OpenAPI schema allows — and much it does not — to every
operation of a real gunicorn server with an owner's token, failing on any 5xx, an undocumented status
code or content type, or an answer that breaks its schema; hypothesis throws random bodies at
`/v1/batch`, which must answer 200 (storing exactly the messages it does not name as refused), 400 or
401 — never a 5xx."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from activities.models import Activity, IngestionError
from tests.conftest import SegmentClient, gunicorn_server

ROOT = Path(__file__).resolve().parent.parent
CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"


@pytest.mark.slow
@pytest.mark.first  # its 150 s budget is spent in full: started first, it never runs alone at the end
def test_every_operation_of_the_schema_survives_schemathesis(transactional_db, acme):
    # The token's rate is raised for the fuzzer's thousands of requests; the request-line limit is
    # gunicorn's (a 414 from the HTTP server before the application sees the URL), not the API's.
    with gunicorn_server("--limit-request-line", "0", NUDGE_API_RATE="1000000/min") as base:
        done = subprocess.run(
            [
                str(Path(sys.executable).with_name("schemathesis")),
                "run",
                f"{base}/api/schema/",
                "--header",
                f"Authorization: Bearer {acme.tokens['owner']}",
                "--checks",
                CHECKS,
                "--phases",
                "examples,coverage,fuzzing",
                "--max-examples",
                "20",
                "--max-time",
                "150",
                # One worker: with two, hypothesis's lambda descriptions (ast.parse) race in
                # CPython 3.11.7 ("AST constructor recursion depth mismatch"), failing the run although
                # every check passed.
                "--workers",
                "1",
                "--seed",
                "20261201",
                "--generation-deterministic",
                "--output-truncate",
                "true",
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    summary = done.stdout[-6000:]
    assert done.returncode == 0, summary
    assert "Tested: " in done.stdout


keys = st.sampled_from(
    [
        "type",
        "event",
        "userId",
        "anonymousId",
        "properties",
        "traits",
        "timestamp",
        "originalTimestamp",
        "sentAt",
        "messageId",
        "context",
        "name",
        "previousId",
        "groupId",
    ]
)
scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**80), 2**80)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
    | st.sampled_from(
        [
            "track",
            "identify",
            "page",
            "2025-01-01T00:00:00+23:59",
            "0001-01-01T00:00:00+14:00",
            "9999-12-31T23:59:59-14:00",
            "a\x00b",
            "u1",
            "x" * 40_000,
        ]
    )
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)
messages = st.dictionaries(keys, values, max_size=8) | values


@pytest.mark.django_db
@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(batch=st.lists(messages, max_size=8), sent_at=st.none() | scalars)
def test_random_batches_are_answered_and_stored_as_answered(segment: SegmentClient, batch: list[Any], sent_at: Any):
    before = Activity.objects.count()
    errors_before = IngestionError.objects.count()
    body: dict[str, Any] = {"batch": batch}
    if sent_at is not None:
        body["sentAt"] = sent_at
    response = segment.post("/v1/batch", None, raw=json.dumps(body).encode())  # json: integers beyond 64 bits
    assert response.status_code in (200, 400), response.content
    answer = response.json()
    refused = answer.get("refused", [])
    stored = Activity.objects.count() - before
    if response.status_code == 200:
        assert stored <= len(batch) - len(refused)  # duplicates of a messageId are stored once
        assert len(refused) == IngestionError.objects.count() - errors_before
    else:
        assert stored == 0 and answer["code"] and answer["message"]


@pytest.mark.django_db
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.binary(max_size=200) | values.map(lambda v: json.dumps(v).encode()))
def test_any_body_on_any_call_is_a_4xx_at_worst(client: Client, acme, body: bytes):
    segment = SegmentClient(client, acme.write_key)
    for path in ("/v1/track", "/v1/identify", "/v1/batch", "/v1/import"):
        response = segment.post(path, None, raw=body)
        assert response.status_code in (200, 400), (path, response.content)
