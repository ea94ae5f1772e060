"""Password hashing with argon2id."""

from __future__ import annotations

from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()

MIN_PASSWORD_LENGTH = 8


def hash_password(password: str) -> str:
    """An argon2id hash of ``password`` (salted; two calls give different strings)."""
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Whether ``password`` matches the hash; a user without a hash never matches."""
    if not password_hash:
        return False
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    return _hasher.hash("bridgehead-timing-equaliser")


def burn_verification_time() -> None:
    """Spend the time of one verification, so unknown e-mails answer as slowly as wrong passwords."""
    verify_password(_dummy_hash(), "not the password")
