"""`ptsp projections rebuild` as the operator runs it: a process of its own against the
system's database, which forks worker processes to fold the history. A fork copies one
thread only, so a lock another thread held at that instant would stay held in the child
for ever; eventsourcing's connection pools keep threads (four per store), so the command
closes them before the rebuild forks (the rebuild reads over asyncpg). `Folding` says so
in the log when it forks beside other threads."""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from projections.runner import Folding
from services.runtime import System
from tests.history import generate

pytestmark = pytest.mark.integration

PTSP = str(Path(sys.executable).with_name("ptsp"))


async def test_the_command_rebuilds_with_workers_forked_from_a_lone_thread(
        system: System, database_url: str) -> None:
    counts = await generate(system, applications=20, complaints=10, months=1, seed=3)
    assert counts
    process = await asyncio.create_subprocess_exec(
        PTSP, "projections", "rebuild", "--data-dir", str(system.settings.data_dir),
        env={**os.environ, "DATABASE_URL": database_url}, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE)
    out, err = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode == 0, err.decode()
    assert "case_views: rebuilt from" in out.decode()
    assert "other threads" not in err.decode()
    stored = await system.pool.fetchval(
        "SELECT count(DISTINCT originator_id) FROM applications_events")
    assert await system.pool.fetchval(
        "SELECT count(*) FROM case_views WHERE type = 'application'") == stored


def test_forking_beside_other_threads_is_said(caplog: pytest.LogCaptureFixture) -> None:
    done = threading.Event()
    other = threading.Thread(target=done.wait, name="holds-a-lock-maybe")
    other.start()
    try:
        with caplog.at_level(logging.WARNING, "ptsp.projections"), \
                Folding(None, workers=1):  # type: ignore[arg-type]  # forks on first use only
            pass
    finally:
        done.set()
        other.join()
    assert "holds-a-lock-maybe" in caplog.text and "other threads" in caplog.text
