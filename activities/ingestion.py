"""The Segment HTTP Tracking API (`/v1/track`, `/v1/batch`, …): auth, body limits, gzip, then
validation and storage. Plain Django views: this is the hot path, and DRF's machinery buys nothing here.

Answers: 200 `{"success": true}` only after commit; 400 naming the bad field; 401 for a missing,
unknown or revoked write key; 503 when the database is unreachable, so SDKs retry.
"""

from __future__ import annotations

import base64
import binascii
import logging
import zlib
from typing import Any

import orjson
from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from activities.segment_spec import SpecError, parse_batch, parse_single, reject_nul
from activities.store import StorageUnavailable, messages_store_retrying
from workspaces.selectors import write_key_workspace_id

logger = logging.getLogger(__name__)


def _answer(status: int, body: dict[str, Any], **headers: str) -> HttpResponse:
    response = HttpResponse(orjson.dumps(body), status=status, content_type="application/json")
    for name, value in headers.items():
        response[name] = value
    return response


def _bad_request(field: str, message: str) -> HttpResponse:
    return _answer(400, {"success": False, "error": f"{field} {message}", "field": field})


def _unavailable() -> HttpResponse:
    return _answer(503, {"success": False, "error": "storage is unavailable; retry"}, **{"Retry-After": "2"})


class BodyError(Exception):
    def __init__(self, status: int, field: str, message: str) -> None:
        super().__init__(message)
        self.status, self.field, self.message = status, field, message


def _read_body(request: HttpRequest, limit: int) -> bytes:
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        raise BodyError(400, "Content-Length", "is not a number") from None
    if length > limit:
        raise BodyError(400, "body", f"is {length} bytes; a request may be at most {limit // 1024} KB")
    body = request.body
    encoding = request.META.get("HTTP_CONTENT_ENCODING", "").strip().lower()
    if encoding == "gzip":
        decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            body = decompressor.decompress(body, limit + 1)
        except zlib.error:
            raise BodyError(400, "body", "is not valid gzip") from None
        if not decompressor.eof and len(body) <= limit:
            raise BodyError(400, "body", "is truncated gzip")
    elif encoding not in ("", "identity"):
        raise BodyError(400, "Content-Encoding", f"{encoding!r} is not supported; use gzip or none")
    if len(body) > limit:
        raise BodyError(400, "body", f"is larger than {limit // 1024} KB uncompressed")
    return body


def write_key_of(request: HttpRequest, data: Any) -> str | None:
    header = request.META.get("HTTP_AUTHORIZATION", "")
    if header[:6].lower() == "basic ":
        try:
            decoded = base64.b64decode(header[6:].strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            raise BodyError(401, "Authorization", "is not valid HTTP Basic credentials") from None
        return decoded.split(":", 1)[0] or None
    if isinstance(data, dict) and isinstance(data.get("writeKey"), str):
        return data["writeKey"] or None
    return None


def _ingest(request: HttpRequest, call: str | None) -> HttpResponse:
    received_at = timezone.now()
    try:
        body = _read_body(request, settings.NUDGE_MAX_REQUEST_BYTES)
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError as error:
            raise BodyError(400, "body", f"is not valid JSON ({error})") from None
        raw_key = write_key_of(request, data)
        if raw_key is None:
            raise BodyError(401, "writeKey", "is missing: send it as the Basic-auth user name or as writeKey")
    except BodyError as error:
        if error.status == 401:
            return _answer(401, {"success": False, "error": f"{error.field} {error.message}", "field": error.field})
        return _bad_request(error.field, error.message)

    try:
        workspace_id = write_key_workspace_id(raw_key)
    except (OperationalError, InterfaceError):
        return _unavailable()
    if workspace_id is None:
        return _answer(
            401,
            {"success": False, "error": "writeKey is unknown or revoked", "field": "writeKey"},
            **{"WWW-Authenticate": 'Basic realm="nudge"'},
        )

    try:
        if b"\\u0000" in body:  # only an escaped NUL can smuggle one into valid JSON
            reject_nul(data)
        if call is None:
            messages = parse_batch(
                data, received_at=received_at, max_event_bytes=settings.NUDGE_MAX_EVENT_BYTES, size=len(body)
            )
        else:
            messages = parse_single(
                data, call=call, received_at=received_at, max_event_bytes=settings.NUDGE_MAX_EVENT_BYTES, size=len(body)
            )
    except SpecError as error:
        return _bad_request(error.field, error.message)

    try:
        messages_store_retrying(workspace_id=workspace_id, messages=messages, received_at=received_at)
    except StorageUnavailable as error:
        logger.warning("ingestion answered 503: %s", error)
        return _unavailable()
    return _answer(200, {"success": True})


def _endpoint(call: str | None):  # noqa: ANN202 - returns a view
    @csrf_exempt
    @require_POST
    def view(request: HttpRequest) -> HttpResponse:
        return _ingest(request, call)

    view.__name__ = f"ingest_{call or 'batch'}"
    return view


track = _endpoint("track")
identify = _endpoint("identify")
page = _endpoint("page")
screen = _endpoint("screen")
alias = _endpoint("alias")
group = _endpoint("group")
batch = _endpoint(None)  # also serves /v1/import
