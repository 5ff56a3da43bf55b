"""The /follow pages' addresses: the ticket's page, the case's signed link, placed under FOLLOW_URL."""

from __future__ import annotations

import datetime as dt

import pytest

from vocabulary.follow_urls import (
    case_path,
    case_signature,
    case_signature_valid,
    case_url,
    follow_url,
    ticket_path,
    ticket_url,
)

SECRET = b"follow-secret-for-tests"


def test_a_tickets_page() -> None:
    assert ticket_path(dt.date(2026, 12, 7), "A012") == "/follow/ticket/2026-12-07/A012"
    assert ticket_url("https://centre.example/follow/", dt.date(2026, 12, 7), "A012") == (
        "https://centre.example/follow/ticket/2026-12-07/A012"
    )


def test_a_cases_link_carries_a_signature_only_the_secret_makes() -> None:
    path = case_path(SECRET, "JJ-20261207-0001")
    assert path == f"/follow/case/JJ-20261207-0001?k={case_signature(SECRET, 'JJ-20261207-0001')}"
    signature = path.rsplit("=", 1)[1]
    assert len(signature) == 20 and case_signature_valid(SECRET, "JJ-20261207-0001", signature)
    assert not case_signature_valid(SECRET, "JJ-20261207-0002", signature)
    assert not case_signature_valid(b"another secret", "JJ-20261207-0001", signature)
    assert case_url("http://127.0.0.1:8000/follow", SECRET, "JJ-20261207-0001") == f"http://127.0.0.1:8000{path}"


def test_only_the_follow_pages_are_placed_under_follow_url() -> None:
    with pytest.raises(ValueError):
        follow_url("https://centre.example/follow", "/console/cases")
    with pytest.raises(ValueError):
        follow_url("https://centre.example/follow", "/followers")
