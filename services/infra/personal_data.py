"""Personal data (UU 27/2022): sealed per data subject, erased by deleting the key.

Every applicant's and complainant's identity (name, NIK, phone, e-mail, address) and the
narratives they write are sealed with AES-256-GCM under a key of their data subject
*before* they enter an event. The events never hold plaintext, so they never need to be
rewritten: erasure deletes the subject's key (crypto-shredding), every envelope sealed
under it becomes unreadable for good, and the audit hash chain over the stored rows
still verifies.

- Data subject: `nik:<HMAC-SHA256(vault secret, NIK)>` when there is a NIK (so every case
  of the same person shares one subject, and the NIK itself is not the id); otherwise
  `case:<case id>`: the case alone.
- Keys: table `subject_keys`, one row per key. Every sealing makes a key of its own (a
  subject with several cases has several live keys; an erasure erases every live key
  of the subject). The key is stored *with the events that carry its envelopes*: the
  service takes it (`take_new_keys`) and the group committer writes it in the same
  transaction as the case's events (services/infra/eventtable.py), so a new subject
  costs no round trip or commit of its own, and a write that fails leaves no key. The
  key material itself is wrapped (AES-GCM) with a key-encryption key kept in the keys
  directory, outside the database: a dump of the database alone opens nothing.
- Envelope (what an event carries): `{"subject", "kid", "sealed": b64(nonce+ciphertext),
  "v": 1}`, the associated data is the subject id (an envelope moved to another subject
  does not open).
- Reading: `prefetch()` loads the keys an aggregate needs (one query; the services call
  it on every `get`, so an erasure made by another process is seen on the next read),
  then `open()` is synchronous and answers `ERASED` once the key is gone.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any, NamedTuple

import asyncpg
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from services.infra.signing import secret_bytes
from services.infra.unavailable import reaching

ERASED: dict[str, Any] = {"erased": True}
"""What an envelope opens to once its subject's key is erased (a fresh copy each time)."""

VERSION = 1

VAULT = "the database (the personal data vault's keys)"

SCHEMA = """
CREATE TABLE IF NOT EXISTS subject_keys (
    key_id          uuid PRIMARY KEY,
    subject_id      text NOT NULL,
    key             bytea,
    created_at      timestamptz NOT NULL DEFAULT now(),
    erased_at       timestamptz,
    erased_by       text,
    erasure_reason  text,
    CHECK ((key IS NULL) = (erased_at IS NOT NULL))
);
-- A subject may hold several live keys (one per sealing, stored with its case's
-- events); until 2026-11 it held one, under a unique index.
DROP INDEX IF EXISTS subject_keys_live;
CREATE INDEX IF NOT EXISTS subject_keys_live_by_subject ON subject_keys (subject_id)
    WHERE erased_at IS NULL;
-- New keys, stored on their own or inside an event write (services/infra/eventtable.py).
CREATE OR REPLACE FUNCTION ptsp_store_subject_keys(key_ids uuid[], subjects text[],
                                                   material bytea[]) RETURNS void
LANGUAGE sql AS $$
    INSERT INTO subject_keys (key_id, subject_id, key)
        SELECT * FROM unnest(key_ids, subjects, material)
$$;
"""

MAX_CACHED_KEYS = 50_000
"""Live keys a process keeps in memory (a few MB); the rest are read again when needed."""

NEW_KEY_TTL_SECONDS = 600.0
"""A key made for a sealing that is never stored (the request failed after sealing) is
forgotten after this long; a request lives far shorter."""


class SubjectKey(NamedTuple):
    """A new key's row of `subject_keys`, to be stored with the events that use it."""

    key_id: uuid.UUID
    subject_id: str
    wrapped: bytes


class VaultUnavailable(RuntimeError):
    """The vault has no database yet (`attach` was not called)."""


def is_envelope(value: Any) -> bool:
    return isinstance(value, dict) and "sealed" in value and "subject" in value


def envelopes_in(*values: Any) -> Iterator[dict[str, Any]]:
    for value in values:
        if is_envelope(value):
            yield value


def _json_default(obj: Any) -> Any:
    if isinstance(obj, (date, datetime)):
        return obj.isoformat()
    raise TypeError(f"cannot seal {type(obj).__name__}")


