"""The event loop's answers (`outbound.Answer`, no httpx model built for an uncompressed body) read as
the blocking client's `httpx.Response` reads for the same answer: status, headers by any case, text in
the charset the answer names (or UTF-8, bad bytes replaced), JSON, and httpx's own error from
`raise_for_status`; a compressed answer is httpx's model itself."""

from __future__ import annotations

import gzip
from typing import Any

import httpx
import pytest

from messaging import outbound
from tests.messaging.servers import answering
from tests.messaging.test_async_delivery import _run


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
    with answering(200, content_type, body) as url:
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
    with answering(status, "application/json", b'{"message": "no"}') as url:
        on_the_loop, blocking = _both(url)
    with pytest.raises(httpx.HTTPStatusError) as loop_error:
        on_the_loop.raise_for_status()
    with pytest.raises(httpx.HTTPStatusError) as blocking_error:
        blocking.raise_for_status()
    assert str(loop_error.value) == str(blocking_error.value)
    assert loop_error.value.response.status_code == status


def test_a_compressed_answer_is_httpxs_model_decoded():
    with answering(200, "application/json", gzip.compress(b'{"sid": "SMgz"}'), encoding="gzip") as url:
        on_the_loop, blocking = _both(url)
    assert isinstance(on_the_loop, httpx.Response)
    assert on_the_loop.json() == blocking.json() == {"sid": "SMgz"}
