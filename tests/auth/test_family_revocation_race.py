"""A refresh-token family revoked while a refresh of it is still in its transaction stays revoked.

Each test keeps a rotation's transaction open in this process, against the database and NATS
of the running auth service, starts a revocation of the same family, and only then commits the
rotation. The refresh token that the rotation inserted must end up revoked as well.
"""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import nats
import pytest

from libs.common.db import Database
from libs.common.errors import Unauthorized
from libs.common.names import Names
from libs.common.rpc import Principal
from services.auth import sessions
from services.auth.config import AuthSettings
from services.auth.context import AuthContext
from services.auth.schemas import RefreshRequest
from services.auth.security import Passwords
from services.auth.state import TokenStateStore
from tests.gateway.helpers import token_claims

# Long enough for the revocation to reach the lock it waits on. A shorter wait lets the test
# pass without exercising the race, but never makes it fail.
REVOCATION_START_SECONDS = 0.5


@asynccontextmanager
async def auth_context(infra) -> AsyncIterator[AuthContext]:
    """An ``AuthContext`` on the running auth service's database and buckets."""
    connection = await nats.connect(infra.nats_url)
    database = Database(infra.database_url, pool_size=3)
    settings = AuthSettings(argon2_memory_kib=8192, argon2_time_cost=1, argon2_parallelism=1)
    try:
        tokens = await TokenStateStore.open(
            connection.jetstream(), Names(infra.prefix), access_token_seconds=settings.access_token_seconds
        )
        yield AuthContext(
            db=database, settings=settings, passwords=Passwords(settings), tokens=tokens, jwt_secret=infra.jwt_secret
        )
    finally:
        await database.dispose()
        await connection.close()


async def rotate_during(infra, refresh_token: str, revocation) -> tuple[str, bool]:
    """Rotate ``refresh_token`` in a transaction held open while ``revocation(ctx)`` starts.

    Return the new refresh token and whether the revocation was still blocked when the rotation
    committed, which shows that the two overlapped.
    """
    async with auth_context(infra) as ctx:
        async with ctx.db.session() as session:
            rotated = await sessions._rotate(ctx, session, refresh_token)
            revoking = asyncio.create_task(revocation(ctx))
            await asyncio.sleep(REVOCATION_START_SECONDS)
            waited = not revoking.done()
        await asyncio.wait_for(revoking, timeout=10)

    _, tokens = rotated
    return tokens.refresh_token, waited


def refresh_status(api, refresh_token: str) -> int:
    return api.request("POST", "/refresh", json={"refreshToken": refresh_token}).status_code


def test_logout_during_refresh_revokes_new_token(api, infra):
    account = api.create_account("observer")
    principal = Principal(user_id=account.user_id, username=account.username, role="observer")
    claims = token_claims(account.token)

    async def logout(ctx: AuthContext) -> None:
        await sessions.logout(
            ctx, principal, jti=claims["jti"], expires_at=claims["exp"], session_id=claims["sid"], refresh_token=None
        )

    new_refresh_token, waited = asyncio.run(rotate_during(infra, account.refresh_token, logout))

    assert waited
    assert refresh_status(api, new_refresh_token) == 401


def test_reuse_during_refresh_revokes_new_token(api, infra):
    account = api.create_account("observer")
    rotated = api.request("POST", "/refresh", json={"refreshToken": account.refresh_token}).json()

    async def replay_used_token(ctx: AuthContext) -> None:
        with pytest.raises(Unauthorized):
            await sessions.refresh(ctx, RefreshRequest.model_validate({"refreshToken": account.refresh_token}))

    new_refresh_token, waited = asyncio.run(rotate_during(infra, rotated["refreshToken"], replay_used_token))

    assert waited
    assert refresh_status(api, new_refresh_token) == 401
