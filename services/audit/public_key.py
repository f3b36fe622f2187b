"""The office's public key, published (`GET /certificates/public-key`, no token).

It verifies what the office signs: the certificates it issues and the audit chain's
checkpoints. An auditor takes it from here, not from the file under check, and needs
nothing else from the system to verify an export. The static path is routed before
`/certificates/{number}`: Litestar tries a plain segment before a path parameter.
"""

from __future__ import annotations

import msgspec
from cryptography.hazmat.primitives import serialization
from litestar import get
from litestar.datastructures import State

from services.http.auth import PUBLIC
from services.infra.signing import OfficeKey


class OfficePublicKey(msgspec.Struct, kw_only=True, frozen=True):
    algorithm: str
    """Always `Ed25519`."""
    public_key: str
    """The 32 raw bytes of the key, base64url without `=` padding (as in checkpoints)."""
    key_id: str
    """The first 16 hex digits of SHA-256 over those 32 bytes (`key_id` in checkpoints)."""
    public_key_pem: str
    """The same key as a PEM SubjectPublicKeyInfo, for `openssl` and other tools."""
    signs: list[str]
    """What the office signs with it."""


def describe(key: OfficeKey) -> OfficePublicKey:
    pem = key.public.public_bytes(serialization.Encoding.PEM,
                                  serialization.PublicFormat.SubjectPublicKeyInfo)
    return OfficePublicKey(
        algorithm="Ed25519", public_key=key.public_b64, key_id=key.key_id,
        public_key_pem=pem.decode(),
        signs=["the certificates it issues",
               "the audit chain's checkpoints (`ptsp audit verify`, `ptsp audit export`)"])


@get("/certificates/public-key", exclude_from_auth=True, security=PUBLIC,
     tags=["certificates"])
async def office_public_key(state: State) -> OfficePublicKey:
    """Public: the office's Ed25519 public key, which verifies its certificates and the
    signed checkpoints of the audit chain."""
    key: OfficeKey = state.system.office_key
    return describe(key)
