"""The sign-in lockout, as a pure rule: five wrong passwords within the window lock the
id for a while, the right password included; then the count starts again."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.console.sessions import Failures, LockoutPolicy

T0 = datetime(2026, 3, 16, 2, 0, tzinfo=UTC)
POLICY = LockoutPolicy(max_failures=5, window=timedelta(minutes=15),
                       lock=timedelta(minutes=15))


def failures(*minutes: float) -> Failures | None:
    count: Failures | None = None
    for m in minutes:
        count = POLICY.after_failure(count, T0 + timedelta(minutes=m))
    return count


def test_four_wrong_passwords_do_not_lock() -> None:
    count = failures(0, 1, 2, 3)
    assert count is not None and count.count == 4 and count.locked_until is None
    assert not POLICY.locked(count, T0 + timedelta(minutes=3))


def test_the_fifth_locks_for_the_lock_time() -> None:
    count = failures(0, 1, 2, 3, 4)
    assert count is not None and count.locked_until == T0 + timedelta(minutes=19)
    assert POLICY.locked(count, T0 + timedelta(minutes=18, seconds=59))
    assert not POLICY.locked(count, T0 + timedelta(minutes=19))


def test_failures_further_apart_than_the_window_start_again() -> None:
    count = failures(0, 1, 2, 3, 20)
    assert count is not None and (count.count, count.locked_until) == (1, None)


def test_after_a_lock_the_count_starts_again() -> None:
    count = failures(0, 1, 2, 3, 4, 19, 20)
    assert count is not None and (count.count, count.locked_until) == (2, None)
