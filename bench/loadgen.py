"""A lean asyncio HTTP/1.1 client for pre-built request bodies: one connection per request (gunicorn's
sync workers close after each answer), N in flight, latency and status per request."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit


@dataclass
class LoadResult:
    seconds: float
    statuses: dict[int, int] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)
    client_cpu_seconds: float = 0.0

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(len(ordered) * p / 100))] if ordered else 0.0


async def _one(host: str, port: int, head: bytes, body: bytes) -> int:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(head + str(len(body)).encode() + b"\r\n\r\n" + body)
        await writer.drain()
        status_line = await reader.readline()
        length = 0
        while (line := await reader.readline()) not in (b"\r\n", b""):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        await reader.readexactly(length)
        return int(status_line.split()[1])
    finally:
        writer.close()


def _target(url: str, headers: dict[str, str]) -> tuple[str, int, bytes]:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    head = (
        f"POST {parts.path} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n"
        + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        + "Content-Length: "
    ).encode()
    return host, port, head


async def _run(url: str, bodies: list[bytes], headers: dict[str, str], concurrency: int) -> LoadResult:
    host, port, head = _target(url, headers)
    result = LoadResult(seconds=0.0)
    pending = iter(bodies)

    async def worker() -> None:
        for body in pending:
            started = time.perf_counter()
            status = await _one(host, port, head, body)
            result.latencies.append(time.perf_counter() - started)
            result.statuses[status] = result.statuses.get(status, 0) + 1

    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    result.seconds = time.perf_counter() - wall
    result.client_cpu_seconds = time.process_time() - cpu
    return result


async def _paced(
    url: str, bodies: list[bytes], headers: dict[str, str], interval: float, prepare: Callable[[bytes], bytes]
) -> LoadResult:
    """Open loop: body i is sent at start + i × interval whether or not earlier ones were answered,
    passed through `prepare` as it leaves."""
    host, port, head = _target(url, headers)
    result = LoadResult(seconds=0.0)

    async def send(body: bytes) -> None:
        started = time.perf_counter()
        status = await _one(host, port, head, body)
        result.latencies.append(time.perf_counter() - started)
        result.statuses[status] = result.statuses.get(status, 0) + 1

    cpu, wall = time.process_time(), time.perf_counter()
    tasks = []
    for i, body in enumerate(bodies):
        delay = wall + i * interval - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(send(prepare(body))))
    await asyncio.gather(*tasks)
    result.seconds = time.perf_counter() - wall
    result.client_cpu_seconds = time.process_time() - cpu
    return result


def post_paced(
    url: str,
    bodies: list[bytes],
    headers: dict[str, str],
    interval: float,
    prepare: Callable[[bytes], bytes] = lambda body: body,
) -> LoadResult:
    return asyncio.run(_paced(url, bodies, headers, interval, prepare))


def post_all(url: str, bodies: list[bytes], headers: dict[str, str], concurrency: int = 8) -> LoadResult:
    return asyncio.run(_run(url, bodies, headers, concurrency))
