"""The relay's signature on every domain event it publishes, and its check by consumers.

JetStream is a transport that anyone with publish rights on a subject could write to;
the NATS permissions keep everyone but the relay off `ptsp.<stream>.>`, and this
signature is the second lock: a consumer applies a message only if the relay signed
it. HMAC-SHA256 under `keys/relay-signing.key` (a secret shared by the relay and the
consumers, all inside the system), over the subject, `Nats-Msg-Id`, the position, the
previous position and the body.

`Ptsp-Prev-Position` is the position of the event before this one in the same stream
(0 for the first): notification ids have gaps, so "the next one" cannot be computed from
a position alone, but a consumer that applied position P knows a message whose previous
position is P follows it; one whose previous position is beyond P means messages went
missing in between (to be read again from the event store).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from services.infra.signing import b64url, secret_bytes, unb64url

KEY_FILE = "relay-signing.key"
MSG_ID_HEADER = "Nats-Msg-Id"
POSITION_HEADER = "Ptsp-Position"
PREV_POSITION_HEADER = "Ptsp-Prev-Position"
SIGNATURE_HEADER = "Ptsp-Signature"
_DOMAIN = b"ptsp-event-v1\n"


class Unverified(Exception):
    """A message that is not a domain event the relay signed; `reason` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class SignedPosition:
    """What a verified message says about its place in its stream."""

    position: int
    prev: int


class EventSigner:
    def __init__(self, key: bytes) -> None:
        if len(key) < 32:
            raise ValueError("the relay signing key must be at least 32 bytes")
        self._key = key

    @classmethod
    def of_keys_dir(cls, keys_dir: Path) -> EventSigner:
        return cls(secret_bytes(keys_dir / KEY_FILE))

    def _mac(self, subject: str, msg_id: str, position: int, prev: int, body: bytes) -> bytes:
        # Every field but the last is one line (no newline can occur in them), so the
        # encoding is unambiguous.
        head = f"{subject}\n{msg_id}\n{position}\n{prev}\n".encode()
        return hmac.digest(self._key, _DOMAIN + head + body, hashlib.sha256)

    def headers(self, subject: str, msg_id: str, position: int, prev: int,
                body: bytes) -> dict[str, str]:
        """Every header of a published event, signature included."""
        return {MSG_ID_HEADER: msg_id, POSITION_HEADER: str(position),
                PREV_POSITION_HEADER: str(prev),
                SIGNATURE_HEADER: b64url(self._mac(subject, msg_id, position, prev, body))}

    def verify(self, subject: str, headers: Mapping[str, str] | None,
               body: bytes) -> SignedPosition:
        """The message's positions if the relay signed exactly this; else Unverified."""
        headers = headers or {}
        signature = headers.get(SIGNATURE_HEADER)
        if not signature:
            raise Unverified("unsigned")
        try:
            position = int(headers[POSITION_HEADER])
            prev = int(headers[PREV_POSITION_HEADER])
            msg_id = headers[MSG_ID_HEADER]
            given = unb64url(signature)
        except (KeyError, ValueError) as exc:
            raise Unverified(f"malformed headers ({type(exc).__name__}: {exc})") from None
        if not hmac.compare_digest(given, self._mac(subject, msg_id, position, prev, body)):
            raise Unverified("bad signature")
        if not 0 <= prev < position:
            raise Unverified(f"impossible positions: previous {prev}, position {position}")
        return SignedPosition(position, prev)
