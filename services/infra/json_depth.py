"""How deeply a JSON document nests, found without decoding it.

Decoders recurse once per level (msgspec, the stdlib, and every walk over decoded data),
so a small body of a few thousand brackets can exhaust the interpreter's stack. No
contract nests deeper than a handful of levels; a body is measured at the door and
refused above `MAX_DEPTH`, before anything decodes it.
"""

from __future__ import annotations

import re

MAX_DEPTH = 64
"""The deepest nesting of arrays and objects a request body or intake message may have."""

_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKETS = bytes(range(256)).translate(None, b"[]{}")
_OPENERS = frozenset(b"[{")


def nesting_exceeds(body: bytes, limit: int = MAX_DEPTH) -> bool:
    """True when `body` opens more than `limit` arrays or objects inside one another.

    Brackets inside strings do not count. The scan runs at C speed over the whole body
    (strings cut out, then everything but brackets) and in Python only over the
    brackets, and only when there are more than `limit` of them at all."""
    if body.count(b"[") + body.count(b"{") <= limit:
        return False
    if b'"' in body:
        body = _STRING.sub(b"", body)
        quote = body.find(b'"')
        if quote >= 0:  # an unterminated string: what follows is inside it
            body = body[:quote]
    depth = 0
    for byte in body.translate(None, _NOT_BRACKETS):
        if byte in _OPENERS:
            depth += 1
            if depth > limit:
                return True
        else:
            depth -= 1
    return False
