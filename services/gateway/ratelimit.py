"""Sliding-window limits on logins (per username and per client address) and registrations.

Failed logins count per username and client address, so an attacker who guesses at an
account from one address locks out only that address, not the account's owner. A higher
limit per username across all addresses still stops a guessing run spread over many
addresses; since each address adds at most its own pair limit to it, reaching it takes many
addresses.

The windows live in the JetStream key-value bucket ``gateway_limits``
(``services.gateway.slidingwindows``), so every gateway replica and uvicorn worker counts
against the same limits, and the counts survive a gateway restart. Every replica must run with the same
limit settings. A key is ``<kind>.<sha256 hex>`` of the normalised username, the client
address or both, so no user input reaches a NATS subject.

A login counts as a failure (of its username and of its username and address pair) before
the gateway forwards it to the auth service, and its outcome settles that: a wrong password
keeps it, a success clears the pair's failures and takes back the username's, and any other
outcome takes back both. So concurrent guesses cannot all pass a window with one failure left.

While the bucket cannot be read or written, login and registration return 503
``service_unavailable`` naming auth: both go to the auth service over the same NATS
connection, so they would fail anyway, and no attempt passes unchecked. A failed write after
the auth service replied is only logged, because the login has already happened.

Cost per login, in sequential round trips to NATS: one read of three keys in parallel, one
compare-and-set of the same three keys in parallel, and for a success or an error one more
write of two keys in parallel. A registration takes one read and one write. A lost
compare-and-set adds a read and a write for its key.
"""

import asyncio
import hashlib
import json
import logging
import math
import time
from collections.abc import Awaitable
from dataclasses import dataclass

from nats.aio.client import Client

from libs.common.names import Names
from services.gateway.config import GatewaySettings
from services.gateway.errors import GatewayError, service_unavailable
from services.gateway.slidingwindows import (
    Reservation,
    Snapshot,
    StoreUnavailable,
    Window,
    WindowContended,
    WindowFull,
    WindowStore,
    retry_after,
)

logger = logging.getLogger(__name__)

BUCKET = "gateway_limits"
# The service named in the 503 while the bucket is unreachable: logins and registrations go there next.
LIMITED_SERVICE = "auth"
# Retry-After of a 429 when writes to one key kept losing to concurrent writes.
CONTENDED_RETRY_SECONDS = 1.0
LOGIN_SUCCEEDED = 200
LOGIN_REJECTED = 401


class TooManyAttempts(GatewayError):
    """429 with ``Retry-After`` in whole seconds."""

    def __init__(self, retry_after: float) -> None:
        seconds = max(1, math.ceil(retry_after))
        super().__init__(
            "too_many_attempts", status_code=429, values={"seconds": seconds}, headers={"Retry-After": str(seconds)}
        )


@dataclass(frozen=True)
class LoginAttempt:
    """A login that passed the limits, with the failures counted for it in advance."""

    pair_failure: Reservation
    username_failure: Reservation


