"""Password hashing (argon2id), access tokens (HS256 JWT) and opaque refresh tokens."""

import asyncio
import hashlib
import secrets
import string
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import jwt
from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError

from libs.common.timeutil import utcnow
from services.auth.config import AuthSettings

ACCESS_TOKEN_TYPE = "access"  # noqa: S105 - a claim value, not a secret
JWT_ALGORITHM = "HS256"
REFRESH_TOKEN_BYTES = 32
ONE_TIME_PASSWORD_LENGTH = 16


class Passwords:
    """Argon2id hashing; ``hash`` and ``verify`` run in a worker thread, so the event loop keeps serving."""

    def __init__(self, settings: AuthSettings) -> None:
        self._hasher = PasswordHasher(
            time_cost=settings.argon2_time_cost,
            memory_cost=settings.argon2_memory_kib,
            parallelism=settings.argon2_parallelism,
            type=Type.ID,
        )
        # Verifying against this hash when the user does not exist takes as long as a real
        # check, so response time does not reveal which usernames exist.
        self._dummy_hash = self._hasher.hash(secrets.token_urlsafe(16))

    async def hash(self, password: str) -> str:
        return await asyncio.to_thread(self._hasher.hash, password)

    async def verify(self, password_hash: str | None, password: str) -> bool:
        """Check ``password``; with ``password_hash`` None, spend the same time and return False."""
        return await asyncio.to_thread(self._verify_sync, password_hash, password)

    def needs_rehash(self, password_hash: str) -> bool:
        return self._hasher.check_needs_rehash(password_hash)

    def _verify_sync(self, password_hash: str | None, password: str) -> bool:
        try:
            matched = self._hasher.verify(password_hash or self._dummy_hash, password)
        except (VerificationError, InvalidHashError):
            return False
        return matched and password_hash is not None


@dataclass(frozen=True)
class AccessToken:
    """A signed access token and the claims the auth service keeps track of."""

    token: str
    jti: str
    expires_at: datetime


def issue_access_token(
    *,
    secret: str,
    user_id: int,
    username: str,
    token_version: int,
    session_id: uuid.UUID | None,
    lifetime_seconds: int,
) -> AccessToken:
    """Sign an access token; ``ver`` must match the user's token version for the token to be accepted."""
    issued_at = utcnow()
    expires_at = issued_at + timedelta(seconds=lifetime_seconds)
    jti = uuid.uuid4().hex
    claims = {
        "sub": str(user_id),
        "username": username,
        "jti": jti,
        "iat": int(issued_at.timestamp()),
        "exp": int(expires_at.timestamp()),
        "typ": ACCESS_TOKEN_TYPE,
        "ver": token_version,
    }
    if session_id is not None:
        claims["sid"] = str(session_id)
    token = jwt.encode(claims, secret, algorithm=JWT_ALGORITHM)
    return AccessToken(token=token, jti=jti, expires_at=expires_at)


def new_refresh_token() -> str:
    """Return a random opaque refresh token (256 bits, URL-safe)."""
    return secrets.token_urlsafe(REFRESH_TOKEN_BYTES)


def hash_refresh_token(token: str) -> str:
    """Return the SHA-256 hex digest under which a refresh token is stored.

    A fast hash is enough here because the token is 256 random bits, not a guessable password.
    """
    return hashlib.sha256(token.encode()).hexdigest()


def new_one_time_password() -> str:
    """Return a random password that passes the strength rules (upper, lower, digit, 16 chars)."""
    alphabet = string.ascii_letters + string.digits
    while True:
        candidate = "".join(secrets.choice(alphabet) for _ in range(ONE_TIME_PASSWORD_LENGTH))
        if (
            any(ch.islower() for ch in candidate)
            and any(ch.isupper() for ch in candidate)
            and any(ch.isdigit() for ch in candidate)
        ):
            return candidate
