"""The shared state of the auth flows: database, settings, password hasher, token state and signing key."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from libs.common.db import Database
from services.auth.config import AuthSettings
from services.auth.security import Passwords
from services.auth.state import TokenStateStore


@dataclass
class AuthContext:
    db: Database
    settings: AuthSettings
    passwords: Passwords
    tokens: TokenStateStore
    jwt_secret: str
    _reads: async_sessionmaker = field(init=False, repr=False)

    def __post_init__(self) -> None:
        # Autocommit sends each statement on its own, without BEGIN and COMMIT round trips.
        engine = self.db.engine.execution_options(isolation_level="AUTOCOMMIT")
        self._reads = async_sessionmaker(engine, expire_on_commit=False)

    @asynccontextmanager
    async def read_session(self) -> AsyncIterator[AsyncSession]:
        """Yield a session for reads that need no transaction (each statement sees committed data)."""
        async with self._reads() as session:
            yield session
