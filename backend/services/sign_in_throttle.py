"""Sign-in throttling per client address: guessing passwords from one place, whichever names it tries, slows down.

The per-account lockout (`backend.services.staff_sessions`) protects one account; this protects all of them from one
address, without telling anything about names (the console names the address: `backend.console.guard.client_address`).
How it works:

- Every try from an address counts as a failure as soon as it is let through (before the password is checked), in
  one short transaction with the address's row locked, so a hundred tries sent at once cannot all slip through
  before the first is counted. A successful sign-in takes its own count back while the address is not yet being
  slowed down (staff behind one office address who sign in all day are never throttled).
- The first `FREE_FAILURES` failures cost nothing. From then on each failure makes the address wait before its next
  try: `BASE_DELAY`, doubling with every further failure, at most `MAX_DELAY`. A try that comes too early is
  refused without looking at the name or the password (429), and does not lengthen the wait.
- An address forgets its failures `FORGET_AFTER` after its last one (and its row goes when a new address comes).
"""

from __future__ import annotations

import datetime as dt
import logging
import math

from sqlalchemy import delete

from backend.db import Database
from backend.models import SignInThrottle, as_utc

logger = logging.getLogger(__name__)

FREE_FAILURES = 10
"""Failed sign-ins from one address before it is slowed down."""
BASE_DELAY = dt.timedelta(seconds=1)
"""The wait after failure number FREE_FAILURES; it doubles with each further failure."""
MAX_DELAY = dt.timedelta(minutes=15)
"""The longest wait between two tries from one address."""
FORGET_AFTER = dt.timedelta(hours=1)
"""An address's failures are forgotten this long after its last one."""


def delay_after(failures: int) -> dt.timedelta | None:
    """How long an address waits after its ``failures``-th failure (None: not at all)."""
    if failures < FREE_FAILURES:
        return None
    doublings = min(failures - FREE_FAILURES, 20)  # 2**20 s is far beyond MAX_DELAY already
    return min(BASE_DELAY * 2**doublings, MAX_DELAY)


async def admit(db: Database, address: str, now: dt.datetime) -> int | None:
    """Let one sign-in try from ``address`` go ahead, counting it as a failure until `succeeded` says otherwise;
    or the seconds it must wait first (the try is then not made)."""
    async with db.write() as session:
        row = await session.get(SignInThrottle, address, with_for_update=True)
        if row is None:
            # A new address is how the table grows: forgotten ones go at the same time.
            await session.execute(delete(SignInThrottle).where(SignInThrottle.last_failure_at < now - FORGET_AFTER))
            row = SignInThrottle(address=address, failures=0, last_failure_at=now, blocked_until=None)
            session.add(row)
        elif now - as_utc(row.last_failure_at) > FORGET_AFTER:
            row.failures, row.blocked_until = 0, None
        blocked_until = as_utc(row.blocked_until)
        if blocked_until is not None and blocked_until > now:
            return max(1, math.ceil((blocked_until - now).total_seconds()))
        row.failures += 1
        row.last_failure_at = now
        delay = delay_after(row.failures)
        row.blocked_until = now + delay if delay else None
        if row.failures == FREE_FAILURES:
            logger.warning("console sign-in: %d failures from %s, slowing it down", row.failures, address)
    return None


async def succeeded(db: Database, address: str) -> None:
    """The try `admit` let through signed in: it takes its count back, unless the address is being slowed down
    already (someone guessing who also holds one good password gains nothing by signing in between guesses)."""
    async with db.write() as session:
        row = await session.get(SignInThrottle, address, with_for_update=True)
        if row is not None and row.failures <= FREE_FAILURES:
            row.failures = max(row.failures - 1, 0)
            if delay_after(row.failures) is None:
                row.blocked_until = None