class PersonalDataVault:
    def __init__(self, secret: bytes) -> None:
        if len(secret) < 64:
            raise ValueError("the vault secret needs 64 bytes")
        self._hmac_key = secret[:32]
        self._kek = AESGCM(secret[32:64])
        self.pool: asyncpg.Pool | None = None
        self._keys: OrderedDict[str, AESGCM] = OrderedDict()  # kid -> live key, LRU
        self._erased: set[str] = set()           # kids known to be erased
        # kid -> (row, when made): keys sealed with, not yet stored (`take_new_keys`)
        self._new: OrderedDict[str, tuple[SubjectKey, float]] = OrderedDict()

    # -- set up -----------------------------------------------------------------------
    @classmethod
    def load_or_create(cls, path: Path) -> PersonalDataVault:
        """The vault secret (HMAC key for subject ids + key-encryption key), a file in the
        keys directory next to the office key: outside the database on purpose."""
        # Written whole, then linked into place: a process starting beside another one
        # never reads a half-written secret (it would then seal under a wrong key).
        return cls(secret_bytes(path, 64))

    async def attach(self, pool: asyncpg.Pool) -> None:
        self.pool = pool
        async with pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(27022022)")  # racing installs
            await conn.execute(SCHEMA)

    def _pool(self) -> asyncpg.Pool:
        if self.pool is None:
            raise VaultUnavailable("the personal data vault is not attached to a database")
        return self.pool

    # -- subjects -----------------------------------------------------------------------
    def subject_of(self, nik: str | None, case_id: uuid.UUID | str) -> str:
        """Every case of the same NIK shares a subject; without a NIK, the case alone."""
        if nik and nik.strip():
            digest = hmac.digest(self._hmac_key, nik.strip().encode(), hashlib.sha256).hex()
            return f"nik:{digest[:40]}"
        return f"case:{case_id}"

    # -- keys ---------------------------------------------------------------------------
    def _wrap(self, kid: uuid.UUID, key: bytes) -> bytes:
        nonce = os.urandom(12)
        return nonce + self._kek.encrypt(nonce, key, kid.bytes)

    def _unwrap(self, kid: uuid.UUID, wrapped: bytes) -> AESGCM:
        return AESGCM(self._kek.decrypt(wrapped[:12], wrapped[12:], kid.bytes))

    def _new_key(self, subject_id: str) -> tuple[str, AESGCM]:
        """A fresh key for one sealing: in memory only, until `take_new_keys` hands its
        row to the write that stores the envelopes (no round trip here)."""
        kid = uuid.uuid4()
        material = AESGCM.generate_key(bit_length=256)
        now = time.monotonic()
        while self._new and next(iter(self._new.values()))[1] < now - NEW_KEY_TTL_SECONDS:
            self._new.popitem(last=False)
        self._new[str(kid)] = (SubjectKey(kid, subject_id, self._wrap(kid, material)), now)
        key = AESGCM(material)
        self._remember(str(kid), key)
        return str(kid), key

    def _remember(self, kid: str, key: AESGCM) -> None:
        """Keep a live key, the least recently used ones dropped past MAX_CACHED_KEYS: a
        key per case would otherwise grow the process without bound. Dropping is safe:
        every read prefetches its keys again, just before it opens them."""
        self._keys[kid] = key
        self._keys.move_to_end(kid)
        while len(self._keys) > MAX_CACHED_KEYS:
            self._keys.popitem(last=False)

    def take_new_keys(self, envelopes: Iterable[dict[str, Any]]) -> list[SubjectKey]:
        """The rows of the new keys these envelopes were sealed with, handed over once:
        the caller stores them with the events that carry the envelopes."""
        taken = (self._new.pop(e.get("kid", ""), None) for e in envelopes)
        return [row for row, _ in filter(None, taken)]

    async def store_keys(self, keys: Iterable[SubjectKey]) -> None:
        """Store new keys on their own, outside any event write (sealing that is not
        part of a case's creation: tools, the vault's own tests)."""
        rows = list(keys)
        with reaching(VAULT):
            await self._pool().execute(
                "SELECT ptsp_store_subject_keys($1::uuid[], $2::text[], $3::bytea[])",
                [k.key_id for k in rows], [k.subject_id for k in rows],
                [k.wrapped for k in rows])

    async def prefetch(self, envelopes: Iterable[dict[str, Any]]) -> None:
        """Load (or forget) the keys of these envelopes: one query, fresh from the table."""
        kids = {e["kid"] for e in envelopes if "kid" in e}
        if not kids:
            return
        with reaching(VAULT):
            rows = await self._pool().fetch(
                "SELECT key_id, key FROM subject_keys WHERE key_id = ANY($1::uuid[])",
                [uuid.UUID(k) for k in kids])
        found = set()
        for row in rows:
            kid = str(row["key_id"])
            found.add(kid)
            if row["key"] is None:
                self._forget(kid)
            elif kid in self._keys:
                self._keys.move_to_end(kid)
            else:
                self._remember(kid, self._unwrap(row["key_id"], row["key"]))
        for kid in kids - found:  # no row at all: never existed here, or dropped
            self._forget(kid)

    def _forget(self, kid: str) -> None:
        self._keys.pop(kid, None)
        self._erased.add(kid)

    # -- seal and open ------------------------------------------------------------------
    async def seal(self, subject_id: str, data: Any) -> dict[str, Any]:
        return (await self.seal_many(subject_id, [data]))[0]

    async def sealer(self, subject_id: str) -> Callable[[Any], dict[str, Any]]:
        """A synchronous sealing function for one subject (one new key), for code that
        seals inside a pure domain step (the complaint classifies, then seals)."""
        kid, key = self._new_key(subject_id)
        return lambda value: self._seal_with(kid, key, subject_id, value)

    async def seal_many(self, subject_id: str, values: list[Any]) -> list[dict[str, Any]]:
        """Seal several values of one subject under one new key."""
        kid, key = self._new_key(subject_id)
        return [self._seal_with(kid, key, subject_id, value) for value in values]

    @staticmethod
    def _seal_with(kid: str, key: AESGCM, subject_id: str, data: Any) -> dict[str, Any]:
        plain = json.dumps(data, default=_json_default, ensure_ascii=False,
                           separators=(",", ":")).encode()
        nonce = os.urandom(12)
        sealed = nonce + key.encrypt(nonce, plain, subject_id.encode())
        return {"subject": subject_id, "kid": kid,
                "sealed": base64.b64encode(sealed).decode(), "v": VERSION}

    def open(self, envelope: Any) -> Any:
        """The sealed value, or a copy of `ERASED` when the key is gone. Anything that is
        not an envelope (older plain data, None) is returned as it is. The key must have
        been `prefetch`ed (the services do it on every read)."""
        if not is_envelope(envelope):
            return envelope
        kid = envelope.get("kid", "")
        if kid in self._erased or kid not in self._keys:
            if kid not in self._erased:
                raise VaultUnavailable(f"key {kid} was not prefetched")
            return dict(ERASED)
        raw = base64.b64decode(envelope["sealed"])
        plain = self._keys[kid].decrypt(raw[:12], raw[12:], envelope["subject"].encode())
        return json.loads(plain)

    # -- erasure --------------------------------------------------------------------------
    async def erase(self, subject_id: str, by: str, reason: str) -> list[str]:
        """Delete the subject's key material (every live key of it); the rows stay as the
        record of who erased what, when and why. Returns the key ids erased (none: it was
        already erased)."""
        with reaching(VAULT):
            rows = await self._pool().fetch(
                """
                UPDATE subject_keys SET key = NULL, erased_at = now(), erased_by = $2,
                       erasure_reason = $3
                 WHERE subject_id = $1 AND erased_at IS NULL
                RETURNING key_id
                """, subject_id, by, reason)
        kids = [str(r["key_id"]) for r in rows]
        for kid in kids:
            self._forget(kid)
        return kids

    async def live_keys(self, subject_ids: list[str]) -> int:
        with reaching(VAULT):
            return int(await self._pool().fetchval(
                "SELECT count(*) FROM subject_keys WHERE subject_id = ANY($1::text[])"
                " AND erased_at IS NULL", subject_ids))


