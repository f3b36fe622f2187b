"""Shapes shared by every contract."""

from __future__ import annotations

import msgspec


class ActorRef(msgspec.Struct, frozen=True, kw_only=True):
    """Who did it: the token's actor id and role, and the channel for intake."""

    id: str
    role: str
    channel: str | None = None
    tier: str | None = None
    unit: str | None = None
