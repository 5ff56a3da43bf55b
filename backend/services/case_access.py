"""Whose case is whose: the one decision of who may read a case's progress, for the actions, the API and the pages.

A case is shown only to its owner, who proves it in one of three ways:

- the WeChat follower who filed it (the OpenID recorded on the case; WeChat's signature vouches for it);
- its case number with the last four digits of the phone given at filing;
- its case number with the 6-digit 查询码 printed on its 受理回执 (an HMAC of the case number under the follow secret,
  so it cannot be worked out from the number).

Never for a bare ID number or a bare case number: case numbers are sequential and ID numbers are known to many.
Invariants: an unknown case, a wrong code and a locked case get the same ``not_found`` answer, so nobody can tell
which numbers exist; every wrong code for an existing case counts (a named counter per case and day), and after
``MAX_WRONG_CODES`` in a day the case is locked for the rest of that day, even to the right code (the owner can still
ask on WeChat or at the window). A follower's OpenID never counts as a wrong code: it is not a guess.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import re
from dataclasses import dataclass

from sqlalchemy import select

from backend.db import Database
from backend.errors import ApiError, not_found
from backend.models import Case, Counter
from backend.services.sequences import next_value
from vocabulary.case_numbers import is_case_number
from vocabulary.phones import is_mobile_number

logger = logging.getLogger(__name__)

MAX_WRONG_CODES = 5
"""Wrong codes for one case in one day before its lookups are refused for the rest of that day."""
RECEIPT_CODE_DIGITS = 6
PHONE_DIGITS = 4


@dataclass(frozen=True)
class Proof:
    """What a caller offers to show they own a case; any one that matches is enough."""

    phone_last4: str | None = None
    receipt_code: str | None = None
    wechat_openid: str | None = None

    @property
    def has_code(self) -> bool:
        """A code was given (the phone's last four digits or the receipt's 查询码): a wrong one is counted."""
        return bool(self.phone_last4 or self.receipt_code)


def proof_from_code(code: str | None, *, wechat_openid: str | None = None) -> Proof:
    """The resident's one answer to "手机号后四位，或回执上的查询码": 4 digits are the phone's, 6 the receipt's; a whole
    mobile number gives its last four. Anything else is kept as a (wrong) receipt code, so it is counted too."""
    digits = re.sub(r"[\s-]", "", code or "")
    if not digits:
        return Proof(wechat_openid=wechat_openid)
    if len(digits) == PHONE_DIGITS and digits.isdigit():
        return Proof(phone_last4=digits, wechat_openid=wechat_openid)
    if is_mobile_number(digits):
        return Proof(phone_last4=digits[-PHONE_DIGITS:], wechat_openid=wechat_openid)
    return Proof(receipt_code=digits[:16], wechat_openid=wechat_openid)


def receipt_code(secret: bytes, case_number: str) -> str:
    """The 查询码 printed on a case's 受理回执: 6 digits from an HMAC of the case number (not its page's signature, so
    the code and the link can be replaced independently)."""
    digest = hmac.new(secret, f"receipt-code:{case_number}".encode(), hashlib.sha256).digest()
    return f"{int.from_bytes(digest[:8], 'big') % 10**RECEIPT_CODE_DIGITS:0{RECEIPT_CODE_DIGITS}d}"


def no_such_case() -> ApiError:
    """The one answer for an unknown case, a wrong code and a locked case."""
    return not_found("case_not_found", "没有查到这个办件。请核对办件编号，以及手机号后四位或回执上的查询码。")


def _failures_counter(case_number: str, today: dt.date) -> str:
    return f"case-lookup-wrong:{case_number}:{today:%Y%m%d}"


def _phone_last4(case: Case) -> list[str]:
    """The last four digits of the phones given at filing: the resident's, and the proxy's for a 代办 case."""
    phones = [case.resident.phone if case.resident else None, case.proxy_phone]
    return [phone[-PHONE_DIGITS:] for phone in phones if phone and len(phone) >= PHONE_DIGITS]


def _filed_by_follower(case: Case, proof: Proof) -> bool:
    return bool(proof.wechat_openid and case.wechat_openid) and hmac.compare_digest(
        str(proof.wechat_openid), str(case.wechat_openid)
    )


def _code_matches(case: Case, proof: Proof, secret: bytes) -> bool:
    if proof.phone_last4 and any(hmac.compare_digest(proof.phone_last4, last4) for last4 in _phone_last4(case)):
        return True
    return bool(proof.receipt_code) and hmac.compare_digest(proof.receipt_code, receipt_code(secret, case.case_number))


async def owned_case(db: Database, case_number: str, proof: Proof, *, secret: bytes, today: dt.date) -> Case:
    """The case when ``proof`` shows the caller owns it, else ``no_such_case()`` (whatever the reason)."""
    number = case_number.strip().upper()
    if not is_case_number(number) or not (proof.has_code or proof.wechat_openid):
        raise no_such_case()
    counter = _failures_counter(number, today)
    async with db.read() as session:
        case = (await session.execute(select(Case).where(Case.case_number == number))).scalar_one_or_none()
        wrong = (await session.execute(select(Counter.value).where(Counter.name == counter))).scalar_one_or_none()
    if case is None:
        raise no_such_case()
    if _filed_by_follower(case, proof):
        return case
    if int(wrong or 0) >= MAX_WRONG_CODES:
        logger.warning("case %s: lookup refused, locked for today after %d wrong codes", number, wrong)
        raise no_such_case()
    if _code_matches(case, proof, secret):
        return case
    if proof.has_code:
        async with db.write() as session:
            wrong = await next_value(session, counter)
        if wrong >= MAX_WRONG_CODES:
            logger.warning("case %s: %d wrong codes today, lookups locked until tomorrow", number, wrong)
    raise no_such_case()


async def cases_of_follower(db: Database, wechat_openid: str, *, limit: int = 3) -> list[Case]:
    """The follower's own cases (filed from their WeChat), newest first."""
    async with db.read() as session:
        statement = (
            select(Case)
            .where(Case.wechat_openid == wechat_openid)
            .order_by(Case.created_at.desc(), Case.id.desc())
            .limit(limit)
        )
        return list((await session.execute(statement)).unique().scalars())
