"""`ptsp audit verify | history | export`: the auditor's offline tools. They only read:
the running system keeps the chain; these reach the same database (`DATABASE_URL`, or
the `ptsp up` on `--data-dir`) and the same checkpoint file (`<data_dir>/audit`)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, TextIO
from uuid import UUID

import msgspec

from services.audit.service import AuditService
from services.domain.actors import Actor
from services.domain.errors import InvalidInput, NotFound
from services.settings import Settings

CLI_AUDITOR = Actor(id="ptsp-audit-cli", role="auditor")


@contextlib.asynccontextmanager
async def _audit(settings: Settings, db_url: str) -> AsyncIterator[AuditService]:
    import asyncpg

    from services.runtime import System

    system = System.build(settings, db_url)
    pool = await asyncpg.create_pool(db_url, min_size=1, max_size=4)
    try:
        vault = getattr(system, "vault", None)
        if vault is not None:
            await vault.attach(pool)  # sealed personal data opens for the auditor
        await system.calendar.refresh()  # the views' SLA figures need the office calendar
        yield system.audit_service(pool, keep=False)
    finally:
        await pool.close()
        for store in system.stores:
            store.close()


def _dump(data: Any) -> str:
    return msgspec.json.format(msgspec.json.encode(data), indent=2).decode()


def run(action: str, settings: Settings, db_url: str, args: argparse.Namespace) -> int:
    try:
        return asyncio.run(ACTIONS[action](settings, db_url, args))
    except NotFound as exc:
        print(f"ptsp audit {action}: {exc.detail}", file=sys.stderr)
        return 1
    except InvalidInput as exc:
        print(f"ptsp audit {action}: {exc.detail}", file=sys.stderr)
        return 2


async def verify(settings: Settings, db_url: str, args: argparse.Namespace) -> int:
    async with _audit(settings, db_url) as audit:
        report = await audit.verify(
            allow_missing_checkpoints=getattr(args, "allow_missing_checkpoints", False))
    print(_dump(report))
    cps = report["checkpoints"]
    print(f"office public key (Ed25519, the 32 raw bytes as unpadded base64url; also at "
          f"GET /certificates/public-key): {cps['public_key']} (key id {cps['key_id']})",
          file=sys.stderr)
    for warning in report["warnings"]:
        print(f"warning: {warning}", file=sys.stderr)
    if report["ok"]:
        print(f"audit chain OK: {report['checked']} events verified, head seq "
              f"{report['head']['seq']}, {report['checkpoints']['matched']} signed "
              f"checkpoints matched", file=sys.stderr)
        return 0
    broken = report["first_broken"]
    print(f"audit chain BROKEN ({report['problem_count']} problems); first: "
          f"[{broken['kind']}] {broken['detail']}", file=sys.stderr)
    return 1


async def history(settings: Settings, db_url: str, args: argparse.Namespace) -> int:
    case_id = _uuid(args.case_id)
    async with _audit(settings, db_url) as audit:
        if args.as_of is None:
            result: Any = await audit.history(case_id)
        else:
            result = await audit.state(case_id, args.as_of, CLI_AUDITOR)
    print(_dump(result))
    return 0


async def export(settings: Settings, db_url: str, args: argparse.Namespace) -> int:
    case_id = _uuid(args.case) if args.case else None
    to_stdout = args.out in (None, "-")
    counts: dict[str, int] = {}
    last: dict[str, Any] | None = None
    with contextlib.ExitStack() as stack:
        out: TextIO = sys.stdout if to_stdout else stack.enter_context(
            Path(args.out).open("w"))  # noqa: ASYNC230 - a local file, written as lines come
        async with _audit(settings, db_url) as audit:
            async for line in audit.export(case_id):
                out.write(json.dumps(line, ensure_ascii=False, separators=(",", ":")) + "\n")
                counts[line["kind"]] = counts.get(line["kind"], 0) + 1
                if line["kind"] == "event":
                    last = line
    where = "stdout" if to_stdout else args.out
    head = f"; last seq {last['seq']}, hash {last['hash']}" if last else ""
    ties = (f", with {counts.get('link', 0)} links of other cases and "
            f"{counts.get('checkpoint', 0)} signed checkpoints tying them to the office's "
            "signatures" if case_id is not None else "")
    print(f"exported {counts.get('event', 0)} events to {where}{head}{ties}", file=sys.stderr)
    return 0


def _uuid(text: str) -> UUID:
    try:
        return UUID(text)
    except ValueError:
        raise InvalidInput("case_id", f"{text!r} is not a case id (a UUID)") from None


ACTIONS = {"verify": verify, "history": history, "export": export}
