"""The `ptsp` operator command (API.md, "Operator interface")."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from services.infra.pg import Conn
from services.settings import Settings

log = logging.getLogger("ptsp")


def _settings(args: argparse.Namespace) -> Settings:
    settings = Settings.from_env()
    changes: dict[str, object] = {}
    if getattr(args, "data_dir", None):
        changes["data_dir"] = Path(args.data_dir)
    if getattr(args, "port", None):
        changes["port"] = args.port
    if getattr(args, "host", None):
        changes["host"] = args.host
    if getattr(args, "simulated_clock", None):
        changes["simulated_clock"] = datetime.fromisoformat(args.simulated_clock)
    return settings.with_(**changes)


def runtime_file(settings: Settings) -> Path:
    """Where `ptsp up` tells other `ptsp` commands which servers it started."""
    return settings.data_dir / "runtime.json"


def database_url(settings: Settings) -> str:
    if settings.database_url:
        return settings.database_url
    path = runtime_file(settings)
    if not path.exists():
        raise SystemExit(f"no DATABASE_URL and no running `ptsp up` on {settings.data_dir}")
    return str(json.loads(path.read_text())["database_url"])


# -- ptsp up --------------------------------------------------------------------------
def cmd_up(args: argparse.Namespace) -> int:
    """Start everything; first stop what a killed `ptsp up` left on the data dir or port."""
    from services import leftovers

    settings = _settings(args)
    try:
        with leftovers.holding_data_dir(settings.data_dir, runtime_file(settings)):
            leftovers.stop_leftovers(settings.data_dir, settings.host, settings.port,
                                     runtime_file(settings))
            return _up(args, settings)
    except leftovers.AlreadyRunning as exc:
        print(f"ptsp up: {exc}", file=sys.stderr)
        return 1


def _up(args: argparse.Namespace, settings: Settings) -> int:
    from services.infra.embedded import EmbeddedNats, EmbeddedPostgres

    started: list[EmbeddedPostgres | EmbeddedNats] = []
    try:
        db_url, nats_url = settings.database_url, settings.nats_url
        if not db_url:
            pg = EmbeddedPostgres(settings.data_dir / "postgres", keys_dir=settings.keys_dir)
            pg.start()
            started.append(pg)
            db_url = pg.url
        if not nats_url:
            nats = EmbeddedNats(settings.data_dir / "nats", keys_dir=settings.keys_dir)
            nats.start()
            started.append(nats)
            # Without credentials: each process connects as its own user (nats_auth).
            nats_url = nats.address
        from services import processes

        processes.record_parent(runtime_file(settings), {
            "database_url": db_url, "nats_url": nats_url, "url": settings.base_url})
        return processes.run(settings, db_url, nats_url,
                             args.workers or processes.default_workers(),
                             runtime=runtime_file(settings))
    finally:
        runtime_file(settings).unlink(missing_ok=True)
        for server in reversed(started):
            server.stop()


def cmd_worker(args: argparse.Namespace) -> int:
    """A child process of `ptsp up` (not for operators)."""
    from services import processes

    return processes.worker(args.role, _settings(args), args.fd, args.parent)


# -- ptsp token -------------------------------------------------------------------------
def cmd_token(args: argparse.Namespace) -> int:
    """Issue a token: printed alone on stdout; recorded (its hash, never the token) in the
    credentials table when a database is reachable, so it can be listed and revoked."""
    from services.infra.tokens import TokenIssuer  # not services.runtime: a quick command

    if not args.role or not args.actor:
        print("ptsp token: --role and --actor are required (or: ptsp token list | revoke)",
              file=sys.stderr)
        return 2
    settings = _settings(args)
    try:
        token, claims = TokenIssuer.of_keys_dir(settings.keys_dir).mint(
            role=args.role, actor=args.actor, ttl_seconds=settings.token_ttl_hours * 3600,
            channel=args.channel, tier=args.tier, unit=args.unit)
    except ValueError as exc:
        print(f"ptsp token: {exc}", file=sys.stderr)
        return 2
    print(f"ptsp token: {_record_token(settings, token, claims)}", file=sys.stderr)
    print(token)
    return 0


def _record_token(settings: Settings, token: str, claims: Any) -> str:
    import asyncpg

    from services.infra import credentials

    try:
        url = database_url(settings)
    except SystemExit:
        return (f"id {claims.jti}; NOT recorded: no DATABASE_URL and no running `ptsp up` on "
                f"{settings.data_dir}, so it cannot be listed or revoked by id "
                "(`ptsp token revoke --actor` still reaches it)")

    async def record() -> None:
        async with _connection(url) as conn:
            await credentials.install(conn)
            await credentials.record(conn, token, claims)
    try:
        asyncio.run(record())
    except (TimeoutError, OSError, asyncpg.PostgresError) as exc:
        return f"id {claims.jti}; NOT recorded: the database is unreachable ({exc})"
    return f"id {claims.jti}; recorded in the credentials table"


def cmd_token_list(args: argparse.Namespace) -> int:
    from services.infra import credentials

    async def fetch(conn: Conn) -> list[dict[str, Any]]:
        await credentials.install(conn)
        return await credentials.listing(conn, args.actor)
    rows = _query(args, fetch)
    if args.active:
        rows = [r for r in rows if r["state"] == "active"]
    return print_rows(args, rows, ("jti", "actor", "role", "channel", "tier", "unit",
                                   "issued_at", "expires_at", "state"))


def cmd_token_revoke(args: argparse.Namespace) -> int:
    from services.infra import credentials

    settings = _settings(args)
    url = database_url(settings)

    async def revoke() -> int | bool:
        async with _connection(url) as conn:
            await credentials.install(conn)
            if args.jti:
                return await credentials.revoke_jti(conn, args.jti, args.reason)
            return await credentials.revoke_actor(conn, args.actor, args.reason)
    result = asyncio.run(revoke())
    within = f"the services refuse it within {settings.revocation_refresh_seconds:g} s"
    if not args.jti:
        print(f"revoked every token of {args.actor} issued until now ({result} recorded); "
              f"{within}")
        return 0
    if not result:
        print(f"ptsp token revoke: no recorded token with id {args.jti} "
              "(see `ptsp token list`; `--actor ID` reaches unrecorded ones)", file=sys.stderr)
        return 1
    print(f"revoked {args.jti}; {within}")
    return 0


@contextlib.asynccontextmanager
async def _connection(url: str) -> AsyncIterator[Any]:
    import asyncpg

    conn = await asyncpg.connect(url, timeout=5)
    try:
        yield conn
    finally:
        await conn.close()


# -- ptsp projections rebuild --------------------------------------------------------------
def cmd_projections_rebuild(args: argparse.Namespace) -> int:
    settings = _settings(args)
    counts = asyncio.run(_rebuild(settings, database_url(settings), args.name))
    for name, count in counts.items():
        print(f"{name}: rebuilt from {count} events")
    return 0


async def _rebuild(settings: Settings, db_url: str, name: str | None) -> dict[str, int]:
    import asyncpg

    from projections.runner import rebuild
    from services.infra.eventlog import EventLog
    from services.runtime import System

    system = System.build(settings, db_url)
    projections = system.projections()
    if name is not None:
        projections = [p for p in projections if p.name == name]
        if not projections:
            known = ", ".join(p.name for p in system.projections())
            raise SystemExit(f"no read model {name!r}; known: {known}")
    # The rebuild reads the stores over asyncpg and decodes with their mappers: their
    # eventsourcing connection pools (and the pools' threads) are closed before it forks
    # its workers, so that no child starts with a lock another thread held.
    streams = system.streams()
    for store in system.stores:
        store.close()
    pool = await asyncpg.create_pool(db_url, min_size=1, max_size=4)
    try:
        return await rebuild(pool, EventLog(pool, streams), projections)
    finally:
        await pool.close()


# -- ptsp audit ------------------------------------------------------------------------------
def cmd_audit(args: argparse.Namespace) -> int:
    """verify (exit status 1 on a broken chain), history, export: see services.audit."""
    from services.audit import commands

    settings = _settings(args)
    return commands.run(args.audit_action, settings, database_url(settings), args)


# -- ptsp nats-credentials, ptsp dead-letters ------------------------------------------------
def cmd_nats_credentials(args: argparse.Namespace) -> int:
    """A channel service's NATS URL with its user and password (stdout, one line); or,
    with --env, the password variables the deploy reads, for compose's .env."""
    from services.infra import nats_auth

    settings = _settings(args)
    secret = nats_auth.NatsSecret.load_or_create(settings.keys_dir)
    if args.env:
        for user in nats_auth.deploy_users():
            print(f"{nats_auth.env_name(user)}={secret.password(user)}")
        return 0
    user = nats_auth.channel_user(args.channel)
    password = secret.password(user)
    address = settings.nats_url
    if not address and runtime_file(settings).exists():
        address = str(json.loads(runtime_file(settings).read_text())["nats_url"])
    prefix = nats_auth.inbox_prefix(args.channel)
    print(f"ptsp nats-credentials: may publish only on ptsp.intake.*.{args.channel}; "
          f"replies arrive on the inbox prefix {prefix} (nats-py `inbox_prefix`, the nats "
          "tool's `--inbox-prefix`); the office's messages to its people come as requests on "
          f"ptsp.outbound.{args.channel}, each to be answered {{\"ok\": true}} once "
          "delivered (README, \"Notifications\")", file=sys.stderr)
    if not address:
        print("ptsp nats-credentials: no NATS_URL and no running `ptsp up`: user:password only",
              file=sys.stderr)
        print(f"{user}:{password}")
        return 0
    print(nats_auth.with_credentials(address.split(",")[0].strip(), user, password))
    return 0


