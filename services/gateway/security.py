"""Access-token verification at the gateway, against a local copy of the auth service's token state.

The auth service signs access tokens and keeps two JetStream key-value buckets: ``users``
(per username: id, role, active, token version, must-change-password) and ``revoked`` (the
``jti`` of each logged-out token and, as ``sid.<family>``, each revoked refresh-token family).
The gateway watches both. It accepts a token only when its signature, type and expiry are
valid and neither its ``jti`` nor its ``sid`` is revoked. Its user must also exist, be active
and still have the token version the token was issued with. The role comes from the bucket,
never from the token, so a role change applies at the next request.
"""

import asyncio
import contextlib
import json
import logging
import time
from dataclasses import dataclass

import jwt
from nats.js import JetStreamContext
from nats.js.errors import BucketNotFoundError, InvalidKeyError, KeyNotFoundError
from nats.js.kv import KeyValue

from libs.common.errors import Unauthorized
from libs.common.names import Names, revoked_family_key
from libs.common.rpc import Principal
from services.gateway.errors import service_unavailable

logger = logging.getLogger(__name__)

JWT_ALGORITHM = "HS256"
ACCESS_TOKEN_TYPE = "access"  # noqa: S105 - a claim value, not a secret
REQUIRED_CLAIMS = ["sub", "username", "jti", "exp", "iat", "typ"]
ROLES = ("admin", "operator", "observer")
KV_DELETE_OPERATIONS = ("DEL", "PURGE")
WATCH_RETRY_SECONDS = 0.5
# A request that arrives while the token state is still loading waits this long before 503.
READY_WAIT_SECONDS = 5.0
PRUNE_MARGIN_SECONDS = 600
VERIFIED_CACHE_SIZE = 10_000


@dataclass(frozen=True)
class UserState:
    """The auth service's view of one account, as stored in the ``users`` bucket."""

    user_id: int
    role: str
    active: bool
    token_version: int
    must_change_password: bool
    revision: int

    @classmethod
    def parse(cls, data: bytes, revision: int) -> "UserState | None":
        try:
            value = json.loads(data)
            return cls(
                user_id=int(value["id"]),
                role=str(value["role"]),
                active=bool(value["active"]),
                token_version=int(value["ver"]),
                must_change_password=bool(value.get("must_change_password", False)),
                revision=revision,
            )
        except (ValueError, KeyError, TypeError):
            logger.warning("user state ignored: malformed value revision=%d", revision)
            return None


@dataclass(frozen=True)
class VerifiedToken:
    """A token that passed every check, with the caller it identifies."""

    principal: Principal
    jti: str
    issued_at: int
    expires_at: int
    session_id: str | None
    must_change_password: bool


class TokenState:
    """Local copies of the ``users`` and ``revoked`` buckets, kept current by watchers."""

    def __init__(self, js: JetStreamContext, names: Names) -> None:
        self.js = js
        self.names = names
        self.users: dict[str, UserState] = {}
        self.revoked: dict[str, int] = {}
        self.ready = asyncio.Event()
        self._users_kv: KeyValue | None = None
        self._tasks: list[asyncio.Task] = []
        self._next_prune = 1000

    async def start(self) -> None:
        """Watch both buckets in the background; ``ready`` is set once both initial copies are loaded."""
        self._tasks = [asyncio.create_task(self._run(), name="token-state")]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def user(self, username: str) -> UserState | None:
        """Return the state of ``username``; on a miss, read the bucket directly (a user just created)."""
        state = self.users.get(username)
        if state is not None:
            return state
        return await self.refresh_user(username)

    async def refresh_user(self, username: str) -> UserState | None:
        """Read one user's state from the bucket now, so that this replica applies a change it just forwarded."""
        if self._users_kv is None:
            raise service_unavailable("auth")
        try:
            entry = await self._users_kv.get(username)
        except (KeyNotFoundError, InvalidKeyError):
            self.users.pop(username, None)
            return None
        except Exception as error:
            logger.warning("user state read failed username=%s error=%s", username, type(error).__name__)
            raise service_unavailable("auth") from error
        self._apply_user(username, entry.value, entry.revision, entry.operation)
        return self.users.get(username)

    def revoke_locally(self, jti: str, expires_at: int) -> None:
        """Record a revocation this replica just forwarded, before its watcher delivers it."""
        self._add_revoked(jti, expires_at)

    def revoke_family_locally(self, family_id: str, expires_at: int) -> None:
        """Record a family revocation this replica just forwarded, before its watcher delivers it."""
        self._add_revoked(revoked_family_key(family_id), expires_at)

    def is_revoked(self, jti: str) -> bool:
        return jti in self.revoked

    def is_family_revoked(self, family_id: str) -> bool:
        return revoked_family_key(family_id) in self.revoked

    def _add_revoked(self, key: str, expires_at: int) -> None:
        # Keep the later expiry: the watcher's entry from the auth service may arrive first.
        self.revoked[key] = max(expires_at, self.revoked.get(key, expires_at))
        if len(self.revoked) >= self._next_prune:
            # Entries of tokens that have expired are useless: the expiry check rejects those tokens.
            now = time.time() - PRUNE_MARGIN_SECONDS
            self.revoked = {key: expiry for key, expiry in self.revoked.items() if expiry >= now}
            self._next_prune = 2 * len(self.revoked) + 1000

    async def _run(self) -> None:
        while True:
            try:
                users_kv = await self.js.key_value(self.names.bucket("users"))
                revoked_kv = await self.js.key_value(self.names.bucket("revoked"))
            except BucketNotFoundError:
                logger.info("token state buckets missing; waiting for the auth service to create them")
                await asyncio.sleep(WATCH_RETRY_SECONDS)
                continue
            except Exception as error:
                logger.warning("token state buckets unavailable error=%s", type(error).__name__)
                await asyncio.sleep(WATCH_RETRY_SECONDS)
                continue

            self._users_kv = users_kv
            loaded = {"users": asyncio.Event(), "revoked": asyncio.Event()}
            watchers = [
                asyncio.create_task(self._watch(users_kv, self._apply_user, loaded["users"])),
                asyncio.create_task(self._watch(revoked_kv, self._apply_revoked, loaded["revoked"])),
            ]
            try:
                await asyncio.gather(loaded["users"].wait(), loaded["revoked"].wait())
                self.ready.set()
                logger.info("token state loaded users=%d revoked=%d", len(self.users), len(self.revoked))
                await asyncio.gather(*watchers)
            except asyncio.CancelledError:
                raise
            except Exception as error:
                logger.warning("token state watch failed; restarting error=%s", error)
                await asyncio.sleep(WATCH_RETRY_SECONDS)
            finally:
                for watcher in watchers:
                    watcher.cancel()
                await asyncio.gather(*watchers, return_exceptions=True)

    async def _watch(self, kv: KeyValue, apply, loaded: asyncio.Event) -> None:
        watcher = await kv.watchall()
        try:
            async for entry in watcher:
                if entry is None:
                    loaded.set()  # the watcher has delivered every value stored before it started
                    continue
                apply(entry.key, entry.value, entry.revision, entry.operation)
        finally:
            with contextlib.suppress(Exception):
                await watcher.stop()

    def _apply_user(self, username: str, value: bytes | None, revision: int, operation: str | None) -> None:
        current = self.users.get(username)
        if current is not None and current.revision >= revision:
            return  # an older revision delivered after a direct read of a newer one
        if operation in KV_DELETE_OPERATIONS:
            self.users.pop(username, None)
            return
        state = UserState.parse(value or b"", revision)
        if state is not None:
            self.users[username] = state

    def _apply_revoked(self, key: str, value: bytes | None, revision: int, operation: str | None) -> None:
        if operation in KV_DELETE_OPERATIONS:
            return  # expiry of the entry; the tokens it names have expired too
        try:
            expires_at = int(json.loads(value or b"{}")["exp"])
        except (ValueError, TypeError, KeyError):
            expires_at = int(time.time()) + 24 * 3600  # unknown expiry: keep the entry a day
        self._add_revoked(key, expires_at)


