"""An HTTP client of the two gateways, and the registration of the demo cluster through it."""

import asyncio
import time
from dataclasses import dataclass

import httpx

from tests.gateway.helpers import ADMIN_PASSWORD, ADMIN_USERNAME

REQUEST_TIMEOUT_SECONDS = 10.0


@dataclass
class CallResult:
    """The first successful response of a retried call, and how long the retries took."""

    response: httpx.Response
    seconds: float
    attempts: int
    gateway: str


@dataclass
class GatewayClient:
    """Calls ``/api/v1`` on the gateways in turn until one responds, as a load balancer in front of both would.

    A killed gateway stays in the list: its connection is refused at once and the next one is tried.
    """

    base_urls: list[str]
    token: str = ""

    def __post_init__(self) -> None:
        self.client = httpx.AsyncClient(timeout=REQUEST_TIMEOUT_SECONDS)

    async def close(self) -> None:
        await self.client.aclose()

    async def login(self, base: str) -> httpx.Response:
        """Log the bootstrap admin in on the gateway at ``base``; keep the token when it succeeds."""
        body = {"username": ADMIN_USERNAME, "password": ADMIN_PASSWORD}
        response = await self.client.post(f"{base}/api/v1/user/login", json=body)
        if response.status_code == 200:
            self.token = response.json()["token"]
        return response

    async def request(self, base: str, method: str, path: str, **kwargs) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.token}", "Accept-Language": "en"}
        return await self.client.request(method, f"{base}/api/v1{path}", headers=headers, **kwargs)

    async def call_until_ok(self, method: str, path: str, timeout: float = 60.0, **kwargs) -> CallResult:
        """Retry a call on every gateway until one returns 2xx; raise with the last reply on timeout.

        ``POST /user/login`` logs the bootstrap admin in and keeps the new token.
        """
        started = time.monotonic()
        attempts = 0
        last = "no attempt"
        while True:
            for base in self.base_urls:
                attempts += 1
                try:
                    if path == "/user/login":
                        response = await self.login(base)
                    else:
                        response = await self.request(base, method, path, **kwargs)
                except httpx.HTTPError as error:
                    last = f"{base}: {type(error).__name__}: {error}"
                    continue
                if response.is_success:
                    return CallResult(response, time.monotonic() - started, attempts, base)
                last = f"{base}: {response.status_code} {response.text[:300]}"
            if time.monotonic() - started > timeout:
                raise TimeoutError(f"{method} {path} failed for {timeout:.0f}s; last reply: {last}")
            await asyncio.sleep(0.2)


async def register_demo_cluster(api: GatewayClient, manifest, name: str) -> str:
    """Register the demo cluster and its nodes with the ``suggest`` repair policy; return its uuid."""
    key_text = manifest.nodes[0].private_key_path.read_text(encoding="utf-8")
    nodes = [
        {
            "hostname": node.name,
            "ip_address": node.address,
            "ssh_user": node.ssh_user,
            "ssh_port": node.port,
            "ssh_private_key": key_text,
            "log_dirs": [str(path) for path in node.log_dirs],
            "roles": list(node.roles),
            "known_host_key": node.known_hosts_line,
        }
        for node in manifest.nodes
    ]
    body = {"name": name, "type": "hadoop", "repair_policy": "suggest", "nodes": nodes}
    result = await api.call_until_ok("POST", "/clusters", json=body, timeout=30)
    return result.response.json()["uuid"]


@dataclass
class ApiMonitor:
    """Calls ``GET /clusters`` every ``interval`` seconds through the gateways and keeps the outcomes.

    Each call tries the gateways in turn once, as a load balancer would, and does not retry.
    The maximum time between two successful calls is the longest outage a client observed.
    """

    api: GatewayClient
    interval: float = 0.5
    calls: int = 0
    failures: int = 0
    longest_outage: float = 0.0
    last_failure: str = ""

    async def run(self, stopping: asyncio.Event) -> None:
        last_success = time.monotonic()
        while not stopping.is_set():
            self.calls += 1
            if await self._call_once():
                now = time.monotonic()
                self.longest_outage = max(self.longest_outage, now - last_success)
                last_success = now
            else:
                self.failures += 1
            try:
                await asyncio.wait_for(stopping.wait(), self.interval)
            except TimeoutError:
                pass

    async def _call_once(self) -> bool:
        """Try each gateway once; on failure keep every gateway's reply in ``last_failure``."""
        replies = []
        for base in self.api.base_urls:
            try:
                response = await self.api.request(base, "GET", "/clusters")
            except httpx.HTTPError as error:
                replies.append(f"{base}: {type(error).__name__}")
                continue
            if response.is_success:
                return True
            replies.append(f"{base}: {response.status_code} {response.text[:200]}")
        self.last_failure = "; ".join(replies)
        return False

    def summary(self) -> dict:
        return {
            "calls": self.calls,
            "failures": self.failures,
            "longest_outage_s": round(self.longest_outage, 2),
            "last_failure": self.last_failure,
        }
