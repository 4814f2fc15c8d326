"""The single Segment calls (`POST /v1/track`, `/v1/identify`, `/v1/page`, `/v1/screen`, `/v1/alias`,
`/v1/group`) answered by the WSGI application itself, ahead of Django's handler (config/wsgi.py).

Through Django a quarter of such a call's Python went to the handler's machinery: the request signals'
receivers, the URL configuration set and reset, the middleware wrappers, a request and a response object,
and the security headers worked out anew each time. Here a call stored gets `ingestion.ingest_single` between the two
things of a request it needs: the database connection's lifetime checks (what the request signals do
with it) before and after, and the answer with the headers SecurityMiddleware gives every answer, worked
out by that middleware once. An answer other than a stored call is made as Django would make it: the
response object, SecurityMiddleware, Django's logging of 4xx/5xx (and, for an unexpected error, its 500
page). What Django must decide itself goes to Django: another method or path, a query string (which
RefuseNulMiddleware reads), a host it refuses, a redirect to HTTPS.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable
from typing import Any

from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.core.handlers.exception import response_for_exception
from django.core.handlers.wsgi import LimitedStream, WSGIRequest
from django.db import close_old_connections
from django.http import HttpRequest, HttpResponse
from django.middleware.security import SecurityMiddleware
from django.utils.log import log_response

from activities.ingestion import SINGLE_CALLS, Answer, ingest_single

# The middleware ahead of the ingestion routes, whose part this module plays: it must not answer ahead of
# any other.
MIDDLEWARE_AHEAD = [
    "config.checks.WebStartupChecks",  # not part of a request: it runs when Django builds its handler
    "django.middleware.security.SecurityMiddleware",
    "config.middleware.RefuseNulMiddleware",
    "activities.ingestion.IngestionRoutes",
]
# What Django reads to check the host and to decide on the HTTPS redirect (besides the path).
_ADMISSION_KEYS = (
    "SCRIPT_NAME",
    "PATH_INFO",
    "HTTP_HOST",
    "HTTP_X_FORWARDED_HOST",
    "HTTP_X_FORWARDED_PORT",
    "SERVER_NAME",
    "SERVER_PORT",
    "wsgi.url_scheme",
)
_ADMISSIONS_KEPT = 256

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class _Call:
    """What `ingest_single` reads of a request: its headers and, up to its Content-Length, its body."""

    __slots__ = ("META", "_stream")

    def __init__(self, environ: dict[str, Any]) -> None:
        self.META = environ
        self._stream: LimitedStream | None = None

    def read(self, size: int | None = -1, /) -> bytes:
        if self._stream is None:  # only once the body's size has been checked (ingestion._read_body)
            self._stream = LimitedStream(self.META["wsgi.input"], int(self.META.get("CONTENT_LENGTH") or 0))
        return self._stream.read(size)


def _not_a_view(request: HttpRequest) -> HttpResponse:
    raise AssertionError("only SecurityMiddleware's request and response halves are called")


class SingleCallsFirst:
    """The WSGI application: the single Segment calls answered here, everything else by `django`."""

    def __init__(self, django: WSGIApp) -> None:
        self.django = django
        self.enabled = list(settings.MIDDLEWARE[: len(MIDDLEWARE_AHEAD)]) == MIDDLEWARE_AHEAD
        self.security = SecurityMiddleware(_not_a_view)
        proxy_header = settings.SECURE_PROXY_SSL_HEADER
        self._admission_keys = _ADMISSION_KEYS + ((proxy_header[0],) if proxy_header else ())
        self._admissions: dict[tuple[Any, ...], bool | None] = {}
        self._stored = {secure: self._headers(Answer(200, b""), secure) for secure in (False, True)}

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        call = SINGLE_CALLS.get(environ.get("PATH_INFO", ""))
        if call is None or not self.enabled or environ.get("REQUEST_METHOD") != "POST" or environ.get("QUERY_STRING"):
            return self.django(environ, start_response)
        secure = self._admitted(environ)
        if secure is None:
            return self.django(environ, start_response)
        close_old_connections()  # what the request signals do with the database, before and after
        try:
            answer = ingest_single(_Call(environ), call)
        except Exception as error:  # as Django's handler does: the 500 page, logged with its traceback
            request = WSGIRequest(environ)
            return self._send(request, response_for_exception(request, error), start_response)
        finally:
            close_old_connections()
        if answer.status != 200 or answer.headers:
            return self._send(WSGIRequest(environ), answer.response(), start_response)
        start_response("200 OK", [*self._stored[secure], ("Content-Length", str(len(answer.body)))])
        return [answer.body]

    def _admitted(self, environ: dict[str, Any]) -> bool | None:
        """Whether the request came over HTTPS; None when Django is to answer it (a host it refuses, a
        redirect to HTTPS). Django's own verdict, kept per value of what it reads to reach it."""
        facts = tuple(environ.get(key) for key in self._admission_keys)
        if facts in self._admissions:
            return self._admissions[facts]
        request = WSGIRequest(environ)
        try:
            request.get_host()
            verdict = request.is_secure() if self.security.process_request(request) is None else None
        except DisallowedHost:
            verdict = None
        if len(self._admissions) >= _ADMISSIONS_KEPT:
            self._admissions.clear()
        self._admissions[facts] = verdict
        return verdict

    def _headers(self, answer: Answer, secure: bool) -> list[tuple[str, str]]:
        """An answer's headers but its length, security headers included, as Django sends them."""
        environ = {
            "REQUEST_METHOD": "POST",
            "wsgi.input": io.BytesIO(),
            "wsgi.url_scheme": "https" if secure else "http",
        }
        response = self.security.process_response(WSGIRequest(environ), answer.response())
        return [(name, value) for name, value in response.items() if name != "Content-Length"]

    def _send(
        self, request: WSGIRequest, response: HttpResponse, start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        """A response of Django's, finished and logged as its handler does (there are no cookies here)."""
        response = self.security.process_response(request, response)
        if response.status_code >= 400:
            log_response("%s: %s", response.reason_phrase, request.path, response=response, request=request)
        start_response(f"{response.status_code} {response.reason_phrase}", list(response.items()))
        return [response.content]
