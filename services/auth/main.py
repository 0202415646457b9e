"""The auth service: accounts, tokens and the audit trail.

``hfd serve auth`` runs ``start`` inside ``libs.common.service.run_service``: it migrates the
``auth`` schema, creates the first admin when ``HFD_BOOTSTRAP_ADMIN`` is set and no admin
exists, publishes every user's token state, registers the endpoints and starts the audit
consumer.
"""

import asyncio
import contextlib
import logging
from datetime import timedelta
from pathlib import Path

from libs.common.bus import retry_while_unavailable
from libs.common.service import ServiceContext
from libs.common.timeutil import utcnow
from services.auth import service
from services.auth.accounts import bootstrap_admin
from services.auth.audit import consume_audit_events
from services.auth.config import get_auth_settings
from services.auth.context import AuthContext
from services.auth.handlers import AuthHandlers
from services.auth.models import SCHEMA
from services.auth.security import Passwords
from services.auth.state import TokenStateStore

logger = logging.getLogger(__name__)

USES_DATABASE = True
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
CLEANUP_INTERVAL_SECONDS = 3600


async def start(ctx: ServiceContext) -> None:
    """Prepare the schema, buckets and first admin, then register endpoints and the audit consumer."""
    settings = get_auth_settings()
    await ctx.migrate(SCHEMA, MIGRATIONS_DIR)

    tokens = await TokenStateStore.open(ctx.js, ctx.names, access_token_seconds=settings.access_token_seconds)
    auth = AuthContext(
        db=ctx.db,
        settings=settings,
        passwords=Passwords(settings),
        tokens=tokens,
        jwt_secret=ctx.common.jwt_secret,
    )

    if settings.bootstrap_admin:
        await bootstrap_admin(auth, settings.bootstrap_admin, settings.bootstrap_admin_email)
    async with auth.db.session() as session:
        users = list(await service.list_all(session))
    await retry_while_unavailable("sync of user states", lambda: tokens.sync(users))

    AuthHandlers(auth).register(ctx.rpc)
    ctx.spawn(consume_audit_events(auth, ctx.js, ctx.names, ctx.stopping), name="audit-consumer")
    ctx.spawn(_delete_expired_refresh_tokens(auth, ctx.stopping), name="refresh-token-cleanup")
    logger.info("auth service prepared users=%d", len(users))


async def _delete_expired_refresh_tokens(auth: AuthContext, stopping: asyncio.Event) -> None:
    """Delete refresh tokens a day after they expire, once an hour."""
    while not stopping.is_set():
        try:
            async with auth.db.session() as session:
                deleted = await service.delete_expired_refresh_tokens(session, before=utcnow() - timedelta(days=1))
            if deleted:
                logger.info("expired refresh tokens deleted count=%d", deleted)
        except Exception:
            logger.exception("refresh token cleanup failed; retrying in %ds", CLEANUP_INTERVAL_SECONDS)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), timeout=CLEANUP_INTERVAL_SECONDS)
