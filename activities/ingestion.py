"""The Segment HTTP Tracking API (`/v1/track`, `/v1/batch`, …): auth, rate limit, body limits, gzip,
then validation and storage. Plain Django views: this is the hot path, and DRF's machinery buys nothing.

Answers (every error carries `error` and `field`, and `code` and `message` as RudderStack's SDKs read):
- 200 `{"success": true}` only after commit. In a batch, each message stands alone: the good ones are
  stored, the bad ones refused and named (`"refused": [{"index": 3, "field": "batch[3].event", …}]`) and
  kept in the workspace's ingestion errors; a batch with no good message at all answers 400.
- 400 for a request that cannot be read at all (not JSON, not a batch, too large), naming the field;
- 401 for a missing, unknown or revoked write key; 429 with Retry-After past the write key's rate;
- 503 when the database is unreachable, so SDKs retry. A client's mistake is never a 503.

A single call about someone already known (the common case) costs one round trip to PostgreSQL: the write
key's workspace comes from this process's memory, whether the key is still active is checked inside the one
statement that stores the call (store.message_store_single), and the rate is counted in the process
(ingest_rate). Through config/wsgi.py (gunicorn, runserver) the single calls are answered by
activities/ingestion_wsgi.py ahead of Django's handler; what it leaves to Django, the batches and Django's
test client come here through IngestionRoutes. Both call `ingest_single` and send its `Answer` with the
same status, body and headers.
"""

from __future__ import annotations

import base64
import binascii
import logging
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple, Protocol

import orjson
from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from activities import ingest_rate
from activities.models import IngestionError
from activities.segment_spec import Refused, SpecError, parse_batch, parse_single
from activities.store import StorageUnavailable, message_store_single, messages_store_retrying, single_eligible
from workspaces.keys import key_hash
from workspaces.selectors import write_key_workspace_id

logger = logging.getLogger(__name__)
MAX_ERRORS_KEPT = 100  # of one request's refused messages; all are named in the answer


@dataclass(frozen=True)
class Answer:
    """What an ingestion endpoint answers, before it is a Django response or a WSGI one."""

    status: int
    body: bytes
    headers: tuple[tuple[str, str], ...] = ()

    def response(self) -> HttpResponse:
        response = HttpResponse(self.body, status=self.status, content_type="application/json")
        response["Content-Length"] = str(len(self.body))  # CommonMiddleware's job elsewhere; see IngestionRoutes
        for name, value in self.headers:
            response[name] = value
        return response


_STORED = orjson.dumps({"success": True})


def _answer(status: int, body: dict[str, Any], **headers: str) -> Answer:
    return Answer(status, orjson.dumps(body), tuple(headers.items()))


def _error(status: int, code: str, field: str, message: str, **extra: Any) -> Answer:
    text = f"{field} {message}"
    headers = extra.pop("headers", {})
    body = {"success": False, "error": text, "field": field, "code": code, "message": text, **extra}
    return _answer(status, body, **headers)


def _unavailable() -> Answer:
    return _error(503, "unavailable", "storage", "is unavailable; retry", headers={"Retry-After": "2"})


class Incoming(Protocol):
    """What ingestion reads of a request (Django's, or activities/ingestion_wsgi.py's for a WSGI call)."""

    META: dict[str, Any]

    def read(self, size: int | None = -1, /) -> bytes: ...


class BodyError(Exception):
    def __init__(self, status: int, field: str, message: str) -> None:
        super().__init__(message)
        self.status, self.field, self.message = status, field, message


def _size(limit: int) -> str:
    return (
        f"{limit // (1024 * 1024)} MB" if limit >= 1024 * 1024 and limit % (1024 * 1024) == 0 else f"{limit // 1024} KB"
    )


def _read_body(request: Incoming, limit: int) -> bytes:
    """The body, at most `limit` bytes as sent and once decompressed (read from the stream: Django's own
    in-memory limit is for forms)."""
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        raise BodyError(400, "Content-Length", "is not a number") from None
    if length > limit:
        raise BodyError(400, "body", f"is {length} bytes; a request may be at most {_size(limit)}")
    body = request.read(limit + 1)
    if len(body) > limit:
        raise BodyError(400, "body", f"is larger than {_size(limit)}")
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
        raise BodyError(400, "body", f"is larger than {_size(limit)} uncompressed")
    return body


def write_key_of(request: Incoming, data: Any) -> str | None:
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