def cmd_dead_letters_list(args: argparse.Namespace) -> int:
    from projections import dead_letters

    async def fetch(conn: Conn) -> list[dict[str, Any]]:
        await dead_letters.install(conn)
        return await dead_letters.listing(conn, args.limit)
    return print_rows(args, _query(args, fetch), ("id", "received_at", "consumer", "stream",
                                                  "subject", "body_size", "reason"))


# -- ptsp notifications (services/notifications) ---------------------------------------------
def cmd_notifications_list(args: argparse.Namespace) -> int:
    from services.notifications import outbox

    chosen = args.status or outbox.OPEN
    statuses = outbox.STATUSES if "all" in chosen else tuple(chosen)

    async def fetch(conn: Conn) -> list[dict[str, Any]]:
        await outbox.install(conn)
        return await outbox.listing(conn, statuses, args.limit)
    return print_rows(args, _query(args, fetch), outbox.LISTED)


def cmd_notifications_resend(args: argparse.Namespace) -> int:
    from services.notifications import outbox

    async def resend(conn: Conn) -> list[dict[str, Any]]:
        await outbox.install(conn)
        await outbox.resend(conn, args.id)
        return []
    try:
        _query(args, resend)
    except outbox.CannotResend as exc:
        print(f"ptsp notifications resend: {exc}", file=sys.stderr)
        return 1
    print(f"notification {args.id} goes out again at the sender's next round")
    return 0


