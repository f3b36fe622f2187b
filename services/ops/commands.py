"""`ptsp backup --out DIR` and `ptsp restore --from DIR [--data-dir NEW]` (API.md,
"Operations"): the passphrase for the keys comes on standard input, one line.

Which database: `DATABASE_URL`, else the running `ptsp up` of the data dir, else (a
backup of a stopped system) the data dir's own embedded Postgres, started for the
backup under the data dir's lock so that no `ptsp up` starts meanwhile. A restore goes
into `DATABASE_URL` (an empty database) or a new embedded Postgres in the new data dir.
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import asyncpg

from services.ops import backup as b
from services.settings import Settings

if TYPE_CHECKING:
    from services.runtime import System

RUNTIME_FILE = "runtime.json"


def _out(message: str) -> None:
    print(message, file=sys.stderr)


def _passphrase(stdin: TextIO) -> str:
    """One line of standard input; typed at a terminal, without echo."""
    if stdin.isatty():
        return b.passphrase_of(getpass.getpass("passphrase for the keys: "))
    return b.passphrase_of(stdin.readline())


UNREACHABLE = (OSError, asyncpg.PostgresError, asyncpg.InterfaceError)


@contextlib.contextmanager
def _database(settings: Settings, running_url: str | None) -> Iterator[str]:
    """The system's database URL; a stopped system's embedded Postgres, started here."""
    if settings.database_url or running_url:
        yield str(settings.database_url or running_url)
        return
    if not (settings.data_dir / "postgres" / "PG_VERSION").exists():
        raise b.BackupError(f"no DATABASE_URL, no running `ptsp up` on {settings.data_dir} "
                            "and no database in it: which system?")
    from services import leftovers

    with leftovers.holding_data_dir(settings.data_dir, settings.data_dir / RUNTIME_FILE), \
            _embedded(settings) as url:
        yield url


@contextlib.contextmanager
def _embedded(settings: Settings) -> Iterator[str]:
    """The data dir's own Postgres, started for the time of a backup or a restore."""
    from services.infra.embedded import EmbeddedPostgres

    pg = EmbeddedPostgres(settings.data_dir / "postgres", keys_dir=settings.keys_dir)
    pg.start()
    try:
        yield pg.url
    finally:
        pg.stop()


def run_backup(settings: Settings, out: Path, running_url: str | None,
               stdin: TextIO = sys.stdin) -> int:
    from services.runtime import System

    try:
        passphrase = _passphrase(stdin)
        b.key_files(settings.keys_dir)  # before anything is built: a wrong --data-dir
        with _database(settings, running_url) as url:
            system = System.build(settings, url)
            try:
                written = b.backup(url, system.streams(), settings.keys_dir,
                                   settings.audit_dir, out, passphrase)
            finally:
                for store in system.stores:
                    store.close()
    except b.BackupError as exc:
        _out(f"ptsp backup: {exc}")
        return 2
    except UNREACHABLE as exc:
        _out(f"ptsp backup: the database did not answer ({type(exc).__name__}: {exc}); "
             "nothing was written")
        return 2
    held = written.manifest["database"]
    events = sum(s["events"] for s in held["streams"].values())
    key_count = len(written.manifest["keys"]["files"])
    _out(f"ptsp backup: {written.out}: {events} events, audit chain head "
         f"{held['audit_chain_head']}, {held['checkpoints']} signed checkpoints, {key_count} "
         "key files (encrypted). Keep the passphrase apart from the backup: without it the "
         "keys do not open, and without the keys the record does not either.")
    print(written.out)
    return 0


