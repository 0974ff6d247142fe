"""Waiting storage outages out: how long, and how often to try again (plain, deterministic).

An activity that fails (storage down, throttled, timing out, a host gone) is tried again by the
orchestrator after a durable timer, with capped exponential backoff: 5 s, 10 s, 20 s ... then
every 5 minutes, until `window` has passed since its first failure (`DDD_OUTAGE_WAIT_MINUTES`,
30 minutes by default: AzCopy tries a request 20 times over about as long). The last try is
made at the window's end. A failed attempt's clean-up is waited out for
`CLEANUP_WINDOW_FACTOR` times as long, so it finishes once storage is back.

Times are the orchestration's own (`context.current_utc_datetime`), so replays decide alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

FIRST_WAIT = timedelta(seconds=5)
LONGEST_WAIT = timedelta(minutes=5)
CLEANUP_WINDOW_FACTOR = 4


@dataclass(frozen=True)
class OutageRetry:
    window: timedelta
    first: timedelta = FIRST_WAIT
    longest: timedelta = LONGEST_WAIT

    @classmethod
    def minutes(cls, minutes: int) -> OutageRetry:
        return cls(window=timedelta(minutes=minutes))

    def for_cleanup(self) -> OutageRetry:
        return OutageRetry(window=self.window * CLEANUP_WINDOW_FACTOR, first=self.first,
                           longest=self.longest)

    def wait_after(self, attempt: int, first_failure: datetime,
                   now: datetime) -> timedelta | None:
        """After try number `attempt` failed at `now` (the first failure was at
        `first_failure`): how long to wait before the next try, or None once the window is
        over (the failure is final)."""
        deadline = first_failure + self.window
        if now >= deadline:
            return None
        backoff = min(self.first * 2 ** max(0, attempt - 1), self.longest)
        return min(backoff, deadline - now)

    def gives_up_at(self, first_failure: datetime) -> datetime:
        return first_failure + self.window


def waiting_message(what: str, attempt: int, retry_at: datetime, gives_up_at: datetime,
                    problem: str) -> str:
    """The status while an outage is waited out."""
    return (f"Storage is failing ({what}: {problem}); waiting it out: try {attempt + 1} at "
            f"{retry_at:%H:%M:%S} UTC, giving up at {gives_up_at:%H:%M} UTC.")
