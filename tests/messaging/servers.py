"""Real local servers standing in for providers: an HTTP server (SMS API, webhooks) and an SMTP server
(aiosmtpd). Both record every call and dedupe deliveries on the idempotency key (the HTTP header, or the
email's Message-ID), as real providers do; an HTTP server can be scripted (503 then 200, 400) and can
hold a request open until the test lets it go, listen on any loopback address (127.0.0.2, ::1), and
answer a redirect. A third, `keepalive_server`, speaks HTTP/1.1 keep-alive and counts its connections."""

from __future__ import annotations

import asyncio
import email
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import Message as EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
from aiosmtpd.controller import Controller

from tests.conftest import free_port

IDEMPOTENCY_HEADERS = ("Idempotency-Key", "I-Twilio-Idempotency-Token")


@dataclass
class Call:
    method: str
    path: str
    headers: httpx.Headers  # case-insensitive, as HTTP headers are
    body: bytes

    @property
    def key(self) -> str:
        return next((self.headers[h] for h in IDEMPOTENCY_HEADERS if h in self.headers), "")


@dataclass
class ProviderServer:
    url: str = ""
    script: list[int] = field(default_factory=list)  # statuses to answer, in order; then 200
    calls: list[Call] = field(default_factory=list)
    delivered: dict[str, Call] = field(default_factory=dict)  # by idempotency key
    hold: threading.Event | None = None  # set: answer only once released
    received: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)


@contextmanager
def provider_server(
    *script: int,
    hold: bool = False,
    reply: Callable[[Call], bytes] | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
    location: str = "",
    failure: bytes = b'{"message": "scripted failure"}',
) -> Iterator[ProviderServer]:
    """`reply` chooses the body of a successful answer (default: a Twilio-like `{"sid": "SM123"}`),
    `failure` the body of a scripted failure; a scripted 3xx points at `location`."""
    state = ProviderServer(script=list(script))

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            call = Call(self.command, self.path, httpx.Headers(list(self.headers.items())), self.rfile.read(length))
            status = state.script.pop(0) if state.script else 200
            state.calls.append(call)
            if 200 <= status < 300:
                state.delivered.setdefault(call.key, call)
            state.received.set()
            if hold:
                state.release.wait(15)
            success = reply(call) if reply is not None else b'{"sid": "SM123"}'
            payload = failure if status >= 300 else success
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                if 300 <= status < 400 and location:
                    self.send_header("Location", location)
                self.end_headers()
                self.wfile.write(payload)
            except OSError:
                pass  # the client died while we held the answer

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _answer

        def log_message(self, *args: Any) -> None:
            pass

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # A backlog as deep as a real provider's: many connections opened at once are not dropped.
    server_class = type("Server", (ThreadingHTTPServer,), {"address_family": family, "request_queue_size": 128})
    server = server_class((host, port), Handler)
    state.url = f"http://{f'[{host}]' if ':' in host else host}:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        state.release.set()
        server.shutdown()
        server.server_close()


@dataclass
class Mailbox:
    port: int = 0
    received: list[EmailMessage] = field(default_factory=list)
    delivered: dict[str, EmailMessage] = field(default_factory=dict)  # by Message-ID


@contextmanager
def smtp_server(host: str = "127.0.0.1") -> Iterator[Mailbox]:
    box = Mailbox()

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            parsed = email.message_from_bytes(envelope.original_content or envelope.content)
            box.received.append(parsed)
            box.delivered.setdefault(str(parsed["Message-ID"]), parsed)
            return "250 OK"

    box.port = free_port()
    controller = Controller(Handler(), hostname=host, port=box.port)
    controller.start()
    try:
        yield box
    finally:
        controller.stop()


@contextmanager
def served_on_a_thread(loop: asyncio.AbstractEventLoop, start: Callable[[], Any]) -> Iterator[None]:
    """Run `start()` (a coroutine that starts an asyncio server) on `loop` in a thread of its own until the
    block ends; then the connections clients kept alive are ended with the server."""
    ready = threading.Event()

    def run() -> None:
        asyncio.set_event_loop(loop)
        server = loop.run_until_complete(start())
        ready.set()
        loop.run_forever()
        server.close()
        connections = asyncio.all_tasks(loop)
        for task in connections:
            task.cancel()
        loop.run_until_complete(asyncio.gather(*connections, return_exceptions=True))
        loop.run_until_complete(server.wait_closed())
        loop.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    ready.wait(10)
    try:
        yield
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)


@dataclass
class KeepAlive:
    url: str = ""
    requests: int = 0
    connections: int = 0  # opened by clients so far
    open: int = 0  # open now
    idle_close: float | None = None  # hang up on a connection idle this long (seconds)
    hung_up: threading.Event = field(default_factory=threading.Event)  # set at each such hang-up


@contextmanager
def keepalive_server(idle_close: float | None = None) -> Iterator[KeepAlive]:
    """An HTTP/1.1 server (asyncio, in a thread) that keeps connections open between requests, answers
    each `200 {"sid": "SM1"}`, and hangs up on a connection left idle for `idle_close` seconds."""
    state = KeepAlive(idle_close=idle_close)
    body = b'{"sid": "SM1"}'
    answer = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
    loop = asyncio.new_event_loop()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        state.connections += 1
        state.open += 1
        try:
            while True:
                try:
                    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), state.idle_close)
                except TimeoutError:
                    state.hung_up.set()
                    return
                length = next(
                    (int(line[15:]) for line in head.split(b"\r\n") if line[:15].lower() == b"content-length:"), 0
                )
                if length:
                    await reader.readexactly(length)
                state.requests += 1
                writer.write(answer)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            state.open -= 1
            writer.close()

    async def main() -> asyncio.Server:
        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        state.url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
        return server

    with served_on_a_thread(loop, main):
        yield state


@contextmanager
def answering(status: int, content_type: str, body: bytes, encoding: str = "") -> Iterator[str]:
    """A plain HTTP server (http.server, on a thread) answering every POST with `status`, `body` and its
    headers; yields its URL (path /x)."""

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
        server.server_close()