def run_restore(settings: Settings, source: Path, stdin: TextIO = sys.stdin) -> int:
    """Restore into `settings.data_dir`; then verify the audit chain and rebuild every read
    model. Exit 0: restored and verified; 1: restored but the chain does not verify;
    2: nothing restored (or an incomplete data dir, said so)."""
    from services import leftovers

    try:
        manifest = b.read_manifest(source)
        passphrase = _passphrase(stdin)
        embedded = not settings.database_url
        b.check_fresh(settings.data_dir, embedded)
        if settings.database_url:
            asyncio.run(b.check_empty_database(settings.database_url))
        if settings.nats_url:
            asyncio.run(_check_streams(settings))
        # Opens the keys before anything is written: a wrong passphrase changes nothing.
        keys = b.open_keys((source / b.KEYS).read_bytes(), manifest["keys"], passphrase)
    except b.BackupError as exc:
        _out(f"ptsp restore: {exc}")
        return 2
    except UNREACHABLE as exc:
        _out(f"ptsp restore: DATABASE_URL or NATS_URL did not answer ({type(exc).__name__}: "
             f"{exc}); nothing was restored")
        return 2
    try:
        with leftovers.holding_data_dir(settings.data_dir, settings.data_dir / RUNTIME_FILE):
            b.write_keys(settings.keys_dir, keys)
            b.place_checkpoints(source, settings.audit_dir)
            with _restored_database(settings, embedded) as url:
                return _check_and_rebuild(settings, url, source, manifest)
    except (b.BackupError, leftovers.AlreadyRunning, *UNREACHABLE) as exc:
        _out(f"ptsp restore: {exc}. {settings.data_dir} is incomplete: remove it (and empty "
             "the database of DATABASE_URL, if one was given) before trying again")
        return 2


async def _check_streams(settings: Settings) -> None:
    from services.infra.nats_auth import RELAY
    from services.runtime import nats_auth

    assert settings.nats_url is not None
    await b.check_streams_absent(settings.nats_url,
                                 nats_auth(settings).options(settings.nats_url, RELAY))


@contextlib.contextmanager
def _restored_database(settings: Settings, embedded: bool) -> Iterator[str]:
    """The restored database's URL: DATABASE_URL's, or a new embedded Postgres's."""
    if not embedded:
        assert settings.database_url is not None
        yield settings.database_url
        return
    with _embedded(settings) as url:
        yield url


def _check_and_rebuild(settings: Settings, url: str, source: Path,
                       manifest: dict[str, Any]) -> int:
    from services.runtime import System

    asyncio.run(b.restore_database(source, url))
    system = System.build(settings, url)
    try:
        differences = asyncio.run(b.compare(url, system.streams(), manifest["database"]))
        if differences:
            raise b.BackupError("the restored database is not what was backed up: "
                                + "; ".join(differences))
        report, counts = asyncio.run(_verify_and_rebuild(system, url))
    finally:
        for store in system.stores:
            store.close()
    held = manifest["database"]
    events = sum(s["events"] for s in held["streams"].values())
    _out(f"ptsp restore: {events} events restored into {settings.data_dir} from the backup "
         f"of {manifest['created_at']}; read models rebuilt: "
         + ", ".join(f"{name} ({n} events)" for name, n in counts.items()))
    for warning in report["warnings"]:
        _out(f"warning: {warning}")
    if not report["ok"]:
        broken = report["first_broken"]
        _out(f"ptsp restore: the audit chain does NOT verify ({report['problem_count']} "
             f"problems); first: [{broken['kind']}] {broken['detail']}")
        return 1
    _out(f"ptsp restore: audit chain OK: {report['checked']} events verified, "
         f"{report['checkpoints']['matched']} signed checkpoints matched. Start it with "
         f"`ptsp up --data-dir {settings.data_dir}`")
    return 0


async def _verify_and_rebuild(system: System, url: str) -> tuple[dict[str, Any], dict[str, int]]:
    from projections.runner import rebuild
    from services.infra.eventlog import EventLog

    pool = await asyncpg.create_pool(url, min_size=1, max_size=4)
    try:
        report = await system.audit_service(pool, keep=False).verify()
        counts = await rebuild(pool, EventLog(pool, system.streams()), system.projections(),
                               progress=False)
    finally:
        await pool.close()
    return report, counts
