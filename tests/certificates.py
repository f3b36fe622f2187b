"""Certificate helpers the end-to-end tests share."""

from __future__ import annotations


def forged_signature(sig: str) -> str:
    """The signature with its first character changed: always a different one (a fixed
    "A" was the real signature for one signature in 64)."""
    return ("B" if sig[0] == "A" else "A") + sig[1:]
