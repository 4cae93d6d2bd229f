"""Password hashing with Argon2id (argon2-cffi): memory-hard, salted, parameters in the hash."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from qa_pipeline.errors import E, InputError

MIN_LENGTH = 8
MAX_LENGTH = 1024
_HASHER = PasswordHasher()  # argon2id, 64 MiB, 3 passes: the library's RFC 9106 low-memory profile


def check_strength(password: str) -> str:
    """``password`` unchanged, or :class:`InputError` when it is too short or absurdly long."""
    if not MIN_LENGTH <= len(password) <= MAX_LENGTH:
        detail = f"a password needs {MIN_LENGTH} to {MAX_LENGTH} characters, got {len(password)}"
        raise InputError(E.BAD_REQUEST, detail, field="password")
    return password


def hash_password(password: str) -> str:
    return _HASHER.hash(check_strength(password))


def verify_password(stored_hash: str | None, password: str) -> bool:
    """Whether ``password`` matches; False for users without a password and for malformed hashes."""
    if not stored_hash or len(password) > MAX_LENGTH:
        return False
    try:
        return _HASHER.verify(stored_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
