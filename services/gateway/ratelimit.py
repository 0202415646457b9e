"""Sliding-window limits on logins (per username and per client address) and registrations.

Failed logins count per username and client address, so an attacker who guesses at an
account from one address locks out only that address, not the account's owner. A higher
limit per username across all addresses still stops a guessing run spread over many
addresses; since each address adds at most its own pair limit to it, reaching it takes many
addresses.

Counts live in this gateway process, so each replica limits on its own: with N replicas
behind a balancer an attacker gets up to N times the attempts. The limits still stop a
brute-force run against one replica and keep argon2 hashing from being used to load the
auth service.
"""

import math
import time
from collections import OrderedDict, deque

from services.gateway.config import GatewaySettings
from services.gateway.errors import GatewayError


class TooManyAttempts(GatewayError):
    """429 with ``Retry-After`` in whole seconds."""

    def __init__(self, retry_after: float) -> None:
        seconds = max(1, math.ceil(retry_after))
        super().__init__(
            "too_many_attempts", status_code=429, values={"seconds": seconds}, headers={"Retry-After": str(seconds)}
        )


class SlidingWindow:
    """At most ``limit`` events per key in any ``window_seconds``; the least recently used keys are dropped first."""

    def __init__(self, limit: int, window_seconds: float, max_keys: int) -> None:
        self.limit = limit
        self.window = window_seconds
        self.max_keys = max_keys
        self._events: OrderedDict[str, deque[float]] = OrderedDict()

    def retry_after(self, key: str, now: float) -> float:
        """Return seconds until ``key`` may have another event, 0 when it may now."""
        events = self._prune(key, now)
        if events is None or len(events) < self.limit:
            return 0.0
        return events[0] + self.window - now

    def add(self, key: str, now: float) -> None:
        events = self._prune(key, now)
        if events is None:
            events = self._events[key] = deque()
            if len(self._events) > self.max_keys:
                self._events.popitem(last=False)
        events.append(now)
        self._events.move_to_end(key)

    def clear(self, key: str) -> None:
        self._events.pop(key, None)

    def _prune(self, key: str, now: float) -> deque[float] | None:
        events = self._events.get(key)
        if events is None:
            return None
        while events and events[0] <= now - self.window:
            events.popleft()
        return events


class LoginLimiter:
    """Failed logins per username and address and per username, logins per address, registrations per address."""

    def __init__(self, settings: GatewaySettings) -> None:
        keys = settings.rate_limit_max_keys
        window = settings.login_username_window_seconds
        self.failures_by_pair = SlidingWindow(settings.login_failures_per_username, window, keys)
        self.failures_by_username = SlidingWindow(settings.login_failures_per_username_total, window, keys)
        self.logins_by_address = SlidingWindow(
            settings.login_attempts_per_address, settings.login_address_window_seconds, keys
        )
        self.registrations_by_address = SlidingWindow(
            settings.registrations_per_address, settings.registration_window_seconds, keys
        )

    def check_login(self, username: str, address: str) -> None:
        """Raise ``TooManyAttempts`` when a window is full; otherwise count this attempt for ``address``."""
        now = time.monotonic()
        user = _username_key(username)
        wait = max(
            self.failures_by_pair.retry_after(_pair_key(user, address), now),
            self.failures_by_username.retry_after(user, now),
            self.logins_by_address.retry_after(address, now),
        )
        if wait > 0:
            raise TooManyAttempts(wait)
        self.logins_by_address.add(address, now)

    def record_login(self, username: str, address: str, succeeded: bool) -> None:
        """Count a failed login against ``username`` from ``address``; a success clears that pair's failures."""
        user = _username_key(username)
        if succeeded:
            self.failures_by_pair.clear(_pair_key(user, address))
            return
        now = time.monotonic()
        self.failures_by_pair.add(_pair_key(user, address), now)
        self.failures_by_username.add(user, now)

    def check_registration(self, address: str) -> None:
        now = time.monotonic()
        wait = self.registrations_by_address.retry_after(address, now)
        if wait > 0:
            raise TooManyAttempts(wait)
        self.registrations_by_address.add(address, now)


def _username_key(username: str) -> str:
    return username.strip().lower()[:256]


def _pair_key(username_key: str, address: str) -> str:
    return f"{username_key}\x00{address}"
