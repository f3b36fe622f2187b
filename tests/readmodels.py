"""Waiting for the read models: the pipeline applies events asynchronously, so a test that
reads a read model after a command first waits until every one has caught up."""

from __future__ import annotations

import asyncio
import time

from services.runtime import System


async def caught_up(system: System, seconds: float = 60) -> None:
    """Wait, at most `seconds`, until every read model has applied every stored event."""
    pipeline = system.pipeline
    assert pipeline is not None and pipeline.runner is not None and system.pool is not None
    deadline = time.monotonic() + seconds
    while True:
        heads = {s: await pipeline.eventlog.head(s) for s in pipeline.eventlog.streams}
        rows = await system.pool.fetch(
            "SELECT projection, stream, position FROM projection_positions")
        tracked = {(r["projection"], r["stream"]): r["position"] for r in rows}
        if all(tracked.get((p.name, s), 0) >= heads[s]
               for p in pipeline.runner.projections for s in p.streams):
            return
        assert time.monotonic() < deadline, f"read models behind: heads {heads}, tracked {tracked}"
        await asyncio.sleep(0.05)