class TokenVerifier:
    """Checks access tokens: signature and claims locally, then the user's state and revocation."""

    def __init__(self, secret: str, state: TokenState, leeway_seconds: int) -> None:
        self.secret = secret
        self.state = state
        self.leeway = leeway_seconds
        # Claims of tokens whose signature was checked, so a client's next requests skip the HMAC
        # and JSON work. Revocation and user state are checked on every request all the same.
        self._verified: dict[str, dict] = {}

    async def verify(self, token: str) -> VerifiedToken:
        """Return the verified token; raise ``Unauthorized("invalid_token")`` for any failed check."""
        claims = self._decode(token)
        if not self.state.ready.is_set():
            try:
                await asyncio.wait_for(self.state.ready.wait(), timeout=READY_WAIT_SECONDS)
            except TimeoutError:
                raise service_unavailable("auth") from None
        session_id = claims.get("sid") if isinstance(claims.get("sid"), str) else None
        if self.state.is_revoked(claims["jti"]):
            raise Unauthorized("invalid_token")
        if session_id is not None and self.state.is_family_revoked(session_id):
            raise Unauthorized("invalid_token")

        user = await self.state.user(claims["username"])
        if user is None or user.user_id != claims["sub"] or not user.active:
            raise Unauthorized("invalid_token")
        if user.token_version != claims["ver"] or user.role not in ROLES:
            raise Unauthorized("invalid_token")

        principal = Principal(user_id=user.user_id, username=claims["username"], role=user.role)
        return VerifiedToken(
            principal=principal,
            jti=claims["jti"],
            issued_at=int(claims["iat"]),
            expires_at=claims["exp"],
            session_id=session_id,
            must_change_password=user.must_change_password,
        )

    def _decode(self, token: str) -> dict:
        """Return the claims of ``token``, from the cache of verified tokens while it has not expired."""
        claims = self._verified.get(token)
        if claims is None:
            claims = self._decode_signed(token)
            if len(self._verified) >= VERIFIED_CACHE_SIZE:
                self._verified.pop(next(iter(self._verified)))  # the oldest entry
            self._verified[token] = claims
        elif claims["exp"] + self.leeway < time.time():
            del self._verified[token]
            raise Unauthorized("invalid_token")
        return claims

    def _decode_signed(self, token: str) -> dict:
        """Check signature (HS256 only, so ``alg: none`` fails), expiry and claim types."""
        try:
            claims = jwt.decode(
                token,
                self.secret,
                algorithms=[JWT_ALGORITHM],
                options={"require": REQUIRED_CLAIMS},
                leeway=self.leeway,
            )
        except jwt.PyJWTError:
            raise Unauthorized("invalid_token") from None

        valid = (
            claims.get("typ") == ACCESS_TOKEN_TYPE
            and isinstance(claims.get("sub"), str)
            and claims["sub"].isascii()
            and claims["sub"].isdigit()
            and len(claims["sub"]) <= 12
            and isinstance(claims.get("username"), str)
            and isinstance(claims.get("jti"), str)
            and isinstance(claims.get("ver"), int)
            and isinstance(claims.get("exp"), int)
        )
        if not valid:
            raise Unauthorized("invalid_token")
        claims["sub"] = int(claims["sub"])
        return claims
