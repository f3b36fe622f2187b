"""The relay on a real Postgres and a real nats-server: every stored event on its
stream once, in store order, signed, each naming the one before; a message JetStream
refuses stops its batch, which goes again from its start once JetStream takes it, the
order on the stream still the store order; a stream deleted under it is made again."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

import nats
import pytest
import pytest_asyncio
from nats.aio.client import Client
from nats.js.api import DiscardPolicy

from services.infra.embedded import EmbeddedNats
from services.infra.event_signing import (
    MSG_ID_HEADER,
    POSITION_HEADER,
    PREV_POSITION_HEADER,
    EventSigner,
)
from services.infra.eventlog import EventLog
from services.infra.relay import Relay
from services.runtime import System, event_signer
from tests.history import OSS, application_intake

pytestmark = pytest.mark.integration

STREAM = "PTSP_APPLICATIONS"


@pytest_asyncio.fixture
async def nc(nats_server: EmbeddedNats) -> AsyncIterator[Client]:
    client = await nats.connect(nats_server.url)
    js = client.jetstream()
    for info in await js.streams_info():  # a clean JetStream for this test
        assert info.config.name is not None
        await js.delete_stream(info.config.name)
    yield client
    await client.close()


@pytest_asyncio.fixture
async def relay(system: System, nc: Client) -> AsyncIterator[Relay]:
    assert system.pool is not None
    running = Relay(system.pool, EventLog(system.pool, system.streams()), nc,
                    signer=event_signer(system.settings), batch=7, ack_timeout=5)
    await running.start()
    yield running
    await running.stop()


async def submit(system: System, first: int, n: int) -> None:
    for i in range(first, first + n):
        await system.applications.submit(application_intake(i), OSS)


async def relayed(system: System, upto: int, seconds: float = 20) -> None:
    assert system.pool is not None
    deadline = time.monotonic() + seconds
    while (await system.pool.fetchval(
            "SELECT position FROM relay_positions WHERE stream = 'applications'") or 0) < upto:
        assert time.monotonic() < deadline, "the relay did not catch up"
        await asyncio.sleep(0.05)


async def on_stream(nc: Client) -> list[Any]:
    js = nc.jetstream()
    info = await js.stream_info(STREAM)
    return [await js.get_msg(STREAM, seq)
            for seq in range(info.state.first_seq, info.state.last_seq + 1)]


def check_chain(messages: list[Any], signer: EventSigner, head: int) -> None:
    """Every position 1..head once, in order, each naming the one before, signed."""
    positions = [int(m.headers[POSITION_HEADER]) for m in messages]
    assert positions == list(range(1, head + 1))
    assert [int(m.headers[PREV_POSITION_HEADER]) for m in messages] == [0, *positions[:-1]]
    assert [m.headers[MSG_ID_HEADER] for m in messages] == [
        f"applications:{p}" for p in positions]
    for m in messages:
        assert signer.verify(m.subject, m.headers, m.data).position == int(
            m.headers[POSITION_HEADER])


async def test_every_event_once_in_store_order_signed_and_chained(
        system: System, relay: Relay, nc: Client) -> None:
    await submit(system, 0, 30)  # several batches of 7
    await relayed(system, 30)
    check_chain(await on_stream(nc), relay.signer, 30)
    assert relay.published == 30


async def test_a_refused_message_stops_its_batch_which_goes_again_in_order(
        system: System, relay: Relay, nc: Client) -> None:
    js = nc.jetstream()
    await submit(system, 0, 3)
    await relayed(system, 3)
    # JetStream now refuses a sixth message (at most 5, new ones refused), ...
    config = (await js.stream_info(STREAM)).config
    config.max_msgs, config.discard = 5, DiscardPolicy.NEW
    await js.update_stream(config)
    await submit(system, 3, 8)
    await asyncio.sleep(2.5)  # the batch with 6 in it was refused, sent again, refused
    assert system.pool is not None
    assert await system.pool.fetchval(
        "SELECT position FROM relay_positions WHERE stream = 'applications'") < 6
    # Nothing stored past the refused message.
    assert [int(m.headers[POSITION_HEADER]) for m in await on_stream(nc)] == [1, 2, 3, 4, 5]
    # ... until it takes them again: the batch goes from its start, the stored part of it
    # dropped as duplicates; the stream holds every event once, in store order.
    config.max_msgs, config.discard = -1, DiscardPolicy.OLD
    await js.update_stream(config)
    await relayed(system, 11)
    check_chain(await on_stream(nc), relay.signer, 11)


async def test_a_stream_deleted_under_the_relay_is_made_again(
        system: System, relay: Relay, nc: Client) -> None:
    js = nc.jetstream()
    await submit(system, 0, 2)
    await relayed(system, 2)
    await js.delete_stream(STREAM)
    await submit(system, 2, 3)
    await relayed(system, 5)
    messages = await on_stream(nc)
    # The events before the deletion are gone with it (the record is Postgres: resetting
    # relay_positions refills a stream); the relay went on from where it was.
    assert [int(m.headers[POSITION_HEADER]) for m in messages] == [3, 4, 5]
    assert int(messages[0].headers[PREV_POSITION_HEADER]) == 2


async def test_a_standby_relay_takes_over_where_the_leader_stopped(
        system: System, relay: Relay, nc: Client) -> None:
    assert system.pool is not None
    standby = Relay(system.pool, EventLog(system.pool, system.streams()), nc,
                    signer=event_signer(system.settings), batch=7, poll_seconds=0.1)
    await standby.start()
    try:
        await submit(system, 0, 10)
        await relayed(system, 10)
        assert relay.is_leader and not standby.is_leader
        await relay.stop()
        await submit(system, 10, 10)
        await relayed(system, 20)
        assert standby.is_leader
        check_chain(await on_stream(nc), relay.signer, 20)
    finally:
        with contextlib.suppress(Exception):
            await standby.stop()
