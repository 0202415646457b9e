"""Token state that the gateway reads from JetStream key-value buckets.

Bucket ``users`` stores, per username, the account's id, role, whether it is active, its token
version and whether it must change its password. Bucket ``revoked`` stores the ``jti`` of each
access token ended by a logout, until the token would have expired anyway. The gateway watches
both, so a change here takes effect at its next request without a call to this service.
"""

import json
import logging
from datetime import datetime

from nats.js import JetStreamContext
from nats.js.errors import KeyNotFoundError, NoKeysError
from nats.js.kv import KeyValue

from libs.common.bus import ensure_kv
from libs.common.names import Names
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
    """Writes user states and revoked token ids to their buckets."""

    def __init__(self, users: KeyValue, revoked: KeyValue) -> None:
        self.users = users
        self.revoked = revoked

    @classmethod
    async def open(cls, js: JetStreamContext, names: Names, *, access_token_seconds: int) -> "TokenStateStore":
        """Open both buckets, creating them when missing and lengthening a too-short revocation TTL."""
        ttl = access_token_seconds + REVOCATION_MARGIN_SECONDS
        users = await ensure_kv(js, names.bucket("users"))
        revoked = await ensure_kv(js, names.bucket("revoked"), ttl=ttl)
        await _ensure_min_ttl(js, names.bucket("revoked"), revoked, ttl)
        return cls(users, revoked)

    async def put_user(self, user: User) -> None:
        await self.users.put(user.username, json.dumps(user_state(user)).encode())

    async def delete_user(self, username: str) -> None:
        try:
            await self.users.delete(username)
        except KeyNotFoundError:
            pass

    async def revoke_access_token(self, jti: str, expires_at: datetime) -> None:
        await self.revoked.put(jti, json.dumps({"exp": int(expires_at.timestamp())}).encode())

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


async def _ensure_min_ttl(js: JetStreamContext, bucket: str, kv: KeyValue, ttl: float) -> None:
    status = await kv.status()
    if status.ttl is not None and 0 < status.ttl < ttl:
        config = status.stream_info.config
        config.max_age = ttl
        await js.update_stream(config)
        logger.warning("revocation bucket ttl raised bucket=%s old=%.0fs new=%.0fs", bucket, status.ttl, ttl)
