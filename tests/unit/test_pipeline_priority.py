"""The pipeline process runs behind the HTTP workers (PTSP_PIPELINE_NICE): the setting
is read with a clear error, and lowering the priority reaches the threads started
after it and never raises a process someone already runs lower."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from services.settings import Settings


def test_the_pipeline_runs_at_nice_10_unless_told_otherwise() -> None:
    assert Settings.from_env({}).pipeline_nice == 10
    assert Settings.from_env({"PTSP_PIPELINE_NICE": "0"}).pipeline_nice == 0
    assert Settings.from_env({"PTSP_PIPELINE_NICE": "19"}).pipeline_nice == 19


@pytest.mark.parametrize(("value", "reason"), [("20", "must be from 0 to 19"),
                                               ("-5", "must be from 0 to 19"),
                                               ("low", "invalid literal")])
def test_a_bad_niceness_is_refused_naming_the_setting(value: str, reason: str) -> None:
    with pytest.raises(ValueError, match=f"PTSP_PIPELINE_NICE='{value}': {reason}"):
        Settings.from_env({"PTSP_PIPELINE_NICE": value})


PROBE = """
import os, sys, threading
from services.processes import lower_priority
lower_priority(int(sys.argv[1]))
seen = []
t = threading.Thread(target=lambda: seen.append(os.getpriority(os.PRIO_PROCESS, 0)))
t.start(); t.join()
print(os.getpriority(os.PRIO_PROCESS, 0), seen[0])
"""


def niceness_after(nice: int, started_at: int = 0) -> tuple[int, int]:
    """(this thread's, a thread started after) niceness in a fresh process started
    `started_at` lower than this one, that lowers itself to `nice`."""
    out = subprocess.run(["nice", "-n", str(started_at), sys.executable, "-c", PROBE,
                          str(nice)], capture_output=True, text=True, check=True, timeout=60)
    main, thread = out.stdout.split()
    return int(main), int(thread)


def expected(nice: int, started_at: int = 0) -> tuple[int, int]:
    """The test may itself run at some niceness (a CI runner's): counted from it."""
    n = max(nice, min(19, os.getpriority(os.PRIO_PROCESS, 0) + started_at))
    return n, n


def test_lowering_the_priority_reaches_threads_started_after_it() -> None:
    assert niceness_after(10) == expected(10)


def test_a_process_already_running_lower_stays_as_low() -> None:
    assert niceness_after(7, started_at=12) == expected(7, 12)
    assert niceness_after(0) == expected(0)


def test_a_process_that_may_not_change_its_priority_still_runs(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    from services import processes

    def refused(*_: int) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(processes.os, "getpriority", lambda *_: 0)
    monkeypatch.setattr(processes.os, "setpriority", refused)
    processes.lower_priority(10)
    assert "could not lower its priority to nice 10" in caplog.text
