"""The `ptsp` operator command (API.md, "Operator interface")."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import signal
import sys
from datetime import datetime
from collections.abc import Iterator
from pathlib import Path

from services.kernel.settings import Settings

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
    from services.kernel.embedded import EmbeddedNats, EmbeddedPostgres

    settings = _settings(args)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    started: list[EmbeddedPostgres | EmbeddedNats] = []
    try:
        db_url, nats_url = settings.database_url, settings.nats_url
        if not db_url:
            pg = EmbeddedPostgres(settings.data_dir / "postgres")
            pg.start()
            started.append(pg)
            db_url = pg.url
        if not nats_url:
            nats = EmbeddedNats(settings.data_dir / "nats")
            nats.start()
            started.append(nats)
            nats_url = nats.url
        runtime_file(settings).write_text(json.dumps(
            {"database_url": db_url, "nats_url": nats_url, "url": settings.base_url}))
        asyncio.run(_serve(settings, db_url, nats_url))
        return 0
    finally:
        runtime_file(settings).unlink(missing_ok=True)
        for server in reversed(started):
            server.stop()


async def _serve(settings: Settings, db_url: str, nats_url: str | None = None) -> None:
    import uvicorn

    from services.runtime import System
    from services.web import create_app

    class Server(uvicorn.Server):
        # uvicorn re-raises SIGINT/SIGTERM after its shutdown, which would kill us before
        # we stop Postgres and NATS: we take the signals ourselves instead.
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield

    system = System.build(settings, db_url, nats_url)
    config = uvicorn.Config(create_app(system), host=settings.host, port=settings.port,
                            log_level="warning", access_log=False, lifespan="on")
    server = Server(config)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, lambda: setattr(server, "should_exit", True))
    serving = asyncio.create_task(server.serve())
    while not server.started:
        if serving.done():
            await serving  # re-raises why it could not start
            raise SystemExit(f"the HTTP server could not start on {settings.host}:{settings.port}")
        await asyncio.sleep(0.05)
    print(f"ptsp ready http://{settings.host}:{settings.port}", flush=True)
    await serving


# -- ptsp token -------------------------------------------------------------------------
def cmd_token(args: argparse.Namespace) -> int:
    from services.runtime import token_issuer

    settings = _settings(args)
    try:
        token = token_issuer(settings).issue(
            role=args.role, actor=args.actor, ttl_seconds=settings.token_ttl_hours * 3600,
            channel=args.channel, tier=args.tier, unit=args.unit)
    except ValueError as exc:
        print(f"ptsp token: {exc}", file=sys.stderr)
        return 2
    print(token)
    return 0


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
    up.set_defaults(func=cmd_up)

    token = sub.add_parser("token", parents=[common], help="print a bearer token")
    token.add_argument("--role", required=True)
    token.add_argument("--actor", required=True)
    token.add_argument("--channel")
    token.add_argument("--tier")
    token.add_argument("--unit")
    token.set_defaults(func=cmd_token)

    contracts = sub.add_parser("contracts", parents=[common],
                               help="print the JSON Schema of every contract")
    contracts.set_defaults(func=cmd_contracts)
    return p


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    args = parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
