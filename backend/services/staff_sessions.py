"""Sign-in sessions of the staff console: signing in (lockout), the live session of a cookie, signing out, CSRF tokens.

Why it is built this way:

- Passwords are argon2 hashes (`backend.services.passwords`); a hash made with weaker parameters than today's
  defaults is replaced at the next good login.
- `MAX_FAILURES` wrong passwords in a row lock the account for `LOCKOUT` — the right password does not open it
  early, or guessing would simply go on. Every refusal — an unknown or inactive name, a wrong password, a locked
  account — gets the same answer (`REFUSED`, the same status) after the same work (one argon2 verification: of a
  dummy hash for an unknown name, of the account's own hash for a locked one), so nothing tells which names exist or
  which accounts someone is locking. The audit log records the real reason. Tries from one client address are also
  throttled, across accounts (`backend.services.sign_in_throttle`).
- A session is a random 256-bit token in the cookie; the database keeps only its SHA-256, so a copy of the database
  signs nobody in. Signing in always makes a new session and ends the one the browser came with (session
  fixation). Sessions end after `IDLE` without use or `LIFETIME` in all, and at sign-out.
- Each session has its own CSRF token, sent back in every form (synchronizer token); `backend.console.guard`
  checks it on every POST.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import secrets
from dataclasses import dataclass

from sqlalchemy import delete, select

from backend.db import Database
from backend.models import StaffSession, StaffUser, as_utc, utcnow
from backend.services import audit, passwords

log = logging.getLogger(__name__)

MAX_FAILURES = 5
LOCKOUT = dt.timedelta(minutes=15)
IDLE = dt.timedelta(minutes=30)
LIFETIME = dt.timedelta(hours=12)
_NOBODY = passwords.hash_password(secrets.token_hex(16))  # verified for unknown names, to take as long as a real one


@dataclass(frozen=True)
class SignedIn:
    """A live session: its user and the token forms must carry."""

    user: StaffUser
    csrf_token: str
    session_id: int


class LoginRefused(Exception):
    """Wrong name or password, or the account is locked or inactive; ``message`` is what the login page says."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


REFUSED = (
    f"用户名或密码不正确。连续输错 {MAX_FAILURES} 次，账号会锁定 {LOCKOUT.seconds // 60} 分钟；"
    "如果一直登录不上，请联系管理员。"
)
"""The one answer to every refused sign-in, whatever the reason."""


def token_hash(token: str) -> str:
    """What the database keeps of a session's token."""
    return hashlib.sha256(token.encode()).hexdigest()


async def sign_in(db: Database, username: str, password: str, *, replacing: str | None) -> tuple[str, SignedIn]:
    """A new session for a correct name and password: (the cookie's token, the session). ``replacing`` is the
    token the browser came with, whose session ends. Raises `LoginRefused` (after recording the refusal)."""
    now = utcnow()
    async with db.write() as session:
        user = (
            await session.execute(select(StaffUser).where(StaffUser.username == username).with_for_update())
        ).scalar_one_or_none()
        refusal = _refusal(user, password, now)
        if refusal is not None:
            reason = refusal[0]
            detail = {"reason": reason, "failures": user.failed_logins} if user else {"reason": reason}
            audit.record(session, username[:64] or "?", "staff.login_refused", "staff", username[:32], **detail)
        else:
            if passwords.needs_rehash(user.password_hash):
                user.password_hash = passwords.hash_password(password)
            user.failed_logins, user.locked_until, user.last_login_at = 0, None, now
            if replacing:
                await session.execute(delete(StaffSession).where(StaffSession.token_hash == token_hash(replacing)))
            token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
            record = StaffSession(
                token_hash=token_hash(token), user_id=user.id, csrf_token=csrf, created_at=now, last_seen_at=now
            )
            session.add(record)
            audit.record(session, username, "staff.login", "staff", username)
            await session.flush()
            signed_in = SignedIn(user, csrf, record.id)
    if refusal is not None:  # raised after the block, so the failure count and the audit entry are committed
        raise LoginRefused(refusal[1])
    return token, signed_in


def _refusal(user: StaffUser | None, password: str, now: dt.datetime) -> tuple[str, str] | None:
    """(reason, message) when this login must be refused, counting a wrong password; None to let it in. Every
    path verifies one argon2 hash, and every refusal has the same message."""
    if user is None or not user.active:
        passwords.matches(_NOBODY, password)
        return ("unknown" if user is None else "inactive"), REFUSED
    matches = passwords.matches(user.password_hash, password)  # also when locked: the same work as any other try
    locked_until = as_utc(user.locked_until)
    if locked_until is not None and locked_until > now:
        return "locked", REFUSED
    if matches:
        return None
    user.failed_logins += 1
    if user.failed_logins < MAX_FAILURES:
        return "password", REFUSED
    user.locked_until, user.failed_logins = now + LOCKOUT, 0
    return "locked_now", REFUSED


async def current(db: Database, token: str | None) -> SignedIn | None:
    """The live session of ``token`` (its last use moved to now), or None."""
    if not token:
        return None
    now = utcnow()
    async with db.write() as session:
        found = (
            await session.execute(
                select(StaffSession, StaffUser)
                .join(StaffUser, StaffUser.id == StaffSession.user_id)
                .where(StaffSession.token_hash == token_hash(token))
            )
        ).one_or_none()
        if found is None:
            return None
        record, user = found
        expired = now - as_utc(record.last_seen_at) > IDLE or now - as_utc(record.created_at) > LIFETIME
        if expired or not user.active:
            await session.delete(record)
            return None
        record.last_seen_at = now
        return SignedIn(user, record.csrf_token, record.id)


async def sign_out(db: Database, token: str | None) -> None:
    """End the session of ``token`` (audited); nothing when there is none."""
    if not token:
        return
    async with db.write() as session:
        record = (
            await session.execute(select(StaffSession).where(StaffSession.token_hash == token_hash(token)))
        ).scalar_one_or_none()
        if record is not None:
            user = await session.get(StaffUser, record.user_id)
            audit.record(session, user.username if user else "?", "staff.logout", "staff", record.user_id)
            await session.delete(record)


def tokens_match(expected: str, sent: str | None) -> bool:
    """Constant-time comparison of a CSRF token with the one a form sent."""
    return bool(expected) and bool(sent) and secrets.compare_digest(expected.encode(), sent.encode())
