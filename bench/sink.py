"""A provider sink for the `send` benchmark: an asyncio HTTP/1.1 server (keep-alive) that answers every
request `200 {"sid": "SM1"}` and counts them, run as its own process; with a delay, each answer comes
that many milliseconds after its request, as a real provider's would. `python -m bench.sink PORT [MS]`."""

from __future__ import annotations

import asyncio
import sys

BODY = b'{"sid": "SM1"}'
ANSWER = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(BODY), BODY)
_served = 0
_delay = 0.0


async def _serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    global _served
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            if length:
                await reader.readexactly(length)
            if head.startswith(b"GET /count"):
                body = str(_served).encode()
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
            else:
                _served += 1
                if _delay:
                    await asyncio.sleep(_delay)
                writer.write(ANSWER)
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def main(port: int) -> None:
    server = await asyncio.start_server(_serve, "127.0.0.1", port, backlog=1024)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    _delay = float(sys.argv[2]) / 1000 if len(sys.argv) > 2 else 0.0
    asyncio.run(main(int(sys.argv[1])))
