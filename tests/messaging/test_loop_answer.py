"""The event loop's answers (`outbound.Answer`, no httpx model built for an uncompressed body) read as
the blocking client's `httpx.Response` reads for the same answer: status, headers by any case, text in
the charset the answer names (or UTF-8, bad bytes replaced), JSON, and httpx's own error from
`raise_for_status`; a compressed answer is httpx's model itself."""

from __future__ import annotations

import gzip
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from messaging import outbound
from tests.messaging.test_async_delivery import _run


@contextmanager
def _answering(status: int, content_type: str, body: bytes, encoding: str = "") -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("X-Request-Id", "r-1")
            if encoding:
                self.send_header("Content-Encoding", encoding)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/x"
    finally:
        server.shutdown()


def _both(url: str) -> tuple[Any, httpx.Response]:
    on_the_loop = _run(lambda: outbound.async_http_client().post(url, content=b"{}"))
    return on_the_loop, outbound.http_client().post(url, content=b"{}")


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/json", b'{"sid": "SM1", "name": "\xc3\xa9"}'),
        ("text/plain; charset=latin-1", "caf\xe9".encode("latin-1")),
        ('text/plain; charset="utf-8"', b"bad \xff byte"),
        ("text/plain; charset=no-such-charset", b"plain"),
    ],
)
def test_an_answer_reads_as_the_blocking_clients(content_type, body):
    with _answering(200, content_type, body) as url:
        on_the_loop, blocking = _both(url)
    assert isinstance(on_the_loop, outbound.Answer)
    assert on_the_loop.status_code == blocking.status_code == 200
    assert on_the_loop.content == blocking.content == body
    assert on_the_loop.text == blocking.text
    assert on_the_loop.headers.get("x-request-id") == blocking.headers.get("X-Request-Id") == "r-1"
    assert on_the_loop.raise_for_status() is on_the_loop
    if content_type == "application/json":
        assert on_the_loop.json() == blocking.json() == {"sid": "SM1", "name": "é"}


@pytest.mark.parametrize("status", [404, 503])
def test_raise_for_status_raises_httpxs_error(status):
    with _answering(status, "application/json", b'{"message": "no"}') as url:
        on_the_loop, blocking = _both(url)
    with pytest.raises(httpx.HTTPStatusError) as loop_error:
        on_the_loop.raise_for_status()
    with pytest.raises(httpx.HTTPStatusError) as blocking_error:
        blocking.raise_for_status()
    assert str(loop_error.value) == str(blocking_error.value)
    assert loop_error.value.response.status_code == status


def test_a_compressed_answer_is_httpxs_model_decoded():
    with _answering(200, "application/json", gzip.compress(b'{"sid": "SMgz"}'), encoding="gzip") as url:
        on_the_loop, blocking = _both(url)
    assert isinstance(on_the_loop, httpx.Response)
    assert on_the_loop.json() == blocking.json() == {"sid": "SMgz"}
