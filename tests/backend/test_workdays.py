"""Working days follow the official holiday calendar, including 调休 weekend working days."""

from __future__ import annotations

import datetime as dt

from backend.workdays import add_working_days, working_days_between


def test_national_day_2026_is_skipped() -> None:
    # 国庆/中秋 2026: 10月1日至7日放假; 9月20日（周日）、10月10日（周六）上班.
    deadline = add_working_days(dt.date(2026, 9, 30), 1)
    assert deadline.day == dt.date(2026, 10, 8) and not deadline.provisional


def test_make_up_saturday_counts() -> None:
    # Friday 9 Oct + 1 working day = Saturday 10 Oct, a make-up working day.
    assert add_working_days(dt.date(2026, 10, 9), 1).day == dt.date(2026, 10, 10)


def test_spring_festival_2026() -> None:
    # 春节 2026: 2月15日至23日放假; 2月14日（周六）、2月28日（周六）上班.
    assert add_working_days(dt.date(2026, 2, 13), 1).day == dt.date(2026, 2, 14)
    assert add_working_days(dt.date(2026, 2, 14), 1).day == dt.date(2026, 2, 24)


def test_ordinary_weeks() -> None:
    assert add_working_days(dt.date(2026, 11, 26), 7).day == dt.date(2026, 12, 7)
    assert add_working_days(dt.date(2026, 11, 26), 0).day == dt.date(2026, 11, 26)
    assert working_days_between(dt.date(2026, 11, 26), dt.date(2026, 12, 7)) == 7


def test_a_year_without_calendar_data_is_marked_provisional() -> None:
    deadline = add_working_days(dt.date(2026, 12, 28), 10)
    assert deadline.provisional
    assert deadline.day.year == 2027 and deadline.day.weekday() < 5