def _limited(workspace_id: int, raw_key: str) -> float | None:
    """Seconds to wait when this write key is over its rate (a generous one: SDKs back off on 429)."""
    window = settings.NUDGE_INGEST_BURST_SECONDS
    limit = settings.NUDGE_INGEST_RATE_PER_SECOND * window
    return ingest_rate.hit(f"ingest:{workspace_id}:{raw_key[-12:]}", limit=limit, window=window)


def _refused_record(workspace_id: int, endpoint: str, refused: list[Refused], at: datetime) -> None:
    """Keep what was refused where the workspace can see it (the first of a request: a public write key
    must not be able to fill a table)."""
    rows = []
    for item in refused[:MAX_ERRORS_KEPT]:
        raw = item.raw if isinstance(item.raw, dict) else {}
        message_id = raw.get("messageId")
        try:
            excerpt = orjson.dumps(item.raw).decode()[:2000].replace("\x00", "\\u0000")
        except (orjson.JSONEncodeError, TypeError):
            excerpt = ""
        rows.append(
            IngestionError(
                workspace_id=workspace_id,
                kind=IngestionError.Kind.REFUSED,
                endpoint=endpoint,
                field=item.field[:200].replace("\x00", ""),
                error=f"{item.field} {item.message}".replace("\x00", ""),
                message_id=message_id[:100].replace("\x00", "") if isinstance(message_id, str) else "",
                excerpt=excerpt,
                created_at=at,
            )
        )
    IngestionError.objects.bulk_create(rows)


def _unauthorized(field: str = "writeKey", message: str = "is unknown or revoked") -> Answer:
    return _error(401, "unauthorized", field, message, headers={"WWW-Authenticate": 'Basic realm="nudge"'})


def _rate_limited(wait: float) -> Answer:
    return _error(
        429, "rate_limited", "writeKey", "sent too many requests; retry later", headers={"Retry-After": f"{wait:.0f}"}
    )


class _Read(NamedTuple):
    received_at: datetime
    body: bytes
    data: Any
    raw_key: str


def _request_read(request: Incoming) -> _Read | Answer:
    """When the request came, its body, the body's JSON and the write key sent with it; or the 400/401
    that says what is wrong."""
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
            return _error(401, "unauthorized", error.field, error.message)
        return _error(400, "invalid_request", error.field, error.message)
    return _Read(received_at, body, data, raw_key)


def _storing(store: Callable[[], Answer]) -> Answer:
    """`store()`'s answer, or the 503 that tells the SDK to retry when the database cannot take it."""
    try:
        return store()
    except StorageUnavailable as error:
        logger.warning("ingestion answered 503: %s", error)
    except (OperationalError, InterfaceError):
        pass
    return _unavailable()


# Write keys seen active by this process: hash → (workspace id, when to look again). The workspace of a
# key never changes; whether it is still active is checked on every request, inside the statement that
# stores the call (or by a lookup where no such statement runs), so a revoked key is refused at once.
_KEY_SECONDS = 60.0
_KEYS_KEPT = 10_000
_keys: dict[str, tuple[int, float]] = {}


def _key_workspace(raw_key: str) -> tuple[str, int, bool] | None:
    """(key hash, workspace id, whether it came from this process's cache) of an active write key, or None
    for an unknown or revoked one. Raises the database's errors."""
    hashed = key_hash(raw_key)
    now = time.monotonic()
    known = _keys.get(hashed)
    if known is not None and known[1] > now:
        return hashed, known[0], True
    workspace_id = write_key_workspace_id(raw_key)
    if workspace_id is None:
        _keys.pop(hashed, None)
        return None
    if len(_keys) >= _KEYS_KEPT:
        _keys.clear()
    _keys[hashed] = (workspace_id, now + _KEY_SECONDS)
    return hashed, workspace_id, False


def _key_active(raw_key: str) -> bool:
    """Looked up again (never from the cache); a revoked key is forgotten."""
    if write_key_workspace_id(raw_key) is not None:
        return True
    _keys.pop(key_hash(raw_key), None)
    return False


def ingest_single(request: Incoming, call: str) -> Answer:
    """One call: the lean path when `message_store_single` can take it, else the general one. Answers
    are those of a batch of one, and in the same order: 401 before 429 before 400."""
    read = _request_read(request)
    if isinstance(read, Answer):
        return read
    return _storing(lambda: _single_store(read, call))


