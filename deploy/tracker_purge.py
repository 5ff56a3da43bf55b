"""Forget old conversations: delete from Rasa's SQL tracker store every conversation whose last event is older than
the retention period (``bin/jiujin trackers purge --older-than 30d``; ``make run-prod`` runs it daily).

Rasa's ``SQLTrackerStore`` keeps one row per event in the table ``events`` (``sender_id``, ``timestamp`` in Unix
seconds …). A conversation is deleted whole, never cut in the middle: a resident who wrote yesterday keeps the
context of last month's turns until the whole conversation has been quiet for the retention period.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import re
import sys
import time
from dataclasses import dataclass

import sqlalchemy as sa

from backend.db import sync_url

log = logging.getLogger(__name__)

DEFAULT_RETENTION_DAYS = 30
_EVENTS = sa.table("events", sa.column("sender_id", sa.String), sa.column("timestamp", sa.Float))
_AGE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([dhm]?)\s*$")
_UNITS = {"d": "days", "": "days", "h": "hours", "m": "minutes"}


def parse_age(text: str) -> dt.timedelta:
    """``30d``, ``12h``, ``90m`` or a bare number of days; ValueError otherwise (or when not positive)."""
    match = _AGE.match(text.lower())
    if not match or float(match.group(1)) <= 0:
        raise ValueError(f"cannot read the age {text!r}: write e.g. 30d, 12h or 90m")
    return dt.timedelta(**{_UNITS[match.group(2)]: float(match.group(1))})


@dataclass(frozen=True)
class Purged:
    """What one purge deleted."""

    conversations: int
    events: int


def purge(tracker_url: str, older_than: dt.timedelta, *, now: float | None = None) -> Purged:
    """Delete every conversation of ``tracker_url`` whose last event is older than ``older_than``; one transaction,
    so a conversation is either kept whole or deleted whole. A store without the table yet has nothing to purge."""
    cutoff = (time.time() if now is None else now) - older_than.total_seconds()
    engine = sa.create_engine(sync_url(tracker_url), pool_pre_ping=True)
    try:
        if not sa.inspect(engine).has_table("events"):
            return Purged(0, 0)
        stale = (
            sa.select(_EVENTS.c.sender_id)
            .group_by(_EVENTS.c.sender_id)
            .having(sa.func.max(_EVENTS.c.timestamp) < cutoff)
        )
        with engine.begin() as connection:
            # RETURNING: the conversations counted are exactly those deleted, even with Rasa writing meanwhile.
            deleted = connection.execute(
                sa.delete(_EVENTS).where(_EVENTS.c.sender_id.in_(stale)).returning(_EVENTS.c.sender_id)
            ).scalars()
            senders = list(deleted)
        result = Purged(len(set(senders)), len(senders))
        log.info(
            "tracker purge: %d conversations (%d events) older than %s deleted",
            result.conversations,
            result.events,
            older_than,
        )
        return result
    finally:
        engine.dispose()


def main(argv: list[str] | None = None) -> int:
    """``bin/jiujin trackers purge --older-than 30d``: purge the store at TRACKER_DATABASE_URL."""
    parser = argparse.ArgumentParser(prog="jiujin trackers", description="Rasa's stored conversations")
    commands = parser.add_subparsers(dest="command", required=True)
    purge_command = commands.add_parser("purge", help="delete conversations quiet for longer than an age")
    purge_command.add_argument("--older-than", required=True, help="e.g. 30d, 12h or 90m")
    args = parser.parse_args(argv)
    try:
        age = parse_age(args.older_than)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    url = os.environ.get("TRACKER_DATABASE_URL", "").strip()
    if not url:
        print("nothing stored: Rasa keeps conversations in memory here (TRACKER_DATABASE_URL is not set)")
        return 0
    purged = purge(url, age)
    print(f"{purged.conversations} conversations ({purged.events} events) older than {args.older_than} deleted")
    return 0


if __name__ == "__main__":
    sys.exit(main())
