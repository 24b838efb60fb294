"""What to do with a workflow run whose worker went quiet: pure decisions, no ORM.

A run commits its annotations, its cursor and its heartbeat once per batch. A heartbeat older
than the limit means the message was lost (queued) or the worker died (running, killed or out
of memory). Such a run is sent again, up to a number of attempts, and goes on after its last
committed batch; after the last attempt it fails, saying where it stopped.
"""

from datetime import datetime, timedelta
from enum import StrEnum

QUEUED, RUNNING = "queued", "running"


class StaleAction(StrEnum):
    WAIT = "wait"  # alive, finished, or not stale yet
    RESEND = "resend"  # queue it again; it goes on from its cursor
    FAIL = "fail"  # out of attempts


def stale_action(
    *,
    status: str,
    heartbeat_at: datetime | None,
    created_at: datetime,
    attempts: int,
    now: datetime,
    stale_after: timedelta,
    max_attempts: int,
) -> StaleAction:
    """A run is stale when its last sign of life (heartbeat, else creation) is older than
    ``stale_after``. A stale queued run lost its message: resend. A stale running run lost its
    worker: resend while it has attempts left (each start of a worker is one), else fail."""
    if status not in (QUEUED, RUNNING):
        return StaleAction.WAIT
    if now - (heartbeat_at or created_at) < stale_after:
        return StaleAction.WAIT
    if status == RUNNING and attempts >= max_attempts:
        return StaleAction.FAIL
    return StaleAction.RESEND


def may_start(
    *,
    status: str,
    heartbeat_at: datetime | None,
    attempts: int,
    now: datetime,
    stale_after: timedelta,
    max_attempts: int,
) -> bool:
    """Whether a delivered task may take the run. A queued run, yes. A running one only when
    its worker went quiet and attempts are left (a message redelivered after a crash);
    a running run with a fresh heartbeat has a live worker on it (a duplicate message)."""
    if status == QUEUED:
        return True
    if status != RUNNING or attempts >= max_attempts:
        return False
    return heartbeat_at is None or now - heartbeat_at >= stale_after


def stopped_message(*, done: int, total: int, attempts: int) -> str:
    tries = "1 attempt" if attempts == 1 else f"{attempts} attempts"
    return (
        f"Stopped after {done:,} of {total:,} inputs: the worker stopped answering "
        f"({tries}). The annotations of those {done:,} are kept; run the workflow again "
        "for the rest."
    )
