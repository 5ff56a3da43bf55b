"""The resident's consent to a social worker's 代办, by a code sent to the resident's phone.

The social worker types the 6-digit code the resident reads out; only then is the case filed. A code:

- is random (`secrets`), valid for ``SMS_CODE_TTL_S`` (10 minutes by default) and for one filing only;
- is stored as a salted SHA-256, and the hash is wiped once the code matched (single use). With a million possible
  codes a hash alone would not stop someone holding the database; what does is the short life and `MAX_ATTEMPTS`
  wrong tries, after which only a new code helps;
- can be sent again after `RESEND_AFTER`, at most `MAX_SENDS` times per filing (a new code each time, so an old
  one read out late no longer works).

These functions change a `VisitFiling` held in the caller's transaction; they never send anything.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from backend.models import VisitFiling, as_utc

CODE_DIGITS = 6
MAX_ATTEMPTS = 5
MAX_SENDS = 5
RESEND_AFTER = dt.timedelta(seconds=60)


class CodeRefused(Exception):
    """The code cannot be accepted (or sent); ``message`` says why in Chinese and what to do."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _hash(salt: str, code: str) -> str:
    return hashlib.sha256(f"{salt}:{code}".encode()).hexdigest()


def issue(filing: VisitFiling, *, now: dt.datetime, ttl: dt.timedelta) -> str:
    """A new code for ``filing`` (its hash stored, the count of wrong tries reset); `CodeRefused` when a code went
    out less than `RESEND_AFTER` ago or `MAX_SENDS` were sent."""
    if filing.verified_at is not None:
        raise CodeRefused("already_confirmed", "居民已经确认过了，不需要再发验证码。")
    sent_at = as_utc(filing.code_sent_at)
    if sent_at is not None and now - sent_at < RESEND_AFTER:
        seconds = int((RESEND_AFTER - (now - sent_at)).total_seconds()) + 1
        raise CodeRefused("too_soon", f"验证码刚发出，请 {seconds} 秒后再重新发送。")
    if filing.code_sends >= MAX_SENDS:
        raise CodeRefused("too_many_sends", f"这次代办已发送 {MAX_SENDS} 次验证码，请放弃后重新填写，或改用签名照片。")
    code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
    salt = secrets.token_hex(8)
    filing.code_hash = f"{salt}${_hash(salt, code)}"
    filing.code_expires_at = now + ttl
    filing.code_sent_at = now
    filing.code_sends += 1
    filing.code_attempts = 0
    return code


def sending_failed(filing: VisitFiling) -> None:
    """The text did not go out: the code is void and a new one may be sent at once."""
    filing.code_hash, filing.code_expires_at, filing.code_sent_at = None, None, None


def verify(filing: VisitFiling, typed: str, *, now: dt.datetime) -> None:
    """Accept ``typed`` for ``filing`` (the consent is then recorded and the code used up) or raise `CodeRefused`,
    counting the wrong try."""
    if filing.case_number is not None or filing.verified_at is not None:
        raise CodeRefused("used", "这个验证码已经用过了，办件已提交。")
    if filing.code_hash is None:
        raise CodeRefused("no_code", "还没有有效的验证码，请点“重新发送验证码”。")
    expires_at = as_utc(filing.code_expires_at)
    if expires_at is None or now >= expires_at:
        raise CodeRefused("expired", "验证码已过期，请点“重新发送验证码”，让居民读出新收到的验证码。")
    if filing.code_attempts >= MAX_ATTEMPTS:
        raise CodeRefused("too_many_attempts", "验证码错误次数过多，请点“重新发送验证码”。")
    salt, _, expected = filing.code_hash.partition("$")
    digits = "".join(ch for ch in typed if not ch.isspace())
    if not (digits.isdigit() and len(digits) == CODE_DIGITS) or not secrets.compare_digest(
        _hash(salt, digits), expected
    ):
        filing.code_attempts += 1
        left = MAX_ATTEMPTS - filing.code_attempts
        if left <= 0:
            raise CodeRefused("too_many_attempts", "验证码错误次数过多，请点“重新发送验证码”。")
        raise CodeRefused("wrong", f"验证码不对，请让居民再读一遍短信里的 6 位数字（还可以试 {left} 次）。")
    filing.verified_at = now
    filing.code_hash = None  # single use: nothing left to match
