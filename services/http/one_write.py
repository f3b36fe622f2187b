"""One write per response: uvicorn's HTTP protocol with its writes to a connection joined
within one turn of the event loop.

uvicorn writes a response's status line and headers as soon as the app sends
`http.response.start`, and the body when it sends `http.response.body`: two `send()`
calls, two TCP segments (the sockets have TCP_NODELAY, `services/processes.py`), and a
client that wakes up for the headers alone, reads, and sleeps again until the body
comes. Litestar sends both messages in one go, so the two writes happen in the same
turn of the loop: holding what is written until the end of that turn (`call_soon`)
sends the whole response in one segment, one system call and one wake-up of the
client. Nothing waits longer than the turn that wrote it, and the bytes go out in the
order written.
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class JoinedWrites:
    """A transport whose writes within one turn of the loop go out as one write. Every
    other call is the wrapped transport's, after what is held has gone out (so that a
    close, or a protocol switch, never overtakes bytes already written)."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._held: list[bytes] = []

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not data:
            return
        if not self._held:
            self._loop.call_soon(self.flush)
        self._held.append(bytes(data))

    def writelines(self, lines: Any) -> None:
        for data in lines:
            self.write(data)

    def flush(self) -> None:
        """Write what is held, as one write (at the end of the turn, or before any other
        call on the transport)."""
        if not self._held:
            return
        held, self._held = self._held, []
        if not self._transport.is_closing():
            self._transport.write(held[0] if len(held) == 1 else b"".join(held))

    def get_write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size() + sum(map(len, self._held))

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def write_eof(self) -> None:
        self.flush()
        self._transport.write_eof()

    def abort(self) -> None:
        self._held.clear()  # an abort drops what is buffered, as the transport's own does
        self._transport.abort()

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self.flush()
        self._transport.set_protocol(protocol)

    def __getattr__(self, name: str) -> Any:
        # is_closing, get_extra_info, pause_reading, resume_reading, ...: the transport's.
        return getattr(self._transport, name)


class OneWriteHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, writing through `JoinedWrites`
    (`uvicorn.Config(http=OneWriteHttpToolsProtocol)`)."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        joined = JoinedWrites(cast(asyncio.Transport, transport), self.loop)
        super().connection_made(cast(asyncio.Transport, joined))
