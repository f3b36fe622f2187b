"""Background loops (relay, timers, chain keeper) run as asyncio tasks; this is how one
stops."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any


async def cancel_and_wait(task: asyncio.Task[Any] | None) -> None:
    """Cancel a background task and wait until it has stopped, so nothing it holds (a
    connection, a lock) outlives the stop; no task: nothing to stop."""
    if task is None:
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
