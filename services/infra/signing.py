"""The office's Ed25519 key: signs certificates (tanda tangan elektronik) and, later,
audit checkpoints. The private key lives in a file outside the database."""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
from pathlib import Path
from typing import Any

import msgspec
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey


def canonical_json(payload: Any) -> bytes:
    """Sorted keys, no whitespace: the same bytes for the same data, on every machine."""
    return msgspec.json.encode(payload, order="sorted")


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def write_secret_once(path: Path, data: bytes) -> None:
    """Create a secret file unless it exists. Written whole under a temporary name (0600
    from the start: never world-readable), then linked into place, so two processes
    starting together both end up with the one that won, never a half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    try:
        os.link(tmp, path)
    except FileExistsError:
        pass
    finally:
        tmp.unlink()


def secret_bytes(path: Path, size: int = 32) -> bytes:
    """A random secret kept in `path`: made on first use (as write_secret_once), then read."""
    if not path.exists():
        write_secret_once(path, secrets.token_bytes(size))
    return path.read_bytes()


OFFICE_KEY_FILE = "office-ed25519.pem"
"""The office's private key, in the data dir's `keys/`."""


def key_id_of(public: Ed25519PublicKey) -> str:
    """The first 16 hex digits of SHA-256 over the key's 32 raw bytes."""
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def signature_verifies(public: Ed25519PublicKey, payload: Any, signature: str) -> bool:
    """Whether `signature` (base64url) is this key's over the payload's canonical JSON."""
    try:
        public.verify(unb64url(signature), canonical_json(payload))
        return True
    except (InvalidSignature, ValueError):
        return False


def load_public_key(data: bytes) -> Ed25519PublicKey:
    """An Ed25519 public key from PEM: a public key (SubjectPublicKeyInfo), or the
    office's private key file itself (its public half is taken). ValueError otherwise."""
    if b"PRIVATE KEY" in data:
        private = serialization.load_pem_private_key(data, password=None)
        if not isinstance(private, Ed25519PrivateKey):
            raise ValueError("not an Ed25519 private key")
        return private.public_key()
    public = serialization.load_pem_public_key(data)
    if not isinstance(public, Ed25519PublicKey):
        raise ValueError("not an Ed25519 public key")
    return public


class OfficeKey:
    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        self._private = private_key
        self.public: Ed25519PublicKey = private_key.public_key()
        raw = self.public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        self.key_id = key_id_of(self.public)
        self.public_b64 = b64url(raw)

    @classmethod
    def load_or_create(cls, path: Path) -> OfficeKey:
        if not path.exists():
            key = Ed25519PrivateKey.generate()
            pem = key.private_bytes(serialization.Encoding.PEM,
                                    serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
            write_secret_once(path, pem)
        loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(loaded, Ed25519PrivateKey):
            raise ValueError(f"{path} is not an Ed25519 private key")
        return cls(loaded)

    def sign(self, payload: Any) -> str:
        return b64url(self._private.sign(canonical_json(payload)))

    def verify(self, payload: Any, signature: str) -> bool:
        return signature_verifies(self.public, payload, signature)