def _query(args: argparse.Namespace,
           query: Callable[[Conn], Awaitable[list[dict[str, Any]]]]) -> list[dict[str, Any]]:
    """Run one read against the system's database and give back its rows."""
    url = database_url(_settings(args))

    async def run() -> list[dict[str, Any]]:
        async with _connection(url) as conn:
            return await query(conn)
    return asyncio.run(run())


def print_rows(args: argparse.Namespace, rows: list[dict[str, Any]],
               columns: tuple[str, ...]) -> int:
    """A listing as JSON lines (`--json`) or as a table; an empty cell shows "-"."""
    if args.json:
        for row in rows:
            print(json.dumps(row, default=str))
        return 0
    print_table(columns, [[str(r[c]) if r[c] is not None else "-" for c in columns]
                          for r in rows])
    return 0


def print_table(columns: tuple[str, ...], table: list[list[str]]) -> None:
    """Columns padded to their widest cell, under upper-case headings."""
    widths = [max([len(c)] + [len(row[i]) for row in table]) for i, c in enumerate(columns)]
    for line in [[c.upper() for c in columns], *table]:
        print("  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip())


# -- ptsp staff ---------------------------------------------------------------------------
def cmd_staff(args: argparse.Namespace) -> int:
    """add (reads the password from standard input), disable: see services/staff/commands."""
    from services.staff import commands

    return commands.run(args.staff_action, database_url(_settings(args)), args)


def cmd_staff_list(args: argparse.Namespace) -> int:
    from services.staff import commands

    rows = asyncio.run(commands.listing(database_url(_settings(args))))
    return print_rows(args, rows, ("actor", "name", "role", "unit", "tier", "active",
                                   "password"))


# -- ptsp backup, ptsp restore (services/ops) ------------------------------------------------
def cmd_backup(args: argparse.Namespace) -> int:
    """The database, the keys (encrypted with the passphrase on stdin) and the checkpoints."""
    from services.ops.commands import run_backup

    settings = _settings(args)
    running = None
    if not settings.database_url and runtime_file(settings).exists():
        running = database_url(settings)
    return run_backup(settings, Path(args.out), running)


def cmd_restore(args: argparse.Namespace) -> int:
    """Into a fresh data dir; then the audit verification and a rebuild of the read models."""
    from services.ops.commands import run_restore

    return run_restore(_settings(args), Path(args.source))


# -- ptsp certificate verify ---------------------------------------------------------------
def cmd_certificate_verify(args: argparse.Namespace) -> int:
    """A certificate's PDF checked offline with the office's public key: exit status 1 when
    it is not genuine and unaltered (services/applications/certificate_offline.py)."""
    from services.applications import certificate_offline

    key = Path(args.public_key) if args.public_key else None
    return certificate_offline.run(Path(args.file), key, _settings(args).keys_dir)


# -- ptsp contracts -----------------------------------------------------------------------
def cmd_contracts(args: argparse.Namespace) -> int:
    from contracts.schema import contract_schemas

    print(json.dumps(contract_schemas(), indent=2))
    return 0


def parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--data-dir", help="data directory (default ~/.local/share/ptsp)")
    p = argparse.ArgumentParser(prog="ptsp", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    up = sub.add_parser("up", parents=[common], help="start the whole system")
    up.add_argument("--port", type=int, help="HTTP port (default 8000)")
    up.add_argument("--host", help="HTTP interface (default 127.0.0.1)")
    up.add_argument("--simulated-clock", metavar="TIME",
                    help="run every part on a simulated clock starting at TIME (ISO 8601)")
    up.add_argument("--workers", type=int,
                    help="HTTP worker processes sharing the port (default 2-4 by cores)")
    up.set_defaults(func=cmd_up)

    worker = sub.add_parser("_worker", parents=[common])  # a child of `ptsp up`
    worker.add_argument("--role", choices=("http", "pipeline"), required=True)
    worker.add_argument("--fd", type=int)
    worker.add_argument("--port", type=int)
    worker.add_argument("--host")
    worker.add_argument("--simulated-clock")
    worker.add_argument("--parent", type=int, help="the `ptsp up` it dies with")
    worker.set_defaults(func=cmd_worker)

    token = sub.add_parser(
        "token", parents=[common], help="print a bearer token; list or revoke tokens",
        description="With --role and --actor: print a new bearer token alone on stdout "
                    "(recorded in the credentials table when a database is reachable).")
    token.add_argument("--role", help="channel, officer, supervisor, head or auditor")
    token.add_argument("--actor", help="who holds the token (recorded in every event)")
    token.add_argument("--channel")
    token.add_argument("--tier")
    token.add_argument("--unit")
    token.set_defaults(func=cmd_token)
    # --data-dir after the action too; SUPPRESS keeps one given before it.
    after = argparse.ArgumentParser(add_help=False)
    after.add_argument("--data-dir", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    token_sub = token.add_subparsers(dest="token_action")
    listing = token_sub.add_parser("list", parents=[after], help="recorded tokens and their state")
    listing.add_argument("--actor", default=argparse.SUPPRESS, help="only this actor's")
    listing.add_argument("--active", action="store_true", help="only tokens still valid")
    listing.add_argument("--json", action="store_true", help="JSON lines")
    listing.set_defaults(func=cmd_token_list)
    revoke = token_sub.add_parser("revoke", parents=[after], help="revoke a token or an actor's")
    which = revoke.add_mutually_exclusive_group(required=True)
    which.add_argument("jti", nargs="?", help="the token's id (`ptsp token list`)")
    which.add_argument("--actor", default=argparse.SUPPRESS,
                       help="every token of this actor issued until now, recorded or not")
    revoke.add_argument("--reason", help="recorded with the revocation")
    revoke.set_defaults(func=cmd_token_revoke)

    projections = sub.add_parser("projections", help="read models")
    projections_sub = projections.add_subparsers(dest="action", required=True)
    rebuild = projections_sub.add_parser(
        "rebuild", parents=[common],
        help="drop read models and rebuild them from the event store, with progress")
    rebuild.add_argument("name", nargs="?", help="one read model (default: all)")
    rebuild.set_defaults(func=cmd_projections_rebuild)

    contracts = sub.add_parser("contracts", parents=[common],
                               help="print the JSON Schema of every contract")
    contracts.set_defaults(func=cmd_contracts)

    from contracts.vocabulary import CHANNELS

    creds = sub.add_parser(
        "nats-credentials", parents=[common],
        help="print a channel service's NATS URL with its credentials (it may publish only "
             "on ptsp.intake.*.CHANNEL)")
    creds_which = creds.add_mutually_exclusive_group(required=True)
    creds_which.add_argument("--channel", choices=CHANNELS, help="the channel service")
    creds_which.add_argument("--env", action="store_true",
                             help="every password deploy/nats/auth.conf reads, as VAR=value "
                                  "lines (compose's .env)")
    creds.set_defaults(func=cmd_nats_credentials)

    staff = sub.add_parser("staff", help="the staff register: who works cases and signs in")
    staff_sub = staff.add_subparsers(dest="staff_action", required=True)
    staff_add = staff_sub.add_parser(
        "add", parents=[common],
        help="register a person (or replace their entry) and set their password, read as "
             "one line from standard input")
    staff_add.add_argument("actor", help="the id they act under (tokens, console sign-in)")
    staff_add.add_argument("--name", required=True)
    staff_add.add_argument("--role", required=True,
                           help="officer, supervisor, head or auditor")
    staff_add.add_argument("--unit", help="an officer's unit (perizinan, pengaduan, ...)")
    staff_add.add_argument("--tier", help="an officer's tier (default pelaksana)")
    staff_add.set_defaults(func=cmd_staff)
    staff_disable = staff_sub.add_parser(
        "disable", parents=[common],
        help="the person works no more cases: sessions end, sign-ins and their tokens are "
             "refused")
    staff_disable.add_argument("actor")
    staff_disable.add_argument("--reason", default="disabled by the head of office",
                               help="recorded with it")
    staff_disable.set_defaults(func=cmd_staff)
    staff_list = staff_sub.add_parser("list", parents=[common],
                                      help="everyone in the register, active or not")
    staff_list.add_argument("--json", action="store_true", help="JSON lines")
    staff_list.set_defaults(func=cmd_staff_list)

    dead = sub.add_parser("dead-letters", help="event messages the consumers refused")
    dead_sub = dead.add_subparsers(dest="dead_letters_action", required=True)
    dead_list = dead_sub.add_parser(
        "list", parents=[common],
        help="refused messages, newest first: unsigned, badly signed, malformed or out of order")
    dead_list.add_argument("--limit", type=int, default=100, help="at most this many (100)")
    dead_list.add_argument("--json", action="store_true",
                           help="JSON lines, with headers and the body's first bytes")
    dead_list.set_defaults(func=cmd_dead_letters_list)

    audit = sub.add_parser("audit", help="audit trail: verify the hash chain, case histories, "
                                         "export for re-verification")
    audit_sub = audit.add_subparsers(dest="audit_action", required=True)
    verify = audit_sub.add_parser(
        "verify", parents=[common],
        help="recompute the hash chain over every stored event and check the signed "
             "checkpoints; exit status 1 on a broken chain")
    verify.add_argument("--allow-missing-checkpoints", action="store_true",
                        help="checkpoints the system recorded but the checkpoint file (or "
                             "its mirror) no longer has are a warning, not a failure")
    verify.set_defaults(func=cmd_audit)
    history = audit_sub.add_parser(
        "history", parents=[common],
        help="a case's every event with its hashes (JSON); with --as-of the case as it "
             "stood then")
    history.add_argument("case_id", help="the case's id (UUID)")
    history.add_argument("--as-of", metavar="X",
                         help="a version number or an ISO 8601 time (default offset +07:00)")
    history.set_defaults(func=cmd_audit)
    export = audit_sub.add_parser(
        "export", parents=[common],
        help="every chained event as JSON lines (state, hash, prev hashes) to re-verify "
             "with another tool")
    export.add_argument("--out", metavar="FILE", help="write here (default: stdout)")
    export.add_argument("--case", metavar="ID", help="only this case's events")
    export.set_defaults(func=cmd_audit)
    ops_parsers(sub, common)
    notification_parsers(sub, common)

    certificate = sub.add_parser("certificate", help="the certificates the office issues")
    certificate_sub = certificate.add_subparsers(dest="certificate_action", required=True)
    certificate_verify = certificate_sub.add_parser(
        "verify", parents=[common],
        help="check a certificate's PDF offline with the office's public key (default: the "
             "data dir's office key); exit status 1 when not valid")
    certificate_verify.add_argument(
        "file", metavar="FILE.pdf",
        help="the certificate's PDF (GET /certificates/{number} with Accept: application/pdf)")
    certificate_verify.add_argument(
        "--public-key", metavar="FILE",
        help="the office's public key: PEM, or the JSON of GET /certificates/public-key")
    certificate_verify.set_defaults(func=cmd_certificate_verify)
    return p


def ops_parsers(sub: Any, common: argparse.ArgumentParser) -> None:
    """`ptsp backup`, `ptsp restore` (API.md, "Operations")."""
    backup = sub.add_parser(
        "backup", parents=[common],
        help="back up the database, the keys and the audit checkpoints (passphrase for the "
             "keys: one line on standard input)")
    backup.add_argument("--out", required=True, metavar="DIR", help="a new, empty directory")
    backup.set_defaults(func=cmd_backup)
    restore = sub.add_parser(
        "restore", parents=[common],
        help="restore a backup into a fresh data dir (passphrase on standard input), then "
             "verify the audit chain and rebuild the read models")
    restore.add_argument("--from", dest="source", required=True, metavar="DIR",
                         help="the backup directory (`ptsp backup --out`)")
    restore.set_defaults(func=cmd_restore)


def notification_parsers(sub: Any, common: argparse.ArgumentParser) -> None:
    """`ptsp notifications list|resend` (services/notifications)."""
    from services.notifications.outbox import STATUSES

    notifications = sub.add_parser(
        "notifications", help="the notification outbox: messages to people about their cases")
    notifications_sub = notifications.add_subparsers(dest="notifications_action",
                                                     required=True)
    listing = notifications_sub.add_parser(
        "list", parents=[common],
        help="messages, oldest first: by default those not yet sent (pending, sending) and "
             "the dead letters")
    listing.add_argument("--status", action="append", choices=(*STATUSES, "all"),
                         help="only this status (repeatable; `all`: every message)")
    listing.add_argument("--limit", type=int, default=100, help="at most this many (100)")
    listing.add_argument("--json", action="store_true", help="JSON lines")
    listing.set_defaults(func=cmd_notifications_list)
    resend = notifications_sub.add_parser(
        "resend", parents=[common],
        help="send a dead letter (or a waiting message) again now, its attempts counted "
             "afresh; a delivered message is never sent twice")
    resend.add_argument("id", type=int, help="the message's id (`ptsp notifications list`)")
    resend.set_defaults(func=cmd_notifications_resend)


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    from services.ops import logs

    # A service logs JSON lines by default, an operator's one-shot command plain text.
    service = args.command in ("up", "_worker")
    logs.configure(Settings.from_env().log_format or ("json" if service else "text"))
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
