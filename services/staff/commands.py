"""`ptsp staff add | disable | list`: the head's register on the command line, the same
register as `POST /staff` (the events go through the same service and store, so the
running system's relay, audit chain and console see them like any other).

The command acts as the head of office (whoever holds the data dir's keys and database
runs the office), recorded as `cli:<os user>` with role `head`."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import sys
from collections.abc import AsyncIterator
from typing import Any, TextIO

import asyncpg
import msgspec

from contracts.staff import StaffEntry, StaffMember
from services.domain.actors import Actor
from services.domain.clock import Clock, SimulatedClock
from services.domain.errors import DomainError
from services.infra import shared_clock
from services.infra.groupcommit import GroupCommitter
from services.infra.store import eventsourcing_env
from services.staff import passwords
from services.staff.register import StaffService, StaffStore


def cli_actor() -> Actor:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no user name for this uid (a container)
        user = "operator"
    return Actor(id=f"cli:{user}", role="head")


async def _clock(pool: asyncpg.Pool) -> Clock:
    """The record's clock: a system on a simulated clock stamps events on it, so do we."""
    async with pool.acquire() as conn:
        stored = await shared_clock.stored(conn)
    if stored is None:
        return Clock()
    clock = SimulatedClock(stored.now())
    clock.adopt(stored.anchor, stored.anchor_wall)
    return clock


@contextlib.asynccontextmanager
async def staff_service(database_url: str) -> AsyncIterator[StaffService]:
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=2)
    store = StaffStore(env=eventsourcing_env(database_url))
    committer = GroupCommitter(store)
    try:
        await committer.start(pool)
        service = StaffService(store, committer, await _clock(pool))
        service.attach(pool)
        async with pool.acquire() as conn:
            await passwords.install(conn)
        yield service
    finally:
        await committer.stop()
        store.close()
        await pool.close()


def read_password(actor: str, stdin: TextIO) -> str:
    """One line from standard input (a prompt without echo on a terminal)."""
    if stdin.isatty():
        return getpass.getpass(f"new password for {actor}: ")
    return stdin.readline().rstrip("\r\n")


def _line(member: StaffMember) -> str:
    where = ", ".join(v for v in (member.role, member.unit, member.tier) if v)
    return f"{member.actor} ({member.name}; {where}){'' if member.active else ' DISABLED'}"


async def add(database_url: str, args: argparse.Namespace, stdin: TextIO = sys.stdin) -> int:
    try:
        entry = msgspec.convert({"actor": args.actor, "name": args.name, "role": args.role,
                                 "unit": args.unit, "tier": args.tier}, StaffEntry)
    except msgspec.ValidationError as exc:
        print(f"ptsp staff add: {exc}", file=sys.stderr)
        return 2
    password = read_password(entry.actor, stdin)
    try:
        passwords.check_strength(password)
    except ValueError as exc:
        print(f"ptsp staff add: {exc} (read one line from standard input)", file=sys.stderr)
        return 2
    async with staff_service(database_url) as service:
        try:
            member, changed = await service.register(entry, cli_actor())
        except DomainError as exc:
            print(f"ptsp staff add: {exc.detail}", file=sys.stderr)
            return 2
        assert service.pool is not None
        async with service.pool.acquire() as conn:
            await passwords.set_password(conn, entry.actor, password)
    print(f"{'registered' if changed else 'unchanged'}: {_line(member)}; password set")
    return 0


async def disable(database_url: str, args: argparse.Namespace) -> int:
    async with staff_service(database_url) as service:
        try:
            member = await service.disable(args.actor, args.reason, cli_actor())
        except DomainError as exc:
            print(f"ptsp staff disable: {exc.detail}", file=sys.stderr)
            return 1
    print(f"disabled: {_line(member)}; console sessions end at their next request, new "
          "sign-ins are refused, and the tokens issued to them until now are revoked")
    return 0


async def listing(database_url: str) -> list[dict[str, Any]]:
    async with staff_service(database_url) as service:
        members = await service.members()
        assert service.pool is not None
        async with service.pool.acquire() as conn:
            with_password = {m.actor: await passwords.has_password(conn, m.actor)
                             for m in members}
    return [{**msgspec.to_builtins(m), "password": with_password[m.actor]} for m in members]


def run(action: str, database_url: str, args: argparse.Namespace) -> int:
    if action == "add":
        return asyncio.run(add(database_url, args))
    return asyncio.run(disable(database_url, args))
