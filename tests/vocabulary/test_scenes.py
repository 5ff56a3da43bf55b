"""QR scenes: a ticket's scene is signed with the follow secret, fits WeChat's limit, and only the signer's verifies."""

from __future__ import annotations

import datetime as dt

from hypothesis import given
from hypothesis import strategies as st

from vocabulary.scenes import (
    MAX_SCENE_LENGTH,
    SIGNATURE_LENGTH,
    ScannedTicket,
    parse_ticket,
    signature_valid,
    ticket_in_scene,
    ticket_scene,
    ticket_signature,
)
from vocabulary.tickets import CATEGORIES, format_ticket_number

secrets = st.binary(min_size=16, max_size=64)
days = st.dates(min_value=dt.date(2020, 1, 1), max_value=dt.date(2099, 12, 31))
numbers = st.builds(format_ticket_number, st.sampled_from(CATEGORIES), st.integers(1, 9_999_999))


@given(secrets, days, numbers)
def test_a_signed_scene_fits_wechat_and_reads_back_as_its_ticket(secret: bytes, day: dt.date, number: str) -> None:
    scene = ticket_scene(secret, day, number)
    assert len(scene) <= MAX_SCENE_LENGTH
    value = ticket_in_scene(scene)
    assert value is not None
    ticket = parse_ticket(value)
    assert ticket == ScannedTicket(day, number, ticket_signature(secret, day, number))
    assert len(ticket.signature) == SIGNATURE_LENGTH and set(ticket.signature) <= set("abcdefghijklmnop")
    assert signature_valid(secret, day, number, ticket.signature)


@given(secrets, secrets, days, numbers)
def test_a_signature_is_valid_for_its_own_secret_day_and_number_only(
    secret: bytes, other_secret: bytes, day: dt.date, number: str
) -> None:
    signature = ticket_signature(secret, day, number)
    assert signature_valid(secret, day, number, signature)
    assert not signature_valid(secret, day + dt.timedelta(days=1), number, signature)
    other_number = f"{number[0]}{int(number[1:]) % 9_999_999 + 1:03d}"
    assert not signature_valid(secret, day, other_number, signature)
    if other_secret != secret:
        assert not signature_valid(other_secret, day, number, signature)


def test_other_scenes_name_no_ticket() -> None:
    secret = b"s" * 32
    signed = ticket_scene(secret, dt.date(2026, 11, 27), "A012")
    for scene in ("queue", "item_pension_enrollment", "ticket_20261127_A012", signed.upper(), signed[:-1], ""):
        assert ticket_in_scene(scene) is None
    assert parse_ticket("20261341_A012_" + "a" * SIGNATURE_LENGTH) is None  # no such day
    assert parse_ticket("20261127_A012") is None  # unsigned
