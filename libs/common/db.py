"""SQLAlchemy 2 async engines and sessions on asyncpg, and per-service schema migrations."""

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
from sqlalchemy import MetaData, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase

logger = logging.getLogger(__name__)

# Errors of a server that is down, restarting or dropped the connection. SQLAlchemy passes
# a refused connection on as the socket's ConnectionRefusedError, not wrapped.
CONNECTION_ERRORS = (
    ConnectionError,
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.ConnectionDoesNotExistError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
)


def database_unavailable(error: BaseException) -> bool:
    """Tell whether ``error`` (or an error it wraps) means the database cannot be reached right now."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, DBAPIError) and current.connection_invalidated:
            return True
        if isinstance(current, CONNECTION_ERRORS):
            return True
        current = getattr(current, "orig", None) or current.__cause__ or current.__context__
    return False


def schema_base(schema: str) -> type[DeclarativeBase]:
    """Return a declarative base whose tables live in the service's own PostgreSQL schema."""

    class Base(DeclarativeBase):
        metadata = MetaData(schema=schema)

    return Base


class Database:
    """One service's engine and session factory."""

    def __init__(self, url: str, *, pool_size: int = 10) -> None:
        self.url = url
        self.engine: AsyncEngine = create_async_engine(url, pool_size=pool_size, pool_pre_ping=True)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """Yield a session inside a transaction that commits on success and rolls back on error."""
        async with self.sessions() as session, session.begin():
            yield session

    async def ping(self) -> str:
        """Return ``connected`` or ``disconnected: <reason>`` as the health endpoint reports it."""
        try:
            async with self.engine.connect() as connection:
                await asyncio.wait_for(connection.execute(text("SELECT 1")), timeout=3)
            return "connected"
        except Exception as error:  # the health report carries the reason instead of failing
            logger.warning("database ping failed error=%s", type(error).__name__)
            return f"disconnected: {type(error).__name__}"

    async def dispose(self) -> None:
        await self.engine.dispose()


async def migrate(database_url: str, schema: str, migrations_dir: Path) -> None:
    """Upgrade the service's schema to the newest Alembic revision.

    Replicas starting together serialise on a PostgreSQL advisory lock, so each revision runs once.
    """
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(migrations_dir))
    config.attributes["database_url"] = database_url
    config.attributes["schema"] = schema
    logger.info("migrating schema=%s", schema)
    await asyncio.to_thread(command.upgrade, config, "head")
    logger.info("migrated schema=%s", schema)
