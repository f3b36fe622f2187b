"""`PTSP_METRICS_PORT`: `GET /metrics` without a token, on a port of its own, for a
Prometheus on a private network (the API port asks for a head's or auditor's token).

A few lines of HTTP/1.1 on asyncio rather than a second web framework: one route, one
request per connection. Run by the pipeline process (one per `ptsp up`), which reads
every process's counts from the multiprocess directory."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from services.ops.scrape import CONTENT_TYPE

log = logging.getLogger("ptsp.ops")

READ_SECONDS = 5.0
MAX_HEAD = 16 * 1024


class MetricsPort:
    def __init__(self, host: str, port: int, exposition: Callable[[], Awaitable[bytes]]) -> None:
        self.host = host
        self.port = port
        self.exposition = exposition
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, self.host, self.port)
        log.info("metrics on http://%s:%d/metrics", self.host, self.port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), READ_SECONDS)
            method, _, rest = head.partition(b" ")
            path = rest.partition(b" ")[0].partition(b"?")[0]
            if method in (b"GET", b"HEAD") and path == b"/metrics":
                body = await self.exposition()
                status, kind = "200 OK", CONTENT_TYPE
            else:
                body, status, kind = b"only GET /metrics here\n", "404 Not Found", "text/plain"
            writer.write(f"HTTP/1.1 {status}\r\nContent-Type: {kind}\r\n"
                         f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode())
            if method != b"HEAD":
                writer.write(body)
            await writer.drain()
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError,
                ConnectionError):
            pass  # a client that went away or sent no request: nothing to answer
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