class LoginLimiter:
    """Failed logins per username and address and per username, logins per address, registrations per address."""

    def __init__(self, store: WindowStore, settings: GatewaySettings) -> None:
        self.store = store
        username_window = settings.login_username_window_seconds
        self.failures_by_pair = Window("login_failures_pair", settings.login_failures_per_username, username_window)
        self.failures_by_username = Window(
            "login_failures_user", settings.login_failures_per_username_total, username_window
        )
        self.logins_by_address = Window(
            "login_attempts_addr", settings.login_attempts_per_address, settings.login_address_window_seconds
        )
        self.registrations_by_address = Window(
            "registrations_addr", settings.registrations_per_address, settings.registration_window_seconds
        )

    @classmethod
    async def open(cls, nc: Client, names: Names, settings: GatewaySettings) -> "LoginLimiter":
        """Open the shared bucket, with a TTL of the longest window, and return a limiter on it."""
        ttl = max(
            settings.login_username_window_seconds,
            settings.login_address_window_seconds,
            settings.registration_window_seconds,
        )
        store = await WindowStore.open(nc, names.bucket(BUCKET), ttl, settings.rate_limit_timeout_seconds)
        return cls(store, settings)

    async def check_login(self, username: str, address: str) -> LoginAttempt:
        """Count the attempt and, in advance, its failure, or raise ``TooManyAttempts`` when a window is full.

        Pass the returned attempt to ``finish_login`` with the auth service's reply status.
        """
        now = _now_ms()
        user = _normalise_username(username)
        targets = [
            (self.failures_by_pair, key_for(self.failures_by_pair, user, address)),
            (self.failures_by_username, key_for(self.failures_by_username, user)),
            (self.logins_by_address, key_for(self.logins_by_address, address)),
        ]
        pair_failure, username_failure, _ = await self._add_all(targets, now)
        return LoginAttempt(pair_failure, username_failure)

    async def finish_login(self, attempt: LoginAttempt, status: int | None) -> None:
        """Settle the failure counted for ``attempt`` by the auth reply's ``status``, None when no reply came.

        A wrong password (401) keeps it. A success clears the pair's failures and removes the
        username's, and any other outcome removes both. An unreachable bucket is logged, not raised.
        """
        if status == LOGIN_REJECTED:
            return
        now = _now_ms()
        operations: list[Awaitable[None]] = [self.store.remove(attempt.username_failure, now)]
        if status == LOGIN_SUCCEEDED:
            operations.append(self.store.clear(self.failures_by_pair, attempt.pair_failure.key))
        else:
            operations.append(self.store.remove(attempt.pair_failure, now))
        for error in await _errors_of(operations):
            if not isinstance(error, StoreUnavailable):
                raise error
            logger.warning("login failure count not settled status=%s error=%s", status, error)

    async def check_registration(self, address: str) -> None:
        """Count a registration from ``address``, or raise ``TooManyAttempts`` when its window is full."""
        window = self.registrations_by_address
        await self._add_all([(window, key_for(window, address))], _now_ms())

    async def _add_all(self, targets: list[tuple[Window, str]], now: int) -> list[Reservation]:
        """Add an event to every target window, or to none of them.

        Reads every key first, so that a full window rejects the request without a write. When
        a write finds its window full after a concurrent write, the events already added are
        removed again.
        """
        snapshots = await self._read_all(targets)
        wait = max(retry_after(window, snapshot, now) for (window, _), snapshot in zip(targets, snapshots, strict=True))
        if wait > 0:
            raise TooManyAttempts(wait)

        results = await asyncio.gather(
            *(
                self.store.add(window, key, now, snapshot)
                for (window, key), snapshot in zip(targets, snapshots, strict=True)
            ),
            return_exceptions=True,
        )
        added = [result for result in results if isinstance(result, Reservation)]
        errors = [result for result in results if isinstance(result, BaseException)]
        if not errors:
            return added
        for error in await _errors_of([self.store.remove(reservation, now) for reservation in added]):
            logger.warning("rate limit event not taken back error=%s", error)
        raise _client_error(errors)

    async def _read_all(self, targets: list[tuple[Window, str]]) -> list[Snapshot]:
        try:
            return list(await asyncio.gather(*(self.store.read(window, key) for window, key in targets)))
        except StoreUnavailable as error:
            logger.warning("rate limit bucket unavailable error=%s", error)
            raise service_unavailable(LIMITED_SERVICE) from error


def key_for(window: Window, *parts: str) -> str:
    """Return the bucket key of ``parts`` in ``window``: the kind, a dot and a SHA-256 hex digest.

    The parts are hashed as a JSON list, so no two different lists share a key, and lone
    surrogates (which JSON escapes accept) are hashed rather than rejected.
    """
    encoded = json.dumps(list(parts), ensure_ascii=True).encode("ascii")
    return f"{window.kind}.{hashlib.sha256(encoded).hexdigest()}"


def _client_error(errors: list[BaseException]) -> Exception:
    """Return the HTTP error for failed additions: 503 when the bucket failed, else 429."""
    for error in errors:
        if isinstance(error, StoreUnavailable):
            logger.warning("rate limit bucket unavailable error=%s", error)
            return service_unavailable(LIMITED_SERVICE)
    waits = []
    for error in errors:
        if isinstance(error, WindowFull):
            waits.append(error.retry_after)
        elif isinstance(error, WindowContended):
            waits.append(CONTENDED_RETRY_SECONDS)
        else:
            raise error
    return TooManyAttempts(max(waits))


async def _errors_of(operations: list[Awaitable[None]]) -> list[BaseException]:
    results = await asyncio.gather(*operations, return_exceptions=True)
    return [result for result in results if isinstance(result, BaseException)]


def _normalise_username(username: str) -> str:
    return username.strip().lower()[:256]


def _now_ms() -> int:
    return time.time_ns() // 1_000_000
