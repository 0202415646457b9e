"""The shared state of the auth flows: database, settings, password hasher, token state and signing key."""

from dataclasses import dataclass

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