async def erase_case(vault: PersonalDataVault | None, case: Any, sealed: Iterable[Any],
                     reason: str, actor: Any, now: datetime, committer: Any) -> Any:
    """Erase the personal data of a case's data subjects (every case of each subject):
    one use case shared by applications and complaints.

    On audit hold the refusal is recorded on the case, then `RuleViolation(audit_hold)`.
    Otherwise the erasure is recorded first (who, why, which subject ids) and then the
    keys are deleted: a crash in between leaves a record whose retry erases, never an
    erasure without its record."""
    from services.domain.errors import RuleViolation

    record = actor.as_record()
    if case.audit_hold is not None:
        case.refuse_erasure(reason, record, now)
        await committer.save(case)
        raise RuleViolation(
            "an audit of this case is pending (audit hold): its personal data may not be "
            "erased until the hold is released; the refusal is recorded",
            rule="audit_hold", hold_reason=case.audit_hold["reason"])
    if vault is None:
        raise RuleViolation("no personal data vault is configured", rule="no_vault")
    subjects = sorted({e["subject"] for e in envelopes_in(*sealed)})
    live = await vault.live_keys(subjects) if subjects else 0
    case.record_erasure(subjects, live, reason, record, now)
    await committer.save(case)
    for subject in subjects:
        await vault.erase(subject, actor.id, reason)
    return case


__all__ = [
    "ERASED",
    "InvalidTag",
    "PersonalDataVault",
    "SubjectKey",
    "VaultUnavailable",
    "envelopes_in",
    "erase_case",
    "is_envelope",
]
