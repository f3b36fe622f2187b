"""services/http/one_write.py: what uvicorn writes to a connection within one turn of
the event loop goes out as one write, in order; nothing written waits past that turn, and
nothing is written after a close or an abort that it did not precede."""

from __future__ import annotations

import asyncio
from typing import Any

from services.http.one_write import JoinedWrites


class Wire:
    """A transport's writing side, as the event loop's TCP transport offers it: each
    `write` is one send."""

    def __init__(self) -> None:
        self.sends: list[bytes] = []
        self.closed = False
        self.aborted = False

    def write(self, data: bytes) -> None:
        assert not self.closed, "written after close"
        self.sends.append(bytes(data))

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.aborted = self.closed = True

    def get_write_buffer_size(self) -> int:
        return 0

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 8000) if name == "sockname" else default


def joined(wire: Wire) -> JoinedWrites:
    return JoinedWrites(wire, asyncio.get_running_loop())  # type: ignore[arg-type]


async def test_headers_and_body_written_in_one_turn_go_out_as_one_send() -> None:
    wire = Wire()
    transport = joined(wire)
    transport.write(b"HTTP/1.1 201 Created\r\ncontent-length: 2\r\n\r\n")
    transport.write(b"{}")
    assert wire.sends == []  # held until the turn ends
    await asyncio.sleep(0)
    assert wire.sends == [b"HTTP/1.1 201 Created\r\ncontent-length: 2\r\n\r\n{}"]


async def test_writes_of_later_turns_are_later_sends_in_order() -> None:
    wire = Wire()
    transport = joined(wire)
    transport.write(b"a")
    await asyncio.sleep(0)
    transport.writelines([b"b", b"c"])
    transport.write(b"")  # nothing to send: no send of its own
    await asyncio.sleep(0)
    assert wire.sends == [b"a", b"bc"]


async def test_close_sends_what_is_held_first() -> None:
    wire = Wire()
    transport = joined(wire)
    transport.write(b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\n")
    transport.write(b"bye")
    transport.close()
    assert wire.sends == [b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\nbye"]
    assert wire.closed
    await asyncio.sleep(0)  # the turn's flush finds nothing more to send
    assert len(wire.sends) == 1


async def test_abort_drops_what_is_held_and_nothing_is_sent_after() -> None:
    wire = Wire()
    transport = joined(wire)
    transport.write(b"partial")
    transport.abort()
    await asyncio.sleep(0)
    assert wire.sends == [] and wire.aborted


async def test_what_is_held_counts_in_the_write_buffer_and_the_rest_is_the_transports() -> None:
    wire = Wire()
    transport = joined(wire)
    transport.write(b"12345")
    assert transport.get_write_buffer_size() == 5
    assert transport.get_extra_info("sockname") == ("127.0.0.1", 8000)
    await asyncio.sleep(0)
    assert transport.get_write_buffer_size() == 0
