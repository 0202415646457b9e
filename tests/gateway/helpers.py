"""HTTP helpers for tests that drive the real gateway, auth service, NATS and PostgreSQL."""

import asyncio
import base64
import json
import secrets
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx
import jwt

ADMIN_USERNAME = "root"
ADMIN_PASSWORD = "Bootstrap9Admin"
STRONG_PASSWORD = "Correct7Horse"

# The stack for API tests sets the first admin and cheaper argon2id parameters, which take the
# same code path with less CPU. Its login limits are high, so that the many logins from
# 127.0.0.1 never reach them; test_rate_limit checks the defaults on a second gateway.
STACK_ENV = {
    "HFD_BOOTSTRAP_ADMIN": f"{ADMIN_USERNAME}:{ADMIN_PASSWORD}",
    "HFD_AUTH_ARGON2_MEMORY_KIB": "8192",
    "HFD_AUTH_ARGON2_TIME_COST": "1",
    "HFD_AUTH_ARGON2_PARALLELISM": "1",
    "HFD_GATEWAY_LOGIN_ATTEMPTS_PER_ADDRESS": "100000",
    "HFD_GATEWAY_REGISTRATIONS_PER_ADDRESS": "100000",
}


def unique_name(prefix: str = "u") -> str:
    return f"{prefix}_{secrets.token_hex(5)}"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@dataclass
class Account:
    username: str
    password: str
    token: str
    refresh_token: str
    user_id: int

    @property
    def headers(self) -> dict[str, str]:
        return bearer(self.token)


class Api:
    """A client of ``/api/v1`` on one gateway, with shortcuts for accounts."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.client = httpx.Client(base_url=f"{base_url}/api/v1", timeout=15)
        self._admin: Account | None = None

    def close(self) -> None:
        self.client.close()

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return self.client.request(method, path, **kwargs)

    def login(self, username: str, password: str, **kwargs: Any) -> httpx.Response:
        return self.client.post("/user/login", json={"username": username, "password": password}, **kwargs)

    def login_account(self, username: str, password: str) -> Account:
        response = self.login(username, password)
        assert response.status_code == 200, response.text
        body = response.json()
        return Account(username, password, body["token"], body["refreshToken"], body["user"]["id"])

    def admin(self) -> Account:
        """The bootstrap admin, logged in once per test module."""
        if self._admin is None:
            self._admin = self.login_account(ADMIN_USERNAME, ADMIN_PASSWORD)
        return self._admin

    def create_account(self, role: str, *, password: str = STRONG_PASSWORD, status: str = "enabled") -> Account:
        """Create an account of ``role`` through the admin API and log it in."""
        username = unique_name(role[:3])
        body = {
            "username": username,
            "email": f"{username}@example.com",
            "role": role,
            "status": status,
            "password": password,
            "fullName": f"Test {role}",
        }
        response = self.client.post("/users", json=body, headers=self.admin().headers)
        assert response.status_code == 200, response.text
        return self.login_account(username, password)


def wait_for(predicate: Callable[[], Any], timeout: float = 10.0, interval: float = 0.1) -> Any:
    """Call ``predicate`` until it returns a true value and return that; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(interval)


def token_claims(token: str) -> dict:
    """Read a token's claims without checking the signature (to build altered copies)."""
    return jwt.decode(token, options={"verify_signature": False})


def sign(claims: dict, secret: str) -> str:
    return jwt.encode(claims, secret, algorithm="HS256")


def unsigned_token(claims: dict) -> str:
    """Build a token with ``alg: none`` and an empty signature."""

    def encode(part: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(part).encode()).rstrip(b"=").decode()

    return f"{encode({'alg': 'none', 'typ': 'JWT'})}.{encode(claims)}."


@contextmanager
def private_database(infra, suffix: str) -> Iterator[str]:
    """Create a database beside the session's for one test or module, yield its URL, then drop it."""
    name = f"{infra.database_name}_{suffix}"
    asyncio.run(_execute(infra.admin_database_url, f'CREATE DATABASE "{name}"'))
    try:
        yield infra.database_url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        asyncio.run(_execute(infra.admin_database_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def _execute(url: str, statement: str) -> None:
    connection = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await connection.execute(statement)
    finally:
        await connection.close()