def _single_store(read: _Read, call: str) -> Answer:
    key = _key_workspace(read.raw_key)
    if key is None:
        return _unauthorized()
    hashed, workspace_id, cached = key
    wait = _limited(workspace_id, read.raw_key)
    if wait is not None:
        return _rate_limited(wait) if not cached or _key_active(read.raw_key) else _unauthorized()
    try:
        message = parse_single(
            read.data,
            call=call,
            received_at=read.received_at,
            max_event_bytes=settings.NUDGE_MAX_EVENT_BYTES,
            size=len(read.body),
            nul=b"\\u0000" in read.body,
        )
    except SpecError as error:
        if cached and not _key_active(read.raw_key):
            return _unauthorized()
        return _error(400, "invalid_request", error.field, error.message)
    if single_eligible(message):
        result = message_store_single(
            key_hash=hashed, workspace_id=workspace_id, message=message, received_at=read.received_at
        )
        if not result.authorized:
            _keys.pop(hashed, None)
            return _unauthorized()
        if result.handled:
            return Answer(200, _STORED)
    elif cached and not _key_active(read.raw_key):
        return _unauthorized()
    messages_store_retrying(workspace_id=workspace_id, messages=[message], received_at=read.received_at)
    return Answer(200, _STORED)


def ingest_batch(request: HttpRequest) -> Answer:
    read = _request_read(request)
    if isinstance(read, Answer):
        return read
    return _storing(lambda: _batch_store(read, request.path[:40]))


def _batch_store(read: _Read, endpoint: str) -> Answer:
    """As `_single_store`: the write key's workspace from this process's memory, its check inside the
    statement that claims the batch (or by a lookup where none runs); answers in the same order."""
    key = _key_workspace(read.raw_key)
    if key is None:
        return _unauthorized()
    hashed, workspace_id, cached = key

    def active() -> bool:
        return not cached or _key_active(read.raw_key)

    wait = _limited(workspace_id, read.raw_key)
    if wait is not None:
        return _rate_limited(wait) if active() else _unauthorized()
    try:
        parsed = parse_batch(
            read.data,
            received_at=read.received_at,
            max_event_bytes=settings.NUDGE_MAX_EVENT_BYTES,
            size=len(read.body),
            nul=b"\\u0000" in read.body,  # only an escaped NUL can smuggle one into valid JSON
        )
    except SpecError as error:
        return _error(400, "invalid_request", error.field, error.message) if active() else _unauthorized()
    messages, refused = parsed.messages, parsed.refused
    if messages:
        stored = messages_store_retrying(
            workspace_id=workspace_id, messages=messages, received_at=read.received_at, key_hash=hashed
        )
        if not stored.authorized:
            _keys.pop(hashed, None)
            return _unauthorized()
    elif not active():
        return _unauthorized()
    if refused:
        _refused_record(workspace_id, endpoint, refused, read.received_at)
    named = [{"index": r.index, "field": r.field, "error": f"{r.field} {r.message}"} for r in refused]
    if refused and not messages:
        first = refused[0]
        return _error(400, "invalid_request", first.field, first.message, refused=named)
    return _answer(200, {"success": True, **({"refused": named} if named else {})})


def _endpoint(call: str | None):  # noqa: ANN202 - returns a view
    @csrf_exempt
    @require_POST
    def view(request: HttpRequest) -> HttpResponse:
        return (ingest_batch(request) if call is None else ingest_single(request, call)).response()

    view.__name__ = f"ingest_{call or 'batch'}"
    return view


track = _endpoint("track")
identify = _endpoint("identify")
page = _endpoint("page")
screen = _endpoint("screen")
alias = _endpoint("alias")
group = _endpoint("group")
batch = _endpoint(None)  # also serves /v1/import (history: timestamps back to 1970)

SINGLE_CALLS = {f"/v1/{call}": call for call in ("track", "identify", "page", "screen", "alias", "group")}
ROUTES = {
    "/v1/track": track,
    "/v1/identify": identify,
    "/v1/page": page,
    "/v1/screen": screen,
    "/v1/alias": alias,
    "/v1/group": group,
    "/v1/batch": batch,
    "/v1/import": batch,
}


class IngestionRoutes:
    """Middleware, right after SecurityMiddleware and RefuseNulMiddleware: the Segment endpoints are
    answered here, without the URL tree and the rest of the middleware (sessions, CSRF, users, messages,
    htmx, login lockout, frame options), which an SDK's POST needs none of. The host is still checked
    against ALLOWED_HOSTS, as CommonMiddleware would. (Through config/wsgi.py the single calls rarely get
    here: see activities/ingestion_wsgi.py, which must answer exactly as this route does.)"""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        view = ROUTES.get(request.path_info)
        if view is None:
            return self.get_response(request)
        request.get_host()
        return view(request)
