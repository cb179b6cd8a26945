"""Password hashing (argon2id) and strength checks (zxcvbn's common-password lists)."""

from __future__ import annotations

from functools import cache
from typing import Literal

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

MIN_LENGTH = 8
MAX_LENGTH = 128
MIN_SCORE = 2  # zxcvbn: 0-1 are "too guessable" / "very guessable"

PasswordCost = Literal["standard", "minimal"]

_HASHERS: dict[PasswordCost, PasswordHasher] = {
    # OWASP's argon2id minimum is m=19 MiB, t=2, p=1; we use more memory and time.
    "standard": PasswordHasher(time_cost=3, memory_cost=64 * 1024, parallelism=1),
    # The least argon2id allows, for the test suite only (its thousand sign-ins would spend
    # minutes hashing); Settings.problems refuses it in production.
    "minimal": PasswordHasher(time_cost=1, memory_cost=8, parallelism=1),
}


@cache
def _dummy_hash(cost: PasswordCost) -> str:
    """Verifying against this keeps an unknown email as slow as a wrong password (made on first
    use, not at import: hashing is slow on purpose)."""
    return _HASHERS[cost].hash("carebridge-timing-equaliser")


def hash_password(password: str, *, cost: PasswordCost) -> str:
    """``cost``: the settings' ``password_hash_cost``."""
    return _HASHERS[cost].hash(password)


def verify_password(password_hash: str | None, password: str, *, cost: PasswordCost) -> bool:
    """Check ``password``; with no hash (unknown account) spend the same time and fail. A hash
    carries its own parameters: ``cost`` only sets the time an unknown account spends."""
    try:
        return (
            _HASHERS[cost].verify(password_hash or _dummy_hash(cost), password)
            and password_hash is not None
        )
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str, *, cost: PasswordCost) -> bool:
    """Whether the hash was made with other parameters than ``cost``'s (then it is redone at
    sign-in)."""
    return _HASHERS[cost].check_needs_rehash(password_hash)


def password_problem(password: str, *, context: list[str] | None = None) -> str | None:
    """Why ``password`` is not acceptable, or None. ``context`` holds the user's own words
    (email, name) that a password must not lean on."""
    if len(password) < MIN_LENGTH:
        return f"Use at least {MIN_LENGTH} characters."
    if len(password) > MAX_LENGTH:
        return f"Use at most {MAX_LENGTH} characters."
    from zxcvbn import zxcvbn  # its word lists load on first use, not at start-up

    result = zxcvbn(password[:100], user_inputs=context or [])
    if result["score"] < MIN_SCORE:
        feedback = result["feedback"]
        reason = feedback.get("warning") or "This password is too easy to guess."
        hints = " ".join(feedback.get("suggestions") or [])
        return f"{reason} {hints}".strip()
    return None
