"""`GET /health`: database and broker reachability, for load balancers and operators."""

from __future__ import annotations

import orjson
from django.db import connection
from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET


def _database() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return "ok"
    except Exception as error:  # any failure to reach the database is reported, not raised
        return f"error: {type(error).__name__}"


def _broker() -> str:
    from config.celery import app

    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, interval_start=0, interval_step=1, timeout=2)
        return "ok"
    except Exception as error:  # kombu raises many kinds; each means unreachable
        return f"error: {type(error).__name__}"


@require_GET
def health(request: HttpRequest) -> HttpResponse:
    state = {"database": _database(), "broker": _broker()}
    healthy = all(value == "ok" for value in state.values())
    return HttpResponse(
        orjson.dumps({"status": "ok" if healthy else "degraded", **state}),
        status=200 if healthy else 503,
        content_type="application/json",
    )
