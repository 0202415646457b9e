"""Token state that the gateway reads from JetStream key-value buckets.

Bucket ``users`` stores, per username, the account's id, role, whether it is active, its token
version and whether it must change its password. Bucket ``revoked`` stores the ``jti`` of each
access token ended by a logout, and the id of each refresh-token family revoked by a logout or
a reused refresh token (key ``sid.<family>``), until the tokens would have expired anyway.
Password and account changes need no family entries, because the new token version already
ends every access token of the user. The gateway watches both buckets, so a change here takes
effect at its next request without a call to this service.
"""

import json
import logging
import uuid
from datetime import datetime, timedelta

from nats.js import JetStreamContext
from nats.js.errors import KeyNotFoundError, NoKeysError
from nats.js.kv import KeyValue

from libs.common.bus import ensure_kv, raise_kv_ttl
from libs.common.names import Names, revoked_family_key
from libs.common.timeutil import utcnow
from services.auth.models import User

logger = logging.getLogger(__name__)

# Extra lifetime of a revocation entry beyond the token's own, for clock differences between hosts.
REVOCATION_MARGIN_SECONDS = 60


def user_state(user: User) -> dict:
    """Return the state the gateway needs to accept or reject a token of ``user``."""
    return {
        "id": user.id,
        "role": user.role,
        "active": user.is_active,
        "ver": user.token_version,
        "must_change_password": user.must_change_password,
    }


class TokenStateStore:
    """Writes user states, revoked token ids and revoked refresh-token families to their buckets."""

    def __init__(self, users: KeyValue, revoked: KeyValue, *, access_token_seconds: int) -> None:
        self.users = users
        self.revoked = revoked
        self.access_token_seconds = access_token_seconds

    @classmethod
    async def open(cls, js: JetStreamContext, names: Names, *, access_token_seconds: int) -> "TokenStateStore":
        """Open both buckets, creating them when missing and lengthening a too-short revocation TTL."""
        ttl = access_token_seconds + REVOCATION_MARGIN_SECONDS
        users = await ensure_kv(js, names.bucket("users"))
        revoked = await ensure_kv(js, names.bucket("revoked"), ttl=ttl)
        await raise_kv_ttl(js, revoked, names.bucket("revoked"), ttl)
        return cls(users, revoked, access_token_seconds=access_token_seconds)

    async def put_user(self, user: User) -> None:
        await self.users.put(user.username, json.dumps(user_state(user)).encode())

    async def delete_user(self, username: str) -> None:
        try:
            await self.users.delete(username)
        except KeyNotFoundError:
            pass

    async def revoke_access_token(self, jti: str, expires_at: datetime) -> None:
        await self.revoked.put(jti, json.dumps({"exp": int(expires_at.timestamp())}).encode())

    async def revoke_family(self, family_id: uuid.UUID) -> None:
        """Mark every access token whose ``sid`` is ``family_id`` as revoked.

        Call it after the family's refresh tokens are revoked in the database, because from then
        on no access token of the family is issued. Every token of the family then expires by
        ``exp``, and the bucket's TTL keeps the entry at least that long.
        """
        expires_at = utcnow() + timedelta(seconds=self.access_token_seconds)
        value = json.dumps({"exp": int(expires_at.timestamp())}).encode()
        await self.revoked.put(revoked_family_key(str(family_id)), value)

    async def sync(self, users: list[User]) -> None:
        """Make the users bucket match the database: write every user, delete stale keys."""
        for user in users:
            await self.put_user(user)

        current = {user.username for user in users}
        try:
            stored = await self.users.keys()
        except NoKeysError:
            stored = []
        for key in stored:
            if key not in current:
                await self.delete_user(key)
        logger.info("user states synced users=%d removed=%d", len(users), len(set(stored) - current))
