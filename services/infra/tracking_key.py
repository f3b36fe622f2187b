"""Tracking numbers and PINs, from one office secret (`keys/tracking.key`).

A case's id follows from `(channel, external_id)` in a public namespace (intake is
idempotent on it), so anything derived from the id alone can be worked out by anyone who
knows a channel's reference. Here both things a person is given are keyed:

- the **tracking number** `PRM-XXXXX-XXXXX` (`ADU-` for a complaint): the first 50 bits
  of the case id put through a keyed permutation (a four-round Feistel network whose round
  function is HMAC-SHA-256 under the secret), in Crockford's base32. Without the key it
  cannot be told from random; with it, it is turned back into the id's first 50 bits, so
  the case is found by a range scan of the event store's primary key, with no index of
  its own and no write beside the case's first event (a case is found the moment its
  intake returns). Two cases whose ids share 50 bits would share a number: each lookup
  keeps the candidates whose own recorded number it is, and the PIN tells them apart.
- the **PIN**, 8 digits: an HMAC of the case id. The same `(channel, external_id)` again
  is the same case, so the same PIN; nothing is stored.

Cases submitted before this recorded no number in their first event: theirs stays the
one derived from the id (`PRM-` and ten hex digits, `legacy_tracking_number` in each case
type's domain), and `id_range` still reads that shape.

The secret is made on first use (0600, created atomically: two processes racing end with
one key) and belongs to the keys a backup carries: without it, the numbers it made are not
found again and every PIN changes.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from pathlib import Path
from uuid import UUID

from services.infra.signing import secret_bytes

KEY_FILE = "tracking.key"

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
"""Crockford's base32: no I, L, O or U, so nothing read aloud or copied is ambiguous."""
_CONFUSABLE = str.maketrans({"I": "1", "L": "1", "O": "0"})
CODE_CHARS = 10
CODE_BITS = 5 * CODE_CHARS  # 50: the id's first 50 bits
_HALF = CODE_BITS // 2
_HALF_MASK = (1 << _HALF) - 1
ROUNDS = 4  # Luby-Rackoff: four rounds of a pseudorandom function make a strong PRP
PIN_DIGITS = 8

_KEYED = re.compile(rf"^([A-Z]{{3}})-([{ALPHABET}]{{5}})-([{ALPHABET}]{{5}})$")
_LEGACY = re.compile(r"^([A-Z]{3})-([0-9A-F]{10})$")
_ID_BITS = 128


def normalized(number: str) -> str:
    """A number as a person may type it (lower case, spaces, `O` for `0`, `I` or `L`
    for `1`) in the form the office prints. Anything that is
    no tracking number comes back upper-cased and stripped, and matches no case."""
    text = "".join(number.split()).upper()
    if _LEGACY.match(text):
        return text
    prefix, dash, rest = text.partition("-")
    candidate = f"{prefix}{dash}{rest.translate(_CONFUSABLE)}"
    keyed = _KEYED.match(candidate)
    return f"{keyed[1]}-{keyed[2]}-{keyed[3]}" if keyed else text


class TrackingKey:
    def __init__(self, secret: bytes) -> None:
        if len(secret) < 16:
            raise ValueError("a tracking secret needs at least 16 bytes")
        self._number_key = hmac.digest(secret, b"ptsp tracking number v1", hashlib.sha256)
        self._pin_key = hmac.digest(secret, b"ptsp tracking pin v1", hashlib.sha256)

    @classmethod
    def of_keys_dir(cls, keys_dir: Path) -> TrackingKey:
        return cls(secret_bytes(keys_dir / KEY_FILE))

    # -- what a person is given ----------------------------------------------------------
    def number(self, prefix: str, case_id: UUID) -> str:
        """`<prefix>-XXXXX-XXXXX`: the case's tracking number."""
        code = _base32(self._permute(case_id.int >> (_ID_BITS - CODE_BITS)))
        return f"{prefix}-{code[:5]}-{code[5:]}"

    def pin(self, case_id: UUID) -> str:
        digest = hmac.digest(self._pin_key, case_id.bytes, hashlib.sha256)
        return f"{int.from_bytes(digest[:8], 'big') % 10**PIN_DIGITS:0{PIN_DIGITS}d}"

    def pin_matches(self, case_id: UUID, presented: str) -> bool:
        return hmac.compare_digest(self.pin(case_id).encode(), presented.strip().encode())

    # -- finding the case again -------------------------------------------------------------
    def id_range(self, number: str) -> tuple[UUID, UUID] | None:
        """The ids a case with this number may have (its first bits fixed, the rest
        free), for a range scan; None: no tracking number of either shape."""
        text = normalized(number)
        legacy = _LEGACY.match(text)
        if legacy:
            return _range(int(legacy[2], 16), 40)
        keyed = _KEYED.match(text)
        if keyed is None:
            return None
        return _range(self._unpermute(_unbase32(keyed[2] + keyed[3])), CODE_BITS)

    # -- the permutation of 50 bits ------------------------------------------------------
    def _round(self, index: int, half: int) -> int:
        digest = hmac.digest(self._number_key, bytes([index]) + half.to_bytes(4, "big"),
                             hashlib.sha256)
        return int.from_bytes(digest[:4], "big") & _HALF_MASK

    def _permute(self, value: int) -> int:
        left, right = value >> _HALF, value & _HALF_MASK
        for index in range(ROUNDS):
            left, right = right, left ^ self._round(index, right)
        return (left << _HALF) | right

    def _unpermute(self, value: int) -> int:
        left, right = value >> _HALF, value & _HALF_MASK
        for index in reversed(range(ROUNDS)):
            left, right = right ^ self._round(index, left), left
        return (left << _HALF) | right


def _base32(value: int) -> str:
    return "".join(ALPHABET[(value >> (5 * i)) & 31] for i in reversed(range(CODE_CHARS)))


def _unbase32(code: str) -> int:
    value = 0
    for char in code:
        value = (value << 5) | ALPHABET.index(char)
    return value


def _range(prefix: int, bits: int) -> tuple[UUID, UUID]:
    free = _ID_BITS - bits
    low = prefix << free
    return UUID(int=low), UUID(int=low | ((1 << free) - 1))
