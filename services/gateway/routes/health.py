"""``GET /health``: the gateway and every backend service, checked over NATS; no token needed.

Each service gets a request on ``hfd.<service>.health``, which also checks its database. A
service without that endpoint is pinged on ``$SRV.PING``. The response is always 200, so that
it can be read while some services are down. ``status`` is ``ok`` only when every service
replied healthy, and ``services`` gives each one's state.
"""

import asyncio
import time
from typing import Literal

from fastapi import APIRouter, Request
from nats.aio.client import Client
from nats.errors import NoRespondersError
from pydantic import BaseModel, ValidationError

from libs.common.names import Names
from libs.common.rpc import RpcReply, RpcRequest
from services.gateway.config import API_PREFIX

router = APIRouter(prefix=API_PREFIX, tags=["health"])


class ServiceHealth(BaseModel):
    status: Literal["ok", "degraded", "down"]
    database: str | None = None
    latency_ms: float | None = None


class HealthResponse(BaseModel):
    status: Literal["ok", "degraded"]
    database: str
    services: dict[str, ServiceHealth]


@router.get("/health", response_model=HealthResponse)
async def health(request: Request) -> HealthResponse:
    """Report the state of every backend service and of their databases."""
    checker: HealthChecker = request.app.state.health
    return await checker.report()


class HealthChecker:
    """Pings the services concurrently and reuses the result for ``cache_seconds``."""

    def __init__(self, nc: Client, names: Names, services: list[str], *, timeout: float, cache_seconds: float) -> None:
        self.nc = nc
        self.names = names
        self.services = services
        self.timeout = timeout
        self.cache_seconds = cache_seconds
        self._cached: tuple[float, HealthResponse] | None = None
        self._lock = asyncio.Lock()

    async def report(self) -> HealthResponse:
        async with self._lock:  # concurrent callers share one round of pings
            now = time.monotonic()
            if self._cached is not None and now - self._cached[0] < self.cache_seconds:
                return self._cached[1]
            results = await asyncio.gather(*(self._check(service) for service in self.services))
            report = summarise(dict(zip(self.services, results, strict=True)))
            self._cached = (time.monotonic(), report)
            return report

    async def _check(self, service: str) -> ServiceHealth:
        started = time.perf_counter()
        try:
            message = await self.nc.request(
                self.names.rpc(service, "health"), RpcRequest().model_dump_json().encode(), timeout=self.timeout
            )
        except NoRespondersError:
            return await self._ping(service, started)
        except Exception:  # timeout, closed or reconnecting connection: the service cannot be reached
            return ServiceHealth(status="down")

        latency = _elapsed_ms(started)
        try:
            body = RpcReply.model_validate_json(message.data).body or {}
        except ValidationError:
            return ServiceHealth(status="degraded", latency_ms=latency)
        database = body.get("database") if isinstance(body, dict) else None
        status = "ok" if database in (None, "connected") else "degraded"
        return ServiceHealth(status=status, database=database, latency_ms=latency)

    async def _ping(self, service: str, started: float) -> ServiceHealth:
        try:
            await self.nc.request(f"$SRV.PING.{self.names.service(service)}", b"", timeout=self.timeout)
        except Exception:  # no responder, timeout or connection loss all mean the service is down
            return ServiceHealth(status="down")
        return ServiceHealth(status="ok", latency_ms=_elapsed_ms(started))


def summarise(services: dict[str, ServiceHealth]) -> HealthResponse:
    """Combine per-service states into the report.

    ``database`` is ``connected`` when every service that reported a database reported it
    connected, the first failure otherwise, and a ``disconnected`` note when none reported.
    """
    status = "ok" if all(item.status == "ok" for item in services.values()) else "degraded"
    reported = {name: item.database for name, item in services.items() if item.database is not None}
    failing = [f"{value} ({name})" for name, value in reported.items() if value != "connected"]
    if failing:
        database = failing[0]
    elif reported:
        database = "connected"
    else:
        database = "disconnected: no service reported its database"
    return HealthResponse(status=status, database=database, services=services)


def _elapsed_ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)
