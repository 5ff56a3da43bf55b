"""Staff passwords: argon2 hashes (argon2-cffi's defaults) and the lengths every way of setting one accepts."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

MIN_PASSWORD_LENGTH = 8
"""For every way an account gets a password: `bin/jiujin staff add` and the admin pages."""
MAX_PASSWORD_LENGTH = 200
"""The login form reads at most this many characters, so a longer password could never sign in."""
_hasher = PasswordHasher()


def hash_password(password: str) -> str:
    """An argon2 hash of ``password`` with today's parameters (for new accounts and resets)."""
    return _hasher.hash(password)


def matches(password_hash: str, password: str) -> bool:
    """True when ``password`` is the one ``password_hash`` was made from."""
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """True when ``password_hash`` was made with weaker parameters than today's."""
    return _hasher.check_needs_rehash(password_hash)
