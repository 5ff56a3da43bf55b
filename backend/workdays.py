"""Working days on China's official holiday calendar (the `chinese-calendar` package).

The State Council publishes each year's holidays and make-up working days (调休) late in the year before,
and `chinese-calendar` follows with a release. For a year it has no data for yet, weekdays count as
working days and the result is marked provisional, so a deadline is never silently wrong; upgrading
the package makes it exact.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

import chinese_calendar

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Deadline:
    """The last working day of a promised period, and whether the calendar was complete for it."""

    day: dt.date
    provisional: bool


def is_working_day(day: dt.date) -> tuple[bool, bool]:
    """(is a working day, known from the official calendar)."""
    try:
        return chinese_calendar.is_workday(day), True
    except NotImplementedError:
        return day.weekday() < 5, False


def add_working_days(start: dt.date, days: int) -> Deadline:
    """The ``days``-th working day after ``start`` (the day of acceptance itself does not count)."""
    if days < 0:
        raise ValueError("days must not be negative")
    day = start
    counted = 0
    provisional = False
    while counted < days:
        day += dt.timedelta(days=1)
        working, known = is_working_day(day)
        provisional = provisional or not known
        if working:
            counted += 1
    if provisional:
        logger.warning("holiday calendar has no data for %s; deadline %s counts weekdays only", day.year, day)
    return Deadline(day=day, provisional=provisional)


def working_days_between(start: dt.date, end: dt.date) -> int:
    """Working days after ``start`` up to and including ``end`` (0 when end <= start)."""
    count = 0
    day = start
    while day < end:
        day += dt.timedelta(days=1)
        if is_working_day(day)[0]:
            count += 1
    return count
